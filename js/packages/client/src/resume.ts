/**
 * The client's resume state machine, without I/O: what to send, which events to hand on, and
 * what to do when a response fails or a connection is lost. `Run` (run.ts) owns fetch, timers
 * and the page; this core decides. Python runs the same machine (`agent_stream.resume`), and
 * both are driven by the vectors in `spec/conformance/client/` (format in its README).
 *
 * Event ids follow the server's rule (`<stream_id>:<seq>`, stream id `[A-Za-z0-9_-]{1,128}`,
 * seq `0` or 1-18 ASCII digits without a leading zero); any other id is opaque: handed on
 * without dedupe and used as the cursor as it is.
 */
import { AgentStreamError, InvalidEventError, ProtocolError, ResumeError, UsageError } from "./errors.js";
import { type AgentEvent, type EventData, EventIdTracker, ID_FOREIGN, ID_NEW, ID_OPAQUE, isStreamId, parseEvent, type UnknownEvent } from "./events.js";
import { statusError } from "./http.js";
import { backoffDelayMs, parseRetryAfter, type RetryPolicy } from "./retry.js";
import { type SSEMessage, SSEParser } from "./parser.js";

export type DoneReason = NonNullable<EventData<"done">["reason"]>;

/**
 * How a connection was lost: refused before sending (`connect`), a network error (`network`),
 * silence past the liveness deadline (`stalled`), the body ended before `done` (`eof`), or the
 * server's `reconnect` event (`reconnect`).
 */
export type LostKind = "connect" | "network" | "stalled" | "eof" | "reconnect";

/** The next request: the original one (`lastEventId` null) or a resume. */
export interface RequestPlan {
  readonly lastEventId: string | null;
  /** GET this server-named reference (unresolved) instead of sending the request again. */
  readonly resumeUrl: string | null;
  /** Goes with the original request and every re-send of it, never with a resume. */
  readonly idempotencyKey: string | null;
}

/** Wait `delayMs`, then send {@link ResumeCore.request} again. */
export interface Retry {
  readonly kind: "retry";
  readonly delayMs: number;
}

/**
 * The stream cannot go on: end it with a synthetic `done` of `reason` (`error`: the server's
 * answer was an error; `interrupted`: the connection could not be resumed; `cancelled`: after a
 * stop). `code` is the failure's stable code; `failure` is null after a stop.
 */
export interface GiveUp {
  readonly kind: "give-up";
  readonly reason: DoneReason;
  readonly code: string;
  readonly failure: AgentStreamError | null;
}

export type Action = Retry | GiveUp;
/** What a chunk ended with: the server's `done`, its `reconnect`, a protocol error, or nothing. */
export type FeedOutcome = "done" | "reconnect" | GiveUp | null;

export interface ResumeCoreOptions {
  retry: RetryPolicy;
  random: () => number;
  resumeWith: "request" | "resume_url";
  idempotencyKey: string | null;
  /** Largest event data accepted; null: the size each `start` announces (1 MiB until one does). */
  maxEventSize: number | null;
}

export interface ResponseInfo {
  method: string;
  url: string;
  statusText: string;
  body: string;
  /** Unix time in ms, for `Retry-After` dates. */
  nowMs: number;
}

const DEFAULT_HEARTBEAT_MS = 15_000;
const DEFAULT_MAX_EVENT_SIZE = 1 << 20;
// the limit is on an event's data; its line also holds "data: "
const DATA_FIELD = 6;
// one options object for every chunk, not one per feed()
const STREAM: TextDecodeOptions = Object.freeze({ stream: true });

/** End with a synthetic done of `reason`; the code is the failure's (a stop has none: `cancelled`). */
function giveUp(reason: DoneReason, failure: AgentStreamError | null): GiveUp {
  return { kind: "give-up", reason, code: failure?.code ?? "cancelled", failure };
}

export class ResumeCore {
  readonly #options: ResumeCoreOptions;
  readonly #ids = new EventIdTracker();
  // the SSE layer without createSSEDecoder (sse.ts): the client needs no more than this
  #parser!: SSEParser;
  #utf8!: TextDecoder;
  // what ended decoding (an event too large); every later feed ends with it too
  #failure: unknown;
  #lastId: string | null = null;
  #answered = false;
  #sentStart = false;
  #progressMark = 0;
  /** The largest event data accepted now (the option, else the `start`'s max_event_bytes). */
  maxEventSize!: number;
  /** The resume URL as the server named it (header or start event), unresolved. */
  resumeUrl: string | null = null;
  /** The stop URL the start event named, unresolved. */
  stopUrl: string | null = null;
  /** Where to report a synthetic `done` (the start event's `report_url`), unresolved. */
  reportUrl: string | null = null;
  heartbeatMs = DEFAULT_HEARTBEAT_MS;
  /**
   * How long after its last sign of life a resume can still succeed, as the start event
   * announced (`resume_window_ms`), or null when the server did not say.
   */
  resumeWindowMs: number | null = null;
  #aliveAt: number | null = null;
  serverRetryMs: number | null = null;
  /** Consecutive attempts without a new event; reset by progress. */
  failures = 0;
  /** The highest seq received (-1 before any). */
  get maxSeq(): number {
    return this.#ids.maxSeq;
  }
  /** Reconnections made (resumes and re-sends). */
  reconnects = 0;
  isStopping = false;

