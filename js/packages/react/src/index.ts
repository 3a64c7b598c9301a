export { useAgentStream } from "./useAgentStream.js";
export type {
  StartStream,
  StartStreamAt,
  UseAgentStreamOptions,
  UseAgentStreamResult,
  UseAgentStreamUrlFreeOptions,
} from "./useAgentStream.js";
export * from "@agent-stream/client";
