import { useAgentStream } from "@agent-stream/react";
import { StrictMode, useState } from "react";
import { createRoot } from "react-dom/client";

function Chat() {
  const [message, setMessage] = useState("Plan a weekend in Porto");
  const { text, isStreaming, isDone, activeTools, progress, error, startStream, stop, reset } =
    useAgentStream({ url: "/api/chat" });
  const status = error ? "error" : isStreaming ? "streaming" : isDone ? "done" : "idle";

  return (
    <main style={{ maxWidth: 640, margin: "2rem auto", fontFamily: "system-ui, sans-serif" }}>
      <form
        onSubmit={(event) => {
          event.preventDefault();
          void startStream({ message, tokens: 40, tools: 2 });
        }}
      >
        <input value={message} onChange={(event) => setMessage(event.target.value)} />
        <button type="submit" data-testid="ask" disabled={isStreaming}>
          Ask
        </button>
        <button type="button" onClick={() => void stop()} disabled={!isStreaming}>
          Stop
        </button>
        <button type="button" onClick={reset}>
          Clear
        </button>
      </form>
      <p data-testid="status">{status}</p>
      {progress && <progress value={progress.percentage} max={100} />}
      <ul data-testid="active-tools">
        {activeTools.map((tool) => (
          <li key={tool.tool_use_id}>{tool.tool_name}…</li>
        ))}
      </ul>
      <p data-testid="agent-text">{text}</p>
      {error && <p role="alert">{error.message}</p>}
    </main>
  );
}

const root = document.getElementById("root");
if (root === null) throw new Error("index.html has no #root");
createRoot(root).render(
  <StrictMode>
    <Chat />
  </StrictMode>,
);
