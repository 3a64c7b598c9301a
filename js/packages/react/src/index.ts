export { useAgentStream } from "./useAgentStream.js";
export type {
  StartStream,
  StartStreamAt,
  UseAgentStreamOptions,
  UseAgentStreamResult,
  UseAgentStreamUrlFreeOptions,
} from "./useAgentStream.js";
export * from "@agent-stream/client";
// the sans-I/O values (parseEvent, reduce, ...), as `@agent-stream/react` exported them before 0.2
export * from "@agent-stream/client/core";
