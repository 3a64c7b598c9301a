export { useAgentStream } from "./useAgentStream.js";
export type { UseAgentStreamOptions, UseAgentStreamResult } from "./useAgentStream.js";
export * from "@agent-stream/client";
