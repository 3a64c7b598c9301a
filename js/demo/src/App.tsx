import { channelLocks, shareAcrossTabs, type TabRole } from "@agent-stream/client/tabs";
import { useEffect, useMemo, useRef, useState } from "react";
import { agentLabel, useAgentInfo } from "./agent-info";
import { AgentText, ErrorBanner, ProgressBar, StatusPill, ThinkingPanel, ToolBadges } from "./components";
import { Controls } from "./Controls";
import { Inspector } from "./inspector/Inspector";
import { RunLog } from "./inspector/run-log";
import { createDroppableFetch } from "./droppable-fetch";
import { type Knobs, knobsFromQuery, requestBody, watchLink } from "./knobs";
import { Answers, QuestionCard } from "./questions";
import { useDemoAgent } from "./use-demo-agent";

export function App() {
  const initial = useMemo(() => knobsFromQuery(window.location.search), []);
  const [knobs, setKnobs] = useState<Knobs>(initial);
  const [draft, setDraft] = useState(initial.message);
  const [asked, setAsked] = useState<string | null>(null);
  const network = useMemo(() => createDroppableFetch(), []);
  // the inspector records every run whether it is open or not, so opening it mid-run shows it all
  const [runLog] = useState(() => new RunLog());
  const [inspecting, setInspecting] = useState(initial.inspect);
  // the tabs of this page showing one run share its connection; the panel shows this tab's part
  const [tabRole, setTabRole] = useState<TabRole>(null);
  const shared = useMemo(
    () =>
      shareAcrossTabs({
        fetch: network.fetch,
        onRole: (_, role) => setTabRole(role),
        ...(initial.tabLocks === "channel" ? { locks: channelLocks() } : {}),
      }),
    [network, initial.tabLocks],
  );
  const agent = useDemoAgent({
    callbacks: runLog.callbacks,
    batching: knobs.batching,
    maxRetries: knobs.maxRetries,
    authorization: knobs.authorization,
    shared,
    watch: initial.watch,
  });
  const [drops, setDrops] = useState(0);
  const agentInfo = useAgentInfo();
  useEffect(() => runLog.watch(agent.client), [runLog, agent.client]);

  const begin = (body?: Record<string, string | number | boolean>) => {
    runLog.begin();
    agent.start(body);
  };

  const send = (message: string) => {
    const text = message.trim();
    if (text === "" || agent.status === "streaming" || agent.status === "reconnecting") return;
    setAsked(text);
    const next = { ...knobs, message: text };
    setKnobs(next);
    begin(requestBody(next));
  };

  // Autostart once per page load (tests, shareable links). The ref keeps StrictMode's second
  // effect run from asking twice; the hook itself must also keep it to one run.
  const autostarted = useRef(false);
  useEffect(() => {
    if (autostarted.current) return;
    autostarted.current = true;
    if (agent.isActive()) {
      // the hook re-attached to the run this tab had before a reload: follow it, start nothing
      setAsked("(the run before the reload)");
      return;
    }
    if (!initial.autostart && initial.watch === null) return;
    if (initial.watch !== null) {
      // a watch link: follow the run from its first event (GET, no body)
      setAsked("(watching a run)");
      begin();
      return;
    }
    setAsked(initial.message);
    begin(requestBody(initial));
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  const busy = agent.status === "streaming" || agent.status === "reconnecting";

  return (
    <div className="app">
      <header className="topbar">
        <div className="brand">
          <span className="logo" aria-hidden="true" />
          <span className="brand-name">agent-stream</span>
          <span className="brand-tag">demo</span>
          {agentInfo !== null && (
            <span
              className={`agent-mode agent-mode-${agentInfo.agent}`}
              data-testid="agent-mode"
              title={agentInfo.agent === "scripted" ? "Set ANTHROPIC_API_KEY or OPENAI_API_KEY before agent-stream demo to run a real model" : "A real model with a clock and a calculator tool"}
            >
              {agentLabel(agentInfo)}
            </span>
          )}
        </div>
        <div className="topbar-end">
          <button
            type="button"
            className={`button button-toggle${inspecting ? " on" : ""}`}
            data-testid="inspector-toggle"
            aria-pressed={inspecting}
            onClick={() => setInspecting((open) => !open)}
          >
            Inspector
          </button>
          <StatusPill status={agent.status} />
        </div>
      </header>

      <main className={`layout${inspecting ? " inspecting" : ""}`}>
        <section className="chat" aria-label="Conversation">
          <div className="transcript">
            {asked === null ? (
              <div className="empty">
                <h1>Watch an agent think, call tools and write — live.</h1>
                <p>
                  Every event is a typed Server-Sent Event with an id. Break the run, drop the network or slow it
                  down with the controls on the right: the stream resumes where it left off and always ends.
                </p>
              </div>
            ) : (
              <>
                <div className="bubble bubble-user" data-testid="user-message">
                  {asked}
                </div>
                <article className="bubble bubble-agent" aria-busy={busy}>
                  <div className="agent-head">
                    <span className="avatar" aria-hidden="true" />
                    <span className="agent-name">{agentInfo?.agent === "model" ? agentInfo.model : "Scripted agent"}</span>
                    {agent.turn > 0 ? <span className="muted">turn {agent.turn}</span> : null}
                  </div>
                  <ThinkingPanel thinking={agent.thinking} isStreaming={busy && agent.text === ""} />
                  <ToolBadges tools={agent.tools} />
                  <ProgressBar progress={agent.progress} status={agent.status} />
                  <Answers answers={agent.answers} />
                  {agent.inputRequired !== null && !agent.doneSummary ? (
                    <QuestionCard question={agent.inputRequired} respond={agent.respond} />
                  ) : null}
                  <AgentText text={agent.text} isStreaming={busy} />
                  {agent.error !== null ? <ErrorBanner title={agent.error.title} message={agent.error.message} /> : null}
                  {agent.doneSummary !== null ? (
                    <footer className="summary" data-testid="done-summary">
                      {agent.doneSummary}
                    </footer>
                  ) : null}
                </article>
              </>
            )}
          </div>

          <form
            className="composer"
            onSubmit={(event) => {
              event.preventDefault();
              send(draft);
            }}
          >
            <textarea
              data-testid="message-input"
              aria-label="Message"
              value={draft}
              rows={2}
              placeholder="Ask the agent something…"
              onChange={(event) => setDraft(event.target.value)}
              onKeyDown={(event) => {
                if (event.key === "Enter" && !event.shiftKey) {
                  event.preventDefault();
                  send(draft);
                }
              }}
            />
            {busy ? (
              // keyed apart: reusing one <button> would turn it into a submit mid-click and re-send
              <button key="stop" type="button" className="button button-stop" data-testid="stop" onClick={() => agent.stop()}>
                <span className="stop-square" aria-hidden="true" /> Stop
              </button>
            ) : (
              <button key="send" type="submit" className="button button-primary" data-testid="send" disabled={draft.trim() === ""}>
                Send
              </button>
            )}
          </form>
        </section>

        <Controls
          knobs={knobs}
          onChange={setKnobs}
          busy={busy}
          onDrop={() => setDrops((count) => count + network.drop())}
          stats={{
            streamId: agent.streamId,
            reconnects: agent.reconnects,
            drops,
            tabRole,
            watchLink: agent.streamId === null ? null : watchLink(agent.streamId, knobs.authorization),
          }}
        />
        {inspecting ? <Inspector runLog={runLog} /> : null}
      </main>
    </div>
  );
}
