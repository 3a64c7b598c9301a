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
  eventCount: number;
  reconnects: number;
  start(body: Record<string, string | number>): void;
  stop(): void;
}

interface Options {
  batching: Batching;
  authorization: string;
  fetch: typeof fetch;
}

/** The page's view of useAgentStream: names the components want, nothing the hook does not say. */
export function useDemoAgent({ batching, authorization, fetch }: Options): DemoAgent {
  const stream = useAgentStream({
    url: "/api/chat",
    batching,
    headers: authorization === "" ? {} : { Authorization: authorization },
    fetch,
  });
  // placeholder mapping until @agent-stream/react lands; see the hook's types
  return stream as unknown as DemoAgent;
}
