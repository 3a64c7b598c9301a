/**
 * One error tree, split by whose fault it is (mirrors Python's `agent_stream.errors`):
 *
 * ```
 * AgentStreamError
 * ├── UsageError            our API was misused: start() with no url, respond() with nothing pending
 * ├── ProtocolError         the peer sent bytes that break the protocol
 * │   └── InvalidEventError an event's JSON does not match spec/events.schema.json
 * ├── ResumeError           Last-Event-ID malformed (400), unknown (404) or expired (410)
 * ├── StoreUnavailableError the server's replay store is down (503); retry later
 * └── HTTPStatusError       the server answered 400 or more; surfaced at once, never retried
 * ```
 *
 * Every error has a stable kebab-case `code` programs can switch on.
 */

export interface AgentStreamErrorOptions {
  code?: string;
  cause?: unknown;
}

// Each class names itself: a minifier renames classes, so `new.target.name` would read "e".

/** Base class of every error agent-stream raises on purpose. */
export class AgentStreamError extends Error {
  override name = "AgentStreamError";
  declare readonly code: string;

  constructor(message: string, options: AgentStreamErrorOptions = {}) {
    // Error takes `cause` from the options when they have one
    super(message, options);
    this.code = options.code ?? (new.target as typeof AgentStreamError).defaultCode;
  }

  static defaultCode = "agent-stream-error";
}

/** The library's API was used in a way it does not allow (the caller's bug). */
export class UsageError extends AgentStreamError {
  override name = "UsageError";
  static override defaultCode = "usage-error";
}

/** The peer sent bytes that break the protocol; `line` holds the offending input, truncated. */
export class ProtocolError extends AgentStreamError {
  override name = "ProtocolError";
  static override defaultCode = "protocol-error";
  declare readonly line: string | null;

  constructor(message: string, options: AgentStreamErrorOptions & { line?: string | null } = {}) {
    super(message, options);
    this.line = options.line ?? null;
  }
}

/** An event's payload does not match the schema; `field` is a JSON path such as `$.text`. */
export class InvalidEventError extends ProtocolError {
  override name = "InvalidEventError";
  static override defaultCode = "invalid-event";
  declare readonly eventType: string;
  declare readonly field: string | null;

  constructor(message: string, options: AgentStreamErrorOptions & { eventType: string; field?: string | null; line?: string | null }) {
    super(message, options);
    this.eventType = options.eventType;
    this.field = options.field ?? null;
  }
}

export type ResumeErrorCode = "malformed-id" | "unknown-stream" | "expired";

/** A resume cursor (`Last-Event-ID`) cannot be honoured. */
export class ResumeError extends AgentStreamError {
  override name = "ResumeError";
  static override defaultCode = "unknown-stream";
  declare readonly code: ResumeErrorCode;
  declare readonly lastEventId: string | null;
  /** The oldest id still available, when the server named one (410 expired). */
  declare readonly earliestId: string | null;
  declare readonly status: number;

  constructor(
    message: string,
    options: { code: ResumeErrorCode; status: number; lastEventId?: string | null; earliestId?: string | null; cause?: unknown },
  ) {
    super(message, options);
    this.status = options.status;
    this.lastEventId = options.lastEventId ?? null;
    this.earliestId = options.earliestId ?? null;
  }
}

/** The server's replay store cannot be reached right now (503 with `Retry-After`). */
export class StoreUnavailableError extends AgentStreamError {
  override name = "StoreUnavailableError";
  static override defaultCode = "store-unavailable";
  declare readonly retryAfterMs: number | null;

  constructor(message: string, options: AgentStreamErrorOptions & { retryAfterMs?: number | null } = {}) {
    super(message, options);
    this.retryAfterMs = options.retryAfterMs ?? null;
  }
}

/** The server answered with a status of 400 or more. Never retried unless opted in (429/503). */
export class HTTPStatusError extends AgentStreamError {
  override name = "HTTPStatusError";
  static override defaultCode = "http-status";
  declare readonly status: number;
  declare readonly body: string;
  declare readonly headers: Readonly<Record<string, string>>;
  declare readonly url: string;

  constructor(
    message: string,
    options: { status: number; body?: string; headers?: Record<string, string>; url?: string; code?: string },
  ) {
    super(message, options);
    this.status = options.status;
    this.body = options.body ?? "";
    this.headers = { ...options.headers };
    this.url = options.url ?? "";
  }
}

/** `error` when it is ours, else an {@link AgentStreamError} of `code` holding it as `cause`. */
export function asAgentError(error: unknown, code: string): AgentStreamError {
  if (error instanceof AgentStreamError) return error;
  return new AgentStreamError(`${code}: ${error instanceof Error ? error.message : String(error)}`, { code, cause: error });
}

/** `JSON.stringify(value)` cut to `limit` characters, for error messages. */
export function truncate(value: unknown, limit = 80): string {
  // JSON.stringify gives undefined for undefined and functions: those read as String() has them
  const text = String(JSON.stringify(value) ?? value);
  return text.length <= limit ? text : `${text.slice(0, limit - 3)}...`;
}