  constructor(options: ResumeCoreOptions) {
    this.#options = options;
    this.#read();
    if (!Number.isInteger(this.maxEventSize) || this.maxEventSize < 1) {
      throw new UsageError(`maxEventSize must be a positive integer, got ${this.maxEventSize}`, { code: "invalid-option" });
    }
  }

  /** Decode a new body: the option's limit (until its start names one), a fresh parser and UTF-8 decoder. */
  #read(): void {
    this.maxEventSize = this.#options.maxEventSize ?? DEFAULT_MAX_EVENT_SIZE;
    this.#parser = new SSEParser(this.maxEventSize + DATA_FIELD);
    this.#utf8 = new TextDecoder("utf-8", { ignoreBOM: true });
    this.#failure = null;
  }

  /** The resume cursor: the id of the last complete event, or null before any. */
  get lastEventId(): string | null {
    return this.#lastId;
  }

  get streamId(): string | null {
    return this.#ids.streamId;
  }

  /** Whether the server answered the original request (from then on: resumes only). */
  get isAnswered(): boolean {
    return this.#answered;
  }

  /** The server showed it is alive at `nowMs` (a monotonic clock): response headers or bytes. */
  alive(nowMs: number): void {
    this.#aliveAt = nowMs;
  }

  /** What to send next. */
  request(): RequestPlan {
    this.#progressMark = Math.max(this.#ids.maxSeq, 0);
    const options = this.#options;
    const resuming = this.#answered;
    return {
      lastEventId: resuming ? this.#lastId : null,
      resumeUrl: resuming && options.resumeWith === "resume_url" ? this.resumeUrl : null,
      idempotencyKey: resuming ? null : options.idempotencyKey,
    };
  }

  /** The user stopped the run: the next loss ends the stream as `cancelled`. */
  stop(): void {
    this.isStopping = true;
  }

  /** The answer's status and headers: null means read the body. For >= 400 pass its body in `info`. */
  response(status: number, headers: Headers, info: ResponseInfo): Action | null {
    const policy = this.#options.retry;
    const resuming = this.#answered;
    if (status >= 400) {
      const retryAfterMs = parseRetryAfter(headers.get("retry-after"), info.nowMs);
      if (policy.retryStatuses.includes(status) && this.failures < policy.maxRetries) {
        this.failures += 1;
        this.reconnects += 1;
        const delay = retryAfterMs ?? this.#backoff();
        return { kind: "retry", delayMs: Math.min(delay, policy.maxDelayMs) };
      }
      const error = statusError(status, headers, info, resuming ? this.#lastId : null, retryAfterMs);
      return giveUp(resuming ? "interrupted" : "error", error);
    }
    if (!resuming) {
      this.#answered = true;
      const streamId = headers.get("x-agent-stream-id");
      if (streamId !== null && isStreamId(streamId) && this.#ids.streamId === null) {
        // resumable even if the priming frame gets lost
        this.#ids.adopt(streamId, this.#lastId === null ? 0 : undefined);
        this.#lastId ??= `${streamId}:0`;
      }
    }
    this.resumeUrl ??= headers.get("x-agent-stream-resume-url") || null;
    const contentType = headers.get("content-type") ?? "";
    if (contentType !== "" && !contentType.toLowerCase().startsWith("text/event-stream")) {
      const error = new ProtocolError(
        `${info.url} answered ${status} with ${JSON.stringify(contentType)}, not text/event-stream: is it an agent-stream endpoint?`,
        { code: "not-event-stream", line: contentType },
      );
      return giveUp("error", error);
    }
    this.#read();
    return null;
  }

  /**
   * Body bytes in: each event to hand on goes to `deliver` (new, known or unknown, in order);
   * an event whose data does not match its type goes to `invalid` instead (its seq still moves
   * the cursor). Returns how the chunk ended; nothing after that outcome is read.
   */
  feed(
    chunk: Uint8Array | string,
    deliver: (event: AgentEvent | UnknownEvent, id: string | null) => void,
    invalid: (error: AgentStreamError) => void,
  ): FeedOutcome {
    return this.#decode(typeof chunk === "string" ? chunk : this.#utf8.decode(chunk, STREAM), false, deliver, invalid);
  }

  /** The body ended: events its last bytes completed, then the outcome (null: call `lost("eof")`). */
  end(deliver: (event: AgentEvent | UnknownEvent, id: string | null) => void, invalid: (error: AgentStreamError) => void): FeedOutcome {
    return this.#decode(this.#utf8.decode(), true, deliver, invalid);
  }

  /**
   * Parse `text` (`last`: the end of the body), handling each event as it completes: a limit
   * the `start` event announces applies to the bytes after it, also in the same chunk. An event
   * too large ends the stream after the events before it; after an outcome the rest is ignored.
   */
  #decode(
    text: string,
    last: boolean,
    deliver: (event: AgentEvent | UnknownEvent, id: string | null) => void,
    invalid: (error: AgentStreamError) => void,
  ): FeedOutcome {
    const parser = this.#parser;
    let outcome: FeedOutcome = null;
    if (this.#failure === null) {
      try {
        parser.feed(text, { push: (message: SSEMessage) => (outcome ??= this.#handle(message, deliver, invalid)) });
        if (last) parser.end();
      } catch (error) {
        if (outcome === null) this.#failure = error;
      }
    }
    if (parser.retry !== null) this.serverRetryMs = parser.retry;
    return outcome ?? (this.#failure === null ? null : this.#broken(this.#failure));
  }

  /**
   * The connection was lost (or never made) at `nowMs`: retry after a delay, or give up. Once
   * the resume window the server announced has passed since its last sign of life, or would
   * pass before the retry, the stream ends as interrupted with `expired`.
   */
  lost(kind: LostKind, error: AgentStreamError | null = null, nowMs = 0): Action {
    const policy = this.#options.retry;
    const code = error?.code ?? (kind === "stalled" ? "stalled" : "connection-lost");
    const cause = error ?? new AgentStreamError(`connection lost (${kind})`, { code });
    if (this.#ids.maxSeq > this.#progressMark) this.failures = 0; // progress: a new event arrived
    const interrupted = (why: string) => giveUp("interrupted", new AgentStreamError(`${cause.message}; ${why}`, { code, cause }));
    if (this.isStopping) return giveUp("cancelled", null);
    if ((this.#answered || kind === "reconnect") && this.#lastId === null) return interrupted("no event id to resume from");
    if (kind === "reconnect") {
      this.reconnects += 1;
      return { kind: "retry", delayMs: 0 };
    }
    if (this.failures >= policy.maxRetries) return interrupted(`gave up after ${policy.maxRetries} reconnection attempts`);
    this.failures += 1;
    const delayMs = this.#backoff();
    const windowMs = this.resumeWindowMs;
    if (windowMs !== null && this.#aliveAt !== null && nowMs + delayMs >= this.#aliveAt + windowMs) {
      const silentMs = Math.round(nowMs - this.#aliveAt);
      const message = `${cause.message}; silent for ${silentMs} ms, past the resume window (${windowMs} ms)`;
      return giveUp("interrupted", new ResumeError(message, { code: "expired", status: 410, lastEventId: this.#lastId, cause }));
    }
    this.reconnects += 1;
    return { kind: "retry", delayMs };
  }

  #backoff(): number {
    return backoffDelayMs(this.#options.retry, this.failures, this.serverRetryMs, this.#options.random);
  }

  #broken(error: unknown): GiveUp {
    if (!(error instanceof ProtocolError)) throw error;
    // the parser's one error, event-too-large: said in the stream's terms (its limit, its place)
    const failure = new ProtocolError(`an event over the limit of ${this.maxEventSize} bytes (maxEventSize) after ${this.#lastId ?? "start"}`, {
      code: error.code,
      line: error.line,
      cause: error,
    });
    return giveUp("error", failure);
  }

  /** Dedupe by seq, track the cursor, parse, and hand on one message; null: go on. */
  #handle(
    message: SSEMessage,
    deliver: (event: AgentEvent | UnknownEvent, id: string | null) => void,
    invalid: (error: AgentStreamError) => void,
  ): FeedOutcome {
    if (message.hasOwnId && message.id !== "") {
      const id = message.id;
      // the next seq of this stream is one string compare; anything else is read in full
      const verdict = this.#ids.check(id);
      if (verdict === ID_NEW || verdict === ID_OPAQUE) {
        this.#lastId = id;
      } else if (verdict === ID_FOREIGN) {
        const error = new ProtocolError(`event id ${JSON.stringify(id)} names another stream than ${JSON.stringify(this.#ids.streamId)}`, {
          code: "foreign-id",
          line: id,
        });
        return giveUp("error", error);
      } else if (message.event !== "start") {
        return null; // delivered before the reconnect
      }
    }
    if (message.event === "reconnect") return "reconnect";
    let event: AgentEvent | UnknownEvent;
    try {
      event = parseEvent(message.event, message.data);
    } catch (error) {
      // one bad event is skipped, not the stream: report it (its `line` holds the raw data) and go on
      if (!(error instanceof InvalidEventError)) throw error;
      invalid(error);
      return null;
    }
    // a known type's name is never an unknown event's
    if (event.type === "start") {
      const data = event.data as EventData<"start">;
      const announced = data.max_event_bytes;
      if (announced !== undefined && announced > 0 && this.#options.maxEventSize === null) {
        this.maxEventSize = announced;
        this.#parser.max = announced + DATA_FIELD;
      }
      this.heartbeatMs = data.heartbeat_ms;
      this.resumeWindowMs = data.resume_window_ms ?? this.resumeWindowMs;
      this.resumeUrl = data.resume_url || this.resumeUrl;
      this.stopUrl = data.stop_url || this.stopUrl;
      this.reportUrl = data.report_url || this.reportUrl;
      if (this.#sentStart) return null;
      this.#sentStart = true;
    }
    deliver(event, message.id === "" ? null : message.id);
    return event.type === "done" ? "done" : null;
  }
}
