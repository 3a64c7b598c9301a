export { AgentStreamClient } from "./client";
export type {
  AgentStreamClientOptions,
  ClientSnapshot,
  ConnectionStatus,
  LivenessOptions,
  StreamCallbacks,
  VisibilitySource,
} from "./client";
export { TokenBatcher } from "./batching";
export type { Batching, BatchingMode, BatchingOptions } from "./batching";
export {
  AgentStreamError,
  HTTPStatusError,
  InvalidEventError,
  ProtocolError,
  ResumeError,
  StoreUnavailableError,
  UsageError,
} from "./errors";
export type { ResumeErrorCode } from "./errors";
export { isEventType, makeEvent, parseEvent, parseEventId } from "./events";
export type * from "./events";
export { doneReason, initialState, reduce } from "./reducer";
export type { FinishedTool, StreamState } from "./reducer";
export { backoffDelayMs, DEFAULT_RETRY_POLICY, parseRetryAfter } from "./retry";
export type { RetryPolicy } from "./retry";
export { createSSEDecoder } from "./sse";
export type { SSEDecoder, SSEDecoderOptions, SSEMessage } from "./sse";
export type { Scheduler } from "./scheduler";
