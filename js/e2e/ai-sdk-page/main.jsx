// A small useChat page (the real @ai-sdk/react) against the demo's /api/ai-sdk/chat, for the e2e
// tests. The chat id lives in the URL (?chat=), so a reload resumes the same chat; the other query
// parameters are the demo's knobs, sent as useChat's extra body fields.
import { useChat } from "@ai-sdk/react";
import { DefaultChatTransport, lastAssistantMessageIsCompleteWithApprovalResponses } from "ai";
import { useMemo } from "react";
import { createRoot } from "react-dom/client";

const API = "/api/ai-sdk/chat";
const params = new URLSearchParams(location.search);
const chatId = params.get("chat") ?? crypto.randomUUID();
const owner = params.get("owner") ?? "e2e";
const knobs = {};
for (const name of ["tokens", "token_delay_ms", "tools", "fail_after", "message", "approve"]) {
  if (!params.has(name)) continue;
  const value = params.get(name);
  knobs[name] = name === "message" ? value : name === "approve" ? value === "1" : Number(value);
}

function Chat() {
  const headers = { Authorization: `Bearer ${owner}` };
  const transport = useMemo(() => new DefaultChatTransport({ api: API, headers, body: knobs }), []);
  const { messages, status, error, sendMessage, stop, addToolApprovalResponse } = useChat({
    id: chatId,
    transport,
    resume: true,
    sendAutomaticallyWhen: lastAssistantMessageIsCompleteWithApprovalResponses,
  });
  const assistant = messages.filter((m) => m.role === "assistant").at(-1);
  const text = assistant?.parts.filter((p) => p.type === "text").map((p) => p.text).join("") ?? "";
  const tools = assistant?.parts.filter((p) => p.type === "dynamic-tool") ?? [];
  const stopRun = async () => {
    await fetch(`${API}/${encodeURIComponent(chatId)}/stop`, { method: "POST", headers });
    await stop();
  };
  return (
    <main>
      <p>
        status <span data-testid="chat-status">{status}</span>
        {error ? <span data-testid="chat-error"> {error.message}</span> : null}
      </p>
      <button type="button" data-testid="send" onClick={() => sendMessage({ text: knobs.message ?? "hello" })}>
        send
      </button>
      <button type="button" data-testid="stop" onClick={stopRun}>
        stop
      </button>
      <p data-testid="message-count">{messages.length}</p>
      <ul data-testid="tools">
        {tools.map((t) => (
          <li key={t.toolCallId}>
            {t.toolName} {t.state}
            {t.state === "approval-requested" ? (
              <button
                type="button"
                data-testid="approve"
                onClick={() => addToolApprovalResponse({ id: t.approval.id, approved: true })}
              >
                approve
              </button>
            ) : null}
          </li>
        ))}
      </ul>
      <p data-testid="assistant-id">{assistant?.id ?? ""}</p>
      <pre data-testid="assistant-text">{text}</pre>
    </main>
  );
}

createRoot(document.getElementById("root")).render(<Chat />);
