/**
 * `@agent-stream/client/core`: the sans-I/O pieces the client is built from, for code that
 * does its own I/O: the SSE decoder, event parsing, the state reducer, the resume state
 * machine, token batching and the retry policy. (Until 0.2 these were exported by
 * `@agent-stream/client` itself; the main entry now holds the client, so its bundle carries only
 * what the client runs.)
 */
export { TokenBatcher } from "./batching.js";
export type { Batching, BatchingMode, BatchingOptions } from "./batching.js";
export {
  AgentStreamError,
  HTTPStatusError,
  InvalidEventError,
  ProtocolError,
  ResumeError,
  StoreUnavailableError,
  UsageError,
} from "./errors.js";
export type { ResumeErrorCode } from "./errors.js";
export { isEventType, isStreamId, makeEvent, parseEvent, parseEventId } from "./events.js";
export type * from "./events.js";
export { doneReason, initialState, reduce, reduceMany } from "./reducer.js";
export type { FinishedTool, StreamState } from "./reducer.js";
export { ResumeCore } from "./resume.js";
export type { Action, DoneReason, FeedOutcome, GiveUp, LostKind, RequestPlan, ResponseInfo, ResumeCoreOptions, Retry } from "./resume.js";
export { backoffDelayMs, DEFAULT_RETRY_POLICY, parseRetryAfter } from "./retry.js";
export type { RetryPolicy } from "./retry.js";
export { createSSEDecoder } from "./sse.js";
export type { SSEDecoder, SSEDecoderOptions, SSEMessage, Utf8Decoder } from "./sse.js";
export type { Scheduler } from "./scheduler.js";
