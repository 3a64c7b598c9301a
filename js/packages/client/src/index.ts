/**
 * `@agent-stream/client`: {@link AgentStreamClient}, its errors and the event and state types.
 * The sans-I/O pieces it is built from (decoder, parser, reducer, resume core, batching, retry
 * policy) are values of `@agent-stream/client/core`; their types are exported here too.
 */
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
export type { Batching, BatchingMode, BatchingOptions, TokenBatcher } from "./batching.js";
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
export type * from "./events.js";
export type { FinishedTool, StreamState } from "./reducer.js";
export type { Action, DoneReason, FeedOutcome, GiveUp, LostKind, RequestPlan, ResponseInfo, ResumeCore, ResumeCoreOptions, Retry } from "./resume.js";
export type { RetryPolicy } from "./retry.js";
export type { SSEDecoder, SSEDecoderOptions, SSEMessage, Utf8Decoder } from "./sse.js";
export type { Scheduler } from "./scheduler.js";
