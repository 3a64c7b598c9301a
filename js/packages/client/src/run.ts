/**
 * One agent run's transport: the request, its resumes and the read loop. The client owns the
 * state; a Run reports events, connection changes and its end through {@link RunHooks}.
 */
import { AgentStreamError, ProtocolError } from "./errors.js";
import { type AgentEvent, type EventData, EventIdTracker, ID_FOREIGN, ID_NEW, ID_OPAQUE, parseEvent } from "./events.js";
import { newIdempotencyKey, resolveUrl, statusError } from "./http.js";
import { backoffDelayMs, parseRetryAfter } from "./retry.js";
import { type SSEMessage, createSSEDecoder } from "./sse.js";
import type { StreamCallbacks, ResolvedOptions } from "./client.js";
import type { TimerHandle } from "./scheduler.js";

export type ConnectionStatus = "idle" | "connecting" | "streaming" | "reconnecting" | "closed";

type DoneReason = NonNullable<EventData<"done">["reason"]>;

export interface RunHooks {
  event(event: AgentEvent, id: string | null): void;
  /** Publish what the events of one chunk changed. */
  commit(): void;
  connection(status: ConnectionStatus, reconnects: number): void;
  end(run: Run, failure: AgentStreamError | null, done: EventData<"done">): void;
}

type Outcome =
  | { kind: "done" }
  | { kind: "aborted" }
  | { kind: "reconnect" }
  | { kind: "lost"; error: AgentStreamError }
  | { kind: "fatal"; error: AgentStreamError }
  | { kind: "status"; response: Response; body: string; method: string; url: string; resumeFrom: string | null };

const DEFAULT_HEARTBEAT_MS = 15_000;
// A page that comes back visible resumes at once when the stream was this much past a heartbeat.
const VISIBLE_STALL_MARGIN_MS = 1_000;

/** `promise`, or the abort reason of `signal` if that comes first (fetch bodies may ignore signals). */
function raceAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    promise.catch(() => undefined);
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}

