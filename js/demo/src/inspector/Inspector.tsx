/**
 * The inspector pane: the live run's timeline (as `agent-stream report` draws a recorded one) and
 * a scrolling log of every event the client received. Reads a RunLog through
 * useSyncExternalStore; the RunLog throttles its refreshes, so a token-heavy run renders the
 * pane a few times a second and never re-renders the transcript.
 */
import { memo, useEffect, useLayoutEffect, useRef, useSyncExternalStore } from "react";
import "../../../../src/agent_stream/recording/timeline.css";
import type { LogEntry, RunLog, RunTimeline } from "./run-log";
import { formatMs, TimelineSvg } from "./TimelineSvg";

/** Rows the log keeps on screen; the count above it covers every event. */
const LOG_ROWS = 200;
const TICK_MS = 250;

function Figure({ label, value, testId, className }: { label: string; value: string | number; testId?: string; className?: string }) {
  return (
    <div>
      <dt>{label}</dt>
      <dd data-testid={testId} className={className}>
        {value}
      </dd>
    </div>
  );
}

function Figures({ timeline }: { timeline: RunTimeline }) {
  const tokens = timeline.tokenTimesMs.length;
  const first = timeline.tokenTimesMs[0];
  const last = timeline.tokenTimesMs.at(-1);
  const rate = first !== undefined && last !== undefined && last - first >= 1 ? Math.round((tokens * 1000) / (last - first)) : null;
  const end = timeline.end;
  return (
    <dl className="inspector-figures">
      <Figure label="events" testId="inspector-event-count" value={timeline.received} />
      <Figure label="tool calls" testId="inspector-tool-count" value={timeline.tools.length} />
      <Figure label="tokens" value={`${tokens}${rate !== null ? ` · ${rate.toLocaleString("en")}/s` : ""}`} />
      <Figure label="first token" value={formatMs(first ?? null)} />
      <Figure label="resumes" testId="inspector-resume-count" value={timeline.resumes.length} />
      <Figure
        label="end"
        testId="inspector-end-reason"
        className={end === null ? "" : end.reason === "completed" ? "ok" : "bad"}
        value={end === null ? "—" : `${end.reason}${end.synthetic ? " (synthetic)" : ""} at ${formatMs(end.atMs)}`}
      />
    </dl>
  );
}

/** Entries never change once logged: a refresh renders the new rows only. */
const LogRow = memo(function LogRow({ entry }: { entry: LogEntry }) {
  return (
    <tr className={`log-row log-${entry.source}`} data-testid="inspector-log-row" data-type={entry.type} data-source={entry.source}>
      <td className="mono">{entry.seq ?? ""}</td>
      <td className="mono">{entry.type}</td>
      <td className="mono">{formatMs(entry.atMs)}</td>
      <td title={entry.summary}>{entry.summary}</td>
    </tr>
  );
});

function EventLog({ log }: { log: readonly LogEntry[] }) {
  const box = useRef<HTMLDivElement>(null);
  const pinned = useRef(true);
  useLayoutEffect(() => {
    // follow the newest event unless the reader scrolled up
    if (pinned.current && box.current !== null) box.current.scrollTop = box.current.scrollHeight;
  }, [log]);
  const shown = log.length > LOG_ROWS ? log.slice(-LOG_ROWS) : log;
  return (
    <div
      className="inspector-log"
      ref={box}
      data-testid="inspector-log"
      onScroll={(event) => {
        const el = event.currentTarget;
        pinned.current = el.scrollHeight - el.scrollTop - el.clientHeight < 24;
      }}
    >
      {log.length > shown.length ? <p className="muted">{log.length - shown.length} earlier entries not shown</p> : null}
      <table>
        <colgroup>
          <col className="log-seq" />
          <col className="log-type" />
          <col className="log-time" />
          <col />
        </colgroup>
        <thead>
          <tr>
            <th>seq</th>
            <th>type</th>
            <th>+time</th>
            <th>data</th>
          </tr>
        </thead>
        <tbody>
          {shown.map((entry) => (
            <LogRow key={entry.index} entry={entry} />
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function Inspector({ runLog }: { runLog: RunLog }) {
  const timeline = useSyncExternalStore(runLog.subscribe, runLog.getSnapshot, runLog.getSnapshot);
  const running = timeline.log.length > 0 && timeline.end === null;
  useEffect(() => {
    if (!running) return;
    const timer = window.setInterval(() => runLog.tick(), TICK_MS);
    return () => window.clearInterval(timer);
  }, [running, runLog]);

  return (
    <section className="inspector" aria-label="Inspector" data-testid="inspector">
      <header className="inspector-head">
        <h2>Inspector</h2>
        <span className="mono muted" title={timeline.streamId ?? ""}>
          {timeline.streamId ?? "no run yet"}
        </span>
      </header>
      <Figures timeline={timeline} />
      <TimelineSvg timeline={timeline} />
      <EventLog log={timeline.log} />
    </section>
  );
}
