import { Profiler, memo, useState } from "react";
import { countCommit } from "./commits";

export type Status = "idle" | "streaming" | "reconnecting" | "done" | "error";

export function StatusPill({ status }: { status: Status }) {
  return (
    <span className={`pill pill-${status}`} aria-live="polite">
      <span className="pill-dot" aria-hidden="true" />
      <span data-testid="status">{status}</span>
    </span>
  );
}

/**
 * The streamed text. Memoised on `text` so it commits only when the text changes; the Profiler
 * sits inside the memo so a parent re-render that bails out here is not counted as a commit.
 */
export const AgentText = memo(function AgentText({ text, isStreaming }: { text: string; isStreaming: boolean }) {
  return (
    <Profiler id="agent-text" onRender={countCommit}>
      <p className={`answer${text === "" && !isStreaming ? " empty" : ""}`}>
        <span data-testid="agent-text">{text}</span>
        {isStreaming ? <span className="cursor" aria-hidden="true" /> : null}
      </p>
    </Profiler>
  );
});

export function ThinkingPanel({ thinking, isStreaming }: { thinking: string; isStreaming: boolean }) {
  const [open, setOpen] = useState(false);
  if (thinking === "") return null;
  return (
    <section className={`thinking ${open ? "open" : ""}`}>
      <button
        type="button"
        className="thinking-toggle"
        aria-expanded={open}
        data-testid="thinking-toggle"
        onClick={() => setOpen((value) => !value)}
      >
        <span className="chevron" aria-hidden="true" />
        {isStreaming ? "Thinking…" : "Thought process"}
        <span className="muted"> · {thinking.length.toLocaleString()} chars</span>
      </button>
      {open ? (
        <pre className="thinking-body" data-testid="thinking">
          {thinking}
        </pre>
      ) : null}
    </section>
  );
}

export interface ToolView {
  id: string;
  name: string;
  status: "running" | "done" | "error";
  inputSummary: string;
  outputSummary: string;
  durationMs: number;
}

function ToolBadge({ tool }: { tool: ToolView }) {
  const title = [tool.inputSummary, tool.outputSummary].filter(Boolean).join(" → ");
  return (
    <span className={`tool tool-${tool.status}`} title={title} data-tool-status={tool.status}>
      {tool.status === "running" ? (
        <span className="spinner" aria-label="running" />
      ) : (
        <span className="tool-icon" aria-hidden="true">
          {tool.status === "done" ? "✓" : "✕"}
        </span>
      )}
      <span className="tool-name">{tool.name}</span>
      {tool.status === "running" ? (
        tool.inputSummary ? <span className="tool-meta">{tool.inputSummary}</span> : null
      ) : (
        <span className="tool-meta">{formatDuration(tool.durationMs)}</span>
      )}
    </span>
  );
}

export function ToolBadges({ tools }: { tools: readonly ToolView[] }) {
  const finished = tools.filter((tool) => tool.status !== "running");
  const running = tools.filter((tool) => tool.status === "running");
  if (tools.length === 0) return <div data-testid="active-tools" hidden />;
  return (
    <div className="tools" aria-label="Tool calls">
      <div className="contents" data-testid="tool-history">
        {finished.map((tool) => (
          <ToolBadge key={tool.id} tool={tool} />
        ))}
      </div>
      <div className="contents" data-testid="active-tools">
        {running.map((tool) => (
          <ToolBadge key={tool.id} tool={tool} />
        ))}
      </div>
    </div>
  );
}

export interface ProgressView {
  percentage: number;
  message: string;
  step: string;
}

export function ProgressBar({ progress, status }: { progress: ProgressView | null; status: Status }) {
  if (progress === null) return null;
  const percentage = Math.max(0, Math.min(100, progress.percentage));
  return (
    <div className="progress" data-testid="progress">
      <div className="progress-label">
        <span>{progress.message || progress.step}</span>
        <span className="muted">{Math.round(percentage)}%</span>
      </div>
      <div
        className={`progress-track ${status === "error" ? "failed" : ""}`}
        role="progressbar"
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={Math.round(percentage)}
      >
        <div className="progress-fill" style={{ width: `${percentage}%` }} />
      </div>
    </div>
  );
}

export function ErrorBanner({ title, message, onDismiss }: { title: string; message: string; onDismiss?: () => void }) {
  return (
    <div className="banner banner-error" role="alert" data-testid="error-banner">
      <span className="banner-icon" aria-hidden="true">!</span>
      <div>
        <strong>{title}</strong>
        <div className="banner-message">{message}</div>
      </div>
      {onDismiss ? (
        <button type="button" className="link" onClick={onDismiss}>
          Dismiss
        </button>
      ) : null}
    </div>
  );
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
}
