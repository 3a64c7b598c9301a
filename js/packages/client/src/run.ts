/**
 * One agent run's transport: the request, its resumes and the read loop. The decisions (cursor,
 * dedupe, retry or give up) are {@link ResumeCore}'s; a Run does the I/O around it (fetch,
 * timers, page visibility). The client owns the state; a Run reports events, connection changes
 * and its end through {@link RunHooks}.
 */
import { AgentStreamError } from "./errors.js";
import { type AgentEvent, type EventData, parseEvent, type UnknownEvent } from "./events.js";
import { newIdempotencyKey, resolveUrl } from "./http.js";
import { type Action, type DoneReason, type FeedOutcome, type LostKind, ResumeCore } from "./resume.js";
import { sendReport } from "./report.js";
import type { StreamCallbacks, ResolvedOptions } from "./client.js";
import type { TimerHandle } from "./scheduler.js";

export type ConnectionStatus = "idle" | "connecting" | "streaming" | "reconnecting" | "closed";

export interface RunHooks {
  event(event: AgentEvent, id: string | null): void;
  /** Publish what the events of one chunk changed. */
  commit(): void;
  connection(status: ConnectionStatus, reconnects: number): void;
  end(run: Run, failure: AgentStreamError | null, done: EventData<"done">): void;
}

/** How one attempt ended: the stream is done, the run was aborted, or the core decided. */
type Outcome = { kind: "done" } | { kind: "aborted" } | Action;

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
  readonly #core: ResumeCore;
  #attempt: AbortController | null = null;
  #liveness: TimerHandle | null = null;
  #wake: (() => void) | null = null;
  #streaming = false;
  #resumeNow = false;
  #lastByteAt = 0;
  #ended = false;
  readonly #onVisibility = () => this.#visibilityChanged();
  readonly #deliver = (event: AgentEvent | UnknownEvent, id: string | null): void => {
    if ("unknown" in event) return; // the callbacks and the state take known types only
    if (event.type === "start" && this.#core.stopUrl !== null) this.stopUrl = this.resolve(this.#core.stopUrl);
    this.callbacks.onEvent?.(event, id);
    this.#hooks.event(event, id);
  };
  readonly #invalid = (error: AgentStreamError): void => {
    this.callbacks.onError?.(error);
  };

  constructor(hooks: RunHooks, options: ResolvedOptions, url: string, body: unknown, callbacks: StreamCallbacks) {
    this.#hooks = hooks;
    this.#options = options;
    this.#url = url;
    this.#body = body;
    this.callbacks = callbacks;
    this.#core = new ResumeCore({
      retry: options.retry,
      random: options.scheduler.random,
      resumeWith: options.resumeWith,
      // one key per start(): a re-send of the first request (fetch rejected before any answer,
      // or an opted-in 429/503) attaches to the run it may have started instead of another
      idempotencyKey: options.headers.get("idempotency-key") ?? newIdempotencyKey(),
      maxEventSize: options.maxEventSize,
    });
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
    this.#core.stop();
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
    try {
      while (!this.#ended) {
        const outcome = await this.#connect();
        if (this.#ended) return;
        switch (outcome.kind) {
          case "done":
          case "aborted":
            this.#end("completed", null);
            return;
          case "give-up": {
            // the user saw a broken stream: tell the server once (best effort, never retried)
            const core = this.#core;
            const ref = core.reportUrl;
            if (ref !== null) void sendReport(this.#options.fetch, this.resolve(ref), this.#options.headers, outcome.code, core.maxSeq, core.failures);
            this.#end(outcome.reason, outcome.failure);
            return;
          }
          case "retry": {
            this.#hooks.connection("reconnecting", this.#core.reconnects);
            const delay = this.#resumeNow ? 0 : outcome.delayMs;
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
    const core = this.#core;
    const plan = core.request();
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
      if (plan.lastEventId === null) {
        if (plan.idempotencyKey !== null && !headers.has("idempotency-key")) headers.set("Idempotency-Key", plan.idempotencyKey);
      } else {
        headers.set("Last-Event-ID", plan.lastEventId);
        if (plan.resumeUrl !== null) {
          url = this.resolve(plan.resumeUrl);
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
        return this.#lost(error, attempt, "network");
      }
      core.alive(options.scheduler.now());
      let text = "";
      if (response.status >= 400) text = await raceAbort(response.text(), attempt.signal).catch(() => "");
      const action = core.response(response.status, response.headers, {
        method,
        url,
        statusText: response.statusText,
        body: text,
        nowMs: Date.now(),
      });
      if (action !== null) return action;
      if (response.body === null) return this.#lost(new Error("the response has no body"), attempt, "eof");
      this.#streaming = true;
      this.#hooks.connection("streaming", core.reconnects);
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
    const core = this.#core;
    try {
      for (;;) {
        const { done, value } = await raceAbort(reader.read(), attempt.signal);
        let outcome: FeedOutcome;
        if (done) {
          outcome = core.end(this.#deliver, this.#invalid);
        } else {
          this.#lastByteAt = this.#options.scheduler.now();
          core.alive(this.#lastByteAt);
          outcome = core.feed(value, this.#deliver, this.#invalid);
          this.#armLiveness(attempt);
        }
        this.#hooks.commit();
        if (outcome === "done") return { kind: "done" };
        if (outcome === "reconnect") return core.lost("reconnect");
        if (outcome !== null) return outcome;
        if (done) {
          const error = new AgentStreamError("connection lost: the response ended before done", { code: "connection-lost" });
          return core.lost("eof", error, this.#options.scheduler.now());
        }
      }
    } catch (error) {
      return this.#lost(error, attempt, "network");
    } finally {
      reader.cancel().catch(() => undefined);
    }
  }

  #lost(error: unknown, attempt: AbortController, kind: LostKind): Outcome {
    if (this.#controller.signal.aborted || this.#ended) return { kind: "aborted" };
    const reason: unknown = attempt.signal.aborted ? attempt.signal.reason : error;
    const failure = asAgentError(reason, "connection-lost");
    return this.#core.lost(failure.code === "stalled" ? "stalled" : kind, failure, this.#options.scheduler.now());
  }

  #armLiveness(attempt: AbortController): void {
    this.#clearLiveness();
    const liveness = this.#options.liveness;
    if (liveness === false) return;
    const heartbeatMs = this.#core.heartbeatMs;
    const deadline = liveness.heartbeatFactor * heartbeatMs + liveness.marginMs;
    this.#liveness = this.#options.scheduler.setTimeout(() => {
      this.#liveness = null;
      attempt.abort(new AgentStreamError(`connection stalled: no bytes for ${deadline} ms (heartbeat ${heartbeatMs} ms)`, { code: "stalled" }));
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
    if (this.#streaming && this.#attempt !== null && silence > this.#core.heartbeatMs + VISIBLE_STALL_MARGIN_MS) {
      // e.g. the machine slept: the socket may be dead without an error; resume by id now
      this.#resumeNow = true;
      this.#attempt.abort(new AgentStreamError(`connection stalled: no bytes for ${Math.round(silence)} ms while hidden`, { code: "stalled" }));
    }
  }
}