function asAgentError(error: unknown, code: string): AgentStreamError {
  if (error instanceof AgentStreamError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new AgentStreamError(`connection lost: ${message}`, { code, cause: error });
}

export class Run {
  readonly finished: Promise<void>;
  readonly callbacks: StreamCallbacks;
  stopUrl: string | null = null;
  readonly #hooks: RunHooks;
  readonly #options: ResolvedOptions;
  readonly #url: string;
  readonly #body: unknown;
  readonly #controller = new AbortController();
  // one key per start(): a re-send of the first request (fetch rejected before any answer, or
  // an opted-in 429/503) attaches to the run it may have started instead of starting another
  readonly #idempotencyKey = newIdempotencyKey();
  #attempt: AbortController | null = null;
  #liveness: TimerHandle | null = null;
  #wake: (() => void) | null = null;
  #resumeUrl: string | null = null;
  #lastId: string | null = null;
  readonly #ids = new EventIdTracker();
  #serverRetryMs: number | null = null;
  #heartbeatMs = DEFAULT_HEARTBEAT_MS;
  #failures = 0;
  #reconnects = 0;
  #answered = false;
  #streaming = false;
  #resumeNow = false;
  #lastByteAt = 0;
  #ended = false;
  readonly #onVisibility = () => this.#visibilityChanged();

  constructor(hooks: RunHooks, options: ResolvedOptions, url: string, body: unknown, callbacks: StreamCallbacks) {
    this.#hooks = hooks;
    this.#options = options;
    this.#url = url;
    this.#body = body;
    this.callbacks = callbacks;
    options.visibility?.addEventListener("visibilitychange", this.#onVisibility);
    this.finished = this.#loop();
  }

  /** A URL the server named, resolved against the request URL. */
  resolve(ref: string): string {
    return resolveUrl(ref, this.#url);
  }

  /** End the run now (stop, abort, reset): abort the connection, end with a synthetic done. */
  cancel(reason: DoneReason, failure: AgentStreamError | null): void {
    if (this.#ended) return;
    this.#end(reason, failure);
    this.#controller.abort(new AgentStreamError("the run was cancelled", { code: "cancelled" }));
    this.#wake?.();
  }

  #end(reason: DoneReason, failure: AgentStreamError | null): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#options.visibility?.removeEventListener("visibilitychange", this.#onVisibility);
    this.#clearLiveness();
    const done = parseEvent("done", { reason, synthetic: true }) as AgentEvent & { type: "done" };
    this.#hooks.end(this, failure, done.data);
  }

  async #loop(): Promise<void> {
    const policy = this.#options.retry;
    const scheduler = this.#options.scheduler;
    try {
      while (!this.#ended) {
        const outcome = await this.#connect();
        if (this.#ended) return;
        switch (outcome.kind) {
          case "done":
          case "aborted":
            this.#end("completed", null);
            return;
          case "fatal":
            this.#end("error", outcome.error);
            return;
          case "reconnect":
            // the server is going away and asked for an immediate resume
            if (this.#lastId === null) {
              this.#end("interrupted", new AgentStreamError("the server asked to reconnect before naming an event id", { code: "connection-lost" }));
              return;
            }
            this.#reconnects += 1;
            this.#hooks.connection("reconnecting", this.#reconnects);
            continue;
          case "status": {
            const { response } = outcome;
            const retryAfterMs = parseRetryAfter(response.headers.get("retry-after"), Date.now());
            if (policy.retryStatuses.includes(response.status) && this.#failures < policy.maxRetries) {
              this.#failures += 1;
              this.#reconnects += 1;
              this.#hooks.connection("reconnecting", this.#reconnects);
              const delay = retryAfterMs ?? backoffDelayMs(policy, this.#failures, this.#serverRetryMs, scheduler.random);
              await this.#sleep(Math.min(delay, policy.maxDelayMs));
              continue;
            }
            const error = statusError(response, outcome.body, outcome.method, outcome.url, outcome.resumeFrom, retryAfterMs);
            this.#end(outcome.resumeFrom === null ? "error" : "interrupted", error);
            return;
          }
          case "lost": {
            const { error } = outcome;
            if (this.#answered && this.#lastId === null) {
              this.#end("interrupted", new AgentStreamError(`${error.message}; the stream cannot resume: the server named no event id`, { code: error.code, cause: error }));
              return;
            }
            if (this.#failures >= policy.maxRetries) {
              this.#end("interrupted", new AgentStreamError(`${error.message}; gave up after ${policy.maxRetries} reconnection attempts`, { code: error.code, cause: error }));
              return;
            }
            this.#failures += 1;
            this.#reconnects += 1;
            this.#hooks.connection("reconnecting", this.#reconnects);
            const delay = this.#resumeNow ? 0 : backoffDelayMs(policy, this.#failures, this.#serverRetryMs, scheduler.random);
            this.#resumeNow = false;
            if (delay > 0) await this.#sleep(delay);
            continue;
          }
        }
      }
    } catch (error) {
      this.#end("error", asAgentError(error, "internal-error"));
    }
  }

  #sleep(ms: number): Promise<void> {
    const scheduler = this.#options.scheduler;
    return new Promise((resolve) => {
      const wake = () => {
        scheduler.clearTimeout(timer);
        if (this.#wake === wake) this.#wake = null;
        resolve();
      };
      const timer = scheduler.setTimeout(wake, ms);
      this.#wake = wake;
    });
  }

  async #connect(): Promise<Outcome> {
    const options = this.#options;
    const resumeFrom = this.#answered ? this.#lastId : null;
    const attempt = new AbortController();
    this.#attempt = attempt;
    const onAbort = () => attempt.abort(this.#controller.signal.reason);
    this.#controller.signal.addEventListener("abort", onAbort, { once: true });
    try {
      const headers = new Headers(options.headers);
      if (!headers.has("accept")) headers.set("Accept", "text/event-stream");
      let url = this.#url;
      let method = options.method.toUpperCase();
      let body: string | undefined;
      if (resumeFrom === null) {
        if (!headers.has("idempotency-key")) headers.set("Idempotency-Key", this.#idempotencyKey);
      } else {
        headers.set("Last-Event-ID", resumeFrom);
        if (options.resumeWith === "resume_url" && this.#resumeUrl !== null) {
          url = this.#resumeUrl;
          method = "GET";
        }
      }
      if (method !== "GET" && method !== "HEAD" && this.#body !== undefined) {
        body = typeof this.#body === "string" ? this.#body : JSON.stringify(this.#body);
        if (!headers.has("content-type")) headers.set("Content-Type", "application/json");
      }
      this.#armLiveness(attempt);
      let response: Response;
      try {
        const request = options.fetch(url, { method, headers, body, signal: attempt.signal, cache: "no-store" });
        response = await raceAbort(request, attempt.signal);
      } catch (error) {
        return this.#lost(error, attempt);
      }
      if (response.status >= 400) {
        const text = await raceAbort(response.text(), attempt.signal).catch(() => "");
        return { kind: "status", response, body: text, method, url, resumeFrom };
      }
      if (resumeFrom === null) this.#answered = true;
      this.#adoptHeaders(response);
      const contentType = response.headers.get("content-type") ?? "";
      if (contentType !== "" && !contentType.toLowerCase().startsWith("text/event-stream")) {
        return {
          kind: "fatal",
          error: new ProtocolError(`expected a text/event-stream response from ${url}, got ${JSON.stringify(contentType)} (status ${response.status}); is it an agent-stream endpoint?`, {
            code: "not-event-stream",
            line: contentType,
          }),
        };
      }
      if (response.body === null) return this.#lost(new Error("the response has no body"), attempt);
      this.#streaming = true;
      this.#hooks.connection("streaming", this.#reconnects);
      return await this.#read(response.body, attempt);
    } finally {
      this.#streaming = false;
      this.#clearLiveness();
      this.#controller.signal.removeEventListener("abort", onAbort);
      if (this.#attempt === attempt) this.#attempt = null;
      attempt.abort(new AgentStreamError("attempt over", { code: "attempt-over" }));
    }
  }

  async #read(body: ReadableStream<Uint8Array>, attempt: AbortController): Promise<Outcome> {
    const reader = body.getReader();
    const decoder = createSSEDecoder({ maxEventSize: this.#options.maxEventSize });
    try {
      for (;;) {
        const { done, value } = await raceAbort(reader.read(), attempt.signal);
        const messages = done ? decoder.close() : decoder.feed(value);
        if (!done) {
          this.#lastByteAt = this.#options.scheduler.now();
          this.#armLiveness(attempt);
        }
        if (decoder.retry !== null) this.#serverRetryMs = decoder.retry;
        const outcome = this.#process(messages);
        this.#hooks.commit();
        if (outcome !== null) return outcome;
        if (done) return { kind: "lost", error: new AgentStreamError("connection lost: the response ended before done", { code: "connection-lost" }) };
      }
    } catch (error) {
      if (error instanceof ProtocolError) return { kind: "fatal", error };
      return this.#lost(error, attempt);
    } finally {
      reader.cancel().catch(() => undefined);
    }
  }

  #lost(error: unknown, attempt: AbortController): Outcome {
    if (this.#controller.signal.aborted || this.#ended) return { kind: "aborted" };
    const reason: unknown = attempt.signal.aborted ? attempt.signal.reason : error;
    return { kind: "lost", error: asAgentError(reason, "connection-lost") };
  }

  /** Dedupe by seq, track the resume cursor, and hand known events to the client. */
  #process(messages: readonly SSEMessage[]): Outcome | null {
    for (const message of messages) {
      if (message.hasOwnId && message.id !== "") {
        const id = message.id;
        // the next seq of this stream is one string compare; anything else is read in full
        const verdict = this.#ids.check(id);
        if (verdict === ID_NEW) {
          this.#lastId = id;
          if (this.#ids.maxSeq > 0) this.#failures = 0; // progress: a new event arrived
        } else if (verdict === ID_OPAQUE) {
          this.#lastId = id; // an opaque id from another server
        } else if (verdict === ID_FOREIGN) {
          return {
            kind: "fatal",
            error: new ProtocolError(`event id ${JSON.stringify(id)} names another stream than ${JSON.stringify(this.#ids.streamId)}; a response carries one stream`, {
              code: "foreign-id",
              line: id,
            }),
          };
        } else if (message.event !== "start") {
          continue; // delivered before the reconnect
        }
      }
      if (message.event === "reconnect") return { kind: "reconnect" };
      let event;
      try {
        event = parseEvent(message.event, message.data);
      } catch (error) {
        // one bad event is skipped, not the stream: report it and go on
        if (error instanceof AgentStreamError) this.callbacks.onError?.(error);
        continue;
      }
      if ("unknown" in event) continue;
      if (event.type === "start") this.#adoptStart(event.data);
      const id = message.id === "" ? null : message.id;
      this.callbacks.onEvent?.(event, id);
      this.#hooks.event(event, id);
      if (event.type === "done") return { kind: "done" };
    }
    return null;
  }

  #adoptHeaders(response: Response): void {
    const streamId = response.headers.get("x-agent-stream-id");
    if (streamId !== null && streamId !== "" && this.#ids.streamId === null) {
      // resumable even if the priming frame gets lost
      if (this.#lastId === null) {
        this.#lastId = `${streamId}:0`;
        this.#ids.adopt(streamId, 0);
      } else {
        this.#ids.adopt(streamId);
      }
    }
    const resumeUrl = response.headers.get("x-agent-stream-resume-url");
    if (resumeUrl !== null && resumeUrl !== "" && this.#resumeUrl === null) this.#resumeUrl = this.resolve(resumeUrl);
  }

  #adoptStart(data: EventData<"start">): void {
    this.#heartbeatMs = data.heartbeat_ms;
    if (data.resume_url !== "") this.#resumeUrl = this.resolve(data.resume_url);
    if (data.stop_url !== "") this.stopUrl = this.resolve(data.stop_url);
    if (this.#attempt !== null) this.#armLiveness(this.#attempt);
  }

  #armLiveness(attempt: AbortController): void {
    this.#clearLiveness();
    const liveness = this.#options.liveness;
    if (liveness === false) return;
    const deadline = liveness.heartbeatFactor * this.#heartbeatMs + liveness.marginMs;
    this.#liveness = this.#options.scheduler.setTimeout(() => {
      this.#liveness = null;
      attempt.abort(new AgentStreamError(`connection stalled: no bytes for ${deadline} ms (heartbeat ${this.#heartbeatMs} ms)`, { code: "stalled" }));
    }, deadline);
  }

  #clearLiveness(): void {
    if (this.#liveness !== null) {
      this.#options.scheduler.clearTimeout(this.#liveness);
      this.#liveness = null;
    }
  }

  #visibilityChanged(): void {
    const visibility = this.#options.visibility;
    if (visibility === null || visibility.visibilityState !== "visible" || this.#ended) return;
    if (this.#wake !== null) {
      this.#wake(); // waiting to reconnect: go now
      return;
    }
    const silence = this.#options.scheduler.now() - this.#lastByteAt;
    if (this.#streaming && this.#attempt !== null && silence > this.#heartbeatMs + VISIBLE_STALL_MARGIN_MS) {
      // e.g. the machine slept: the socket may be dead without an error; resume by id now
      this.#resumeNow = true;
      this.#attempt.abort(new AgentStreamError(`connection stalled: no bytes for ${Math.round(silence)} ms while hidden`, { code: "stalled" }));
    }
  }
}
