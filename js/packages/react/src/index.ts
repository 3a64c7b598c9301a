export { useAgentStream } from "./useAgentStream";
export type { UseAgentStreamOptions, UseAgentStreamResult } from "./useAgentStream";
export * from "@agent-stream/client";
