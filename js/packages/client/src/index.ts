export { AgentStreamClient } from "./client.js";
export type {
  AgentStreamClientOptions,
  ClientSnapshot,
  ConnectionStatus,
  LivenessOptions,
  PersistedRun,
  RunPersistence,
  StreamCallbacks,
  VisibilitySource,
} from "./client.js";
// types only: the functions are in their own entry points (the main bundle does not load them)
export type { PersistOptions, PersistStorage } from "./persist.js";
export type { RespondOptions, RespondResult } from "./respond.js";
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
