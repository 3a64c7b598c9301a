import { useEffect, useState } from "react";
import type { Batching, Knobs } from "./knobs";

interface Stats {
  streamId: string | null;
  /** Opens this stream in another tab (same owner). */
  watchLink: string | null;
  reconnects: number;
  drops: number;
  /** This tab holds the run's connection (leader), reads another tab's (follower), or neither. */
  tabRole: "leader" | "follower" | null;
}

interface ControlsProps {
  knobs: Knobs;
  onChange: (knobs: Knobs) => void;
  busy: boolean;
  onDrop: () => void;
  stats: Stats;
}

function NumberField(props: {
  label: string;
  hint: string;
  testId: string;
  value: number;
  min: number;
  max: number;
  onChange: (value: number) => void;
}) {
  return (
    <label className="field">
      <span className="field-label">{props.label}</span>
      <input
        type="number"
        data-testid={props.testId}
        min={props.min}
        max={props.max}
        value={props.value}
        onChange={(event) => {
          const value = Number(event.target.value);
          if (Number.isFinite(value)) props.onChange(Math.max(props.min, Math.min(props.max, value)));
        }}
      />
      <span className="field-hint">{props.hint}</span>
    </label>
  );
}

/** React commits of the text component, polled so this panel never re-renders the transcript. */
function CommitCounter() {
  const [commits, setCommits] = useState(0);
  useEffect(() => {
    const timer = window.setInterval(() => setCommits(window.__agentStreamCommits.count), 250);
    return () => window.clearInterval(timer);
  }, []);
  return <dd data-testid="commit-count">{commits}</dd>;
}

export function Controls({ knobs, onChange, busy, onDrop, stats }: ControlsProps) {
  const set = <K extends keyof Knobs>(key: K, value: Knobs[K]) => onChange({ ...knobs, [key]: value });
  const tokensPerSecond = knobs.tokenDelayMs > 0 ? Math.round(1000 / knobs.tokenDelayMs) : null;

  return (
    <aside className="panel" aria-label="Scenario controls">
      <h2>Scenario</h2>
      <div className="fields">
        <NumberField
          label="Tokens"
          hint="answer tokens"
          testId="tokens"
          value={knobs.tokens}
          min={0}
          max={5000}
          onChange={(value) => set("tokens", value)}
        />
        <NumberField
          label="Tools"
          hint="tool calls"
          testId="tools"
          value={knobs.tools}
          min={0}
          max={20}
          onChange={(value) => set("tools", value)}
        />
      </div>

      <label className="field">
        <span className="field-label">
          Token delay <span className="muted">{knobs.tokenDelayMs} ms{tokensPerSecond ? ` · ${tokensPerSecond}/s` : ""}</span>
        </span>
        <input
          type="range"
          data-testid="token-delay"
          min={0}
          max={500}
          step={5}
          value={knobs.tokenDelayMs}
          onChange={(event) => set("tokenDelayMs", Number(event.target.value))}
        />
        <span className="field-hint">slow the tokens down</span>
      </label>

      <div className="field">
        <label className="toggle">
          <input
            type="checkbox"
            data-testid="fail-toggle"
            checked={knobs.failAfter !== null}
            onChange={(event) => set("failAfter", event.target.checked ? 25 : null)}
          />
          <span>Make the run fail</span>
        </label>
        {knobs.failAfter !== null ? (
          <NumberField
            label="Fail after"
            hint="events before the agent raises"
            testId="fail-after"
            value={knobs.failAfter}
            min={0}
            max={10000}
            onChange={(value) => set("failAfter", value)}
          />
        ) : null}
      </div>

      <div className="field">
        <label className="toggle">
          <input type="checkbox" data-testid="ask-toggle" checked={knobs.ask} onChange={(event) => set("ask", event.target.checked)} />
          <span>Ask me which city</span>
        </label>
        <label className="toggle">
          <input
            type="checkbox"
            data-testid="approve-toggle"
            checked={knobs.approve}
            onChange={(event) => set("approve", event.target.checked)}
          />
          <span>Ask before each tool call</span>
        </label>
      </div>

      <label className="field">
        <span className="field-label">Batching</span>
        <select
          data-testid="batching"
          value={knobs.batching}
          disabled={busy}
          onChange={(event) => set("batching", event.target.value as Batching)}
        >
          <option value="fixed">fixed · 50 ms</option>
          <option value="adaptive">adaptive</option>
          <option value="frame">per animation frame</option>
        </select>
      </label>

      <button type="button" className="button button-ghost" data-testid="drop-network" disabled={!busy} onClick={onDrop}>
        <span aria-hidden="true">⚡</span> Drop the network
      </button>
      <p className="field-hint">Cuts the live connection; the client resumes with Last-Event-ID.</p>

      <h2>Stream</h2>
      <dl className="stats">
        <dt>stream id</dt>
        <dd className="mono" data-testid="stream-id" title={stats.streamId ?? ""}>
          {stats.streamId ? `${stats.streamId.slice(0, 10)}…` : "—"}
        </dd>
        <dt>watch</dt>
        <dd>
          {stats.watchLink !== null ? (
            <a href={stats.watchLink} target="_blank" rel="noreferrer" data-testid="watch-link">
              open in a new tab
            </a>
          ) : (
            "—"
          )}
        </dd>
        <dt>reconnects</dt>
        <dd data-testid="reconnects">{stats.reconnects}</dd>
        <dt>drops</dt>
        <dd data-testid="drops">{stats.drops}</dd>
        <dt>this tab</dt>
        <dd data-testid="tab-role" title="Tabs showing one run share one connection: the leader reads it, followers get its events">
          {stats.tabRole ?? "—"}
        </dd>
        <dt>text commits</dt>
        <CommitCounter />
      </dl>
    </aside>
  );
}
