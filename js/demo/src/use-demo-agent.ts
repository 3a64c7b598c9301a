import type { AgentStreamClient, EventData, StreamCallbacks } from "@agent-stream/client";
import { sessionPersistence } from "@agent-stream/client/persist";
import type { TabSharedFetch } from "@agent-stream/client/tabs";
import { useAgentStream } from "@agent-stream/react";
import type { ProgressView, Status, ToolView } from "./components";
import type { Batching } from "./knobs";

export interface DemoAgent {
  status: Status;
  text: string;
  thinking: string;
  tools: readonly ToolView[];
  progress: ProgressView | null;
  error: { title: string; message: string } | null;
  turn: number;
  doneSummary: string | null;
  streamId: string | null;
  reconnects: number;
  /** The agent's open question, or null. */
  inputRequired: EventData<"input_required"> | null;
  /** Closed questions, in order. */
  answers: readonly EventData<"input_response">[];
  respond(answer: unknown): Promise<unknown>;
  start(body?: Record<string, string | number | boolean>): void;
  /** True while a run is going, e.g. the one re-attached after a reload. */
  isActive(): boolean;
  /** The client behind the page (the inspector follows its connection). */
  client: AgentStreamClient;
  stop(): void;
}

interface Options {
  batching: Batching;
  maxRetries: number | null;
  authorization: string;
  /** The network, shared with the other tabs of this page (one connection per run). */
  shared: TabSharedFetch;
  /** Follow this stream (GET its resume URL from the start) instead of POSTing /api/chat. */
  watch: string | null;
  /** Callbacks of every run, including one re-attached after a reload (the inspector's). */
  callbacks?: StreamCallbacks;
}

const ERROR_TITLES: Record<string, string> = {
  "http-status": "The server refused the request",
  "connection-lost": "The connection was lost",
  stalled: "The connection went silent",
  expired: "The stream expired before it could resume",
  "unknown-stream": "The server no longer knows this stream",
};

const DONE_LABELS: Record<string, string> = {
  completed: "Completed",
  cancelled: "Stopped",
  error: "Failed",
  interrupted: "Interrupted",
};

/** The page's view of useAgentStream: names and shapes the components want. */
export function useDemoAgent({ batching, maxRetries, authorization, shared, watch, callbacks }: Options): DemoAgent {
  const stream = useAgentStream({
    url: watch === null ? "/api/chat" : `/api/streams/${encodeURIComponent(watch)}`,
    method: watch === null ? "POST" : "GET",
    batching,
    ...(maxRetries === null ? {} : { retry: { maxRetries } }),
    headers: {
      ...(authorization === "" ? {} : { Authorization: authorization }),
      // a watch link asks for the run from its first event by id: a tab that reads it already
      // serves it (shareAcrossTabs), else this request becomes the connection
      ...(watch === null ? {} : { "Last-Event-ID": `${watch}:0` }),
    },
    shareAcrossTabs: shared,
    // a reload mid-run comes back to it (sessionStorage); a watch link follows its own stream
    persist: watch === null ? sessionPersistence() : null,
    ...(callbacks === undefined ? {} : { callbacks }),
  });

  const status: Status =
    stream.error !== null
      ? "error"
      : stream.isDone
        ? "done"
        : stream.connection === "reconnecting"
          ? "reconnecting"
          : stream.isStreaming
            ? "streaming"
            : "idle";

  const tools: ToolView[] = [
    ...stream.tools.map((tool) => ({
      id: tool.toolUseId,
      name: tool.toolName,
      status: tool.status,
      inputSummary: tool.inputSummary,
      outputSummary: tool.outputSummary,
      durationMs: tool.durationMs,
    })),
    ...stream.activeTools.map((tool) => ({
      id: tool.tool_use_id,
      name: tool.tool_name,
      status: "running" as const,
      inputSummary: tool.input_summary ?? "",
      outputSummary: "",
      durationMs: 0,
    })),
  ];

  const done = stream.done;
  let doneSummary: string | null = null;
  if (done !== null) {
    const reason = done.reason ?? "completed";
    const parts = [DONE_LABELS[reason] ?? reason];
    if (done.duration_ms) parts.push(`${(done.duration_ms / 1000).toFixed(1)} s`);
    if (done.tool_count) parts.push(`${done.tool_count} tool${done.tool_count === 1 ? "" : "s"}`);
    if (done.model) parts.push(done.model);
    if (done.synthetic) parts.push(reason === "cancelled" ? "ended by you" : "ended by the client: the server could not finish it");
    doneSummary = parts.join(" · ");
  }

  const error = stream.error;
  return {
    status,
    text: stream.text,
    thinking: stream.thinking,
    tools,
    progress:
      stream.progress === null
        ? null
        : { percentage: stream.progress.percentage, message: stream.progress.message, step: stream.progress.step },
    error:
      error === null
        ? null
        : { title: ERROR_TITLES[error.error_type] ?? `The run failed (${error.error_type})`, message: error.message },
    turn: stream.turn,
    doneSummary,
    streamId: stream.streamId,
    reconnects: stream.reconnects,
    inputRequired: stream.inputRequired,
    answers: stream.answers,
    respond: (answer) => stream.respond(answer),
    start: (body) => void stream.startStream(body),
    isActive: () => stream.client.isActive,
    client: stream.client,
    stop: () => void stream.stop(),
  };
}
