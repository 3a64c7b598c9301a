/**
 * One agent run's transport: the request, its resumes and the read loop. The decisions (cursor,
 * dedupe, retry or give up) are {@link ResumeCore}'s; a run does the I/O around it (fetch,
 * timers, page visibility). The client owns the state; a run reports events, connection changes
 * and its end to the client's {@link RunHooks}, and goes quiet once it ended (the client replaces a
 * run only after ending it).
 *
 * A closure, not a class: its state lives in local variables, which minify to one letter each.
 */
import { AgentStreamError, asAgentError } from "./errors.js";
import { type AgentEvent, type EventData, parseEvent, type UnknownEvent } from "./events.js";
import { newIdempotencyKey, resolveUrl } from "./http.js";
import { type Action, type DoneReason, type FeedOutcome, ResumeCore } from "./resume.js";
import { sendReport } from "./report.js";
import type { StreamCallbacks, ResolvedOptions } from "./client.js";
import type { TimerHandle } from "./scheduler.js";

export type ConnectionStatus = "idle" | "connecting" | "streaming" | "reconnecting" | "closed";

/** A run as the client holds it. */
export interface Run {
  readonly finished: Promise<void>;
  readonly callbacks: StreamCallbacks;
  /** The start event's stop URL, resolved; null before it. */
  readonly stopUrl: string | null;
  /** A URL the server named, resolved against the request URL. */
  resolve(ref: string): string;
  /** End the run now (stop, abort, reset): abort the connection, end with a synthetic done. */
  cancel(reason: DoneReason, failure: AgentStreamError | null): void;
}

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
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    // an abort before this call does not fire the listener
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
    // handles the promise's rejection too (a later one changes nothing)
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

const stalled = (message: string) => new AgentStreamError(`connection stalled: no bytes for ${message}`, { code: "stalled" });

export function startRun(hooks: RunHooks, options: ResolvedOptions, url: string, body: unknown, callbacks: StreamCallbacks): Run {
  const { scheduler, visibility, liveness } = options;
  const core = new ResumeCore({
    retry: options.retry,
    random: scheduler.random,
    resumeWith: options.resumeWith,
    // one key per start(): a re-send of the first request (fetch rejected before any answer,
    // or an opted-in 429/503) attaches to the run it may have started instead of another
    idempotencyKey: options.headers.get("idempotency-key") ?? newIdempotencyKey(),
    maxEventSize: options.maxEventSize,
  });
  let attempt: AbortController | null = null;
  let livenessTimer: TimerHandle | null = null;
  let wake: (() => void) | null = null;
  let streaming = false;
  let resumeNow = false;
  let lastByteAt = 0;
  let ended = false;

  const resolve = (ref: string) => resolveUrl(ref, url);
  const deliver = (event: AgentEvent | UnknownEvent, id: string | null): void => {
    // the callbacks and the state take known types only, and nothing after the end (a callback
    // may stop the run in the middle of a chunk)
    if ("unknown" in event || ended) return;
    callbacks.onEvent?.(event, id);
    hooks.event(event, id);
  };
  const invalid = (error: AgentStreamError): void => callbacks.onError?.(error);

  const clearLiveness = () => {
    if (livenessTimer !== null) scheduler.clearTimeout(livenessTimer);
    livenessTimer = null;
  };
  const armLiveness = (current: AbortController) => {
    clearLiveness();
    if (liveness === false) return;
    const heartbeatMs = core.heartbeatMs;
    const deadline = liveness.heartbeatFactor * heartbeatMs + liveness.marginMs;
    livenessTimer = scheduler.setTimeout(() => current.abort(stalled(`${deadline} ms (heartbeat ${heartbeatMs} ms)`)), deadline);
  };

  const end = (reason: DoneReason, failure: AgentStreamError | null): void => {
    if (ended) return;
    ended = true;
    visibility?.removeEventListener("visibilitychange", visibilityChanged);
    clearLiveness();
    const done = parseEvent("done", { reason, synthetic: true }) as AgentEvent & { type: "done" };
    hooks.end(run, failure, done.data);
  };

  /** The attempt `current` failed with `error` (or the reason it was aborted for). */
  const lost = (error: unknown, current: AbortController): Outcome => {
    if (ended) return { kind: "aborted" };
    const failure = asAgentError(current.signal.aborted ? current.signal.reason : error, "connection-lost");
    return core.lost(failure.code === "stalled" ? "stalled" : "network", failure, scheduler.now());
  };

  const connect = async (): Promise<Outcome> => {
    const plan = core.request();
    const current = new AbortController();
    // the attempt in flight: a cancel or a page that comes back visible aborts it
    attempt = current;
    let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
    try {
      const headers = new Headers(options.headers);
      // header names are case-insensitive: a header the caller set wins
      const preset = (name: string, value: string) => headers.has(name) || headers.set(name, value);
      preset("Accept", "text/event-stream");
      let target = url;
      let method = options.method.toUpperCase();
      let sent: string | undefined;
      if (plan.lastEventId === null) {
        if (plan.idempotencyKey !== null) preset("Idempotency-Key", plan.idempotencyKey);
      } else {
        headers.set("Last-Event-ID", plan.lastEventId);
        if (plan.resumeUrl !== null) {
          target = resolve(plan.resumeUrl);
          method = "GET";
        }
      }
      if (method !== "GET" && method !== "HEAD" && body !== undefined) {
        sent = typeof body === "string" ? body : JSON.stringify(body);
        preset("Content-Type", "application/json");
      }
      armLiveness(current);
      try {
        const response = await raceAbort(options.fetch(target, { method, headers, body: sent, signal: current.signal, cache: "no-store" }), current.signal);
        core.alive(scheduler.now());
        const { status } = response;
        const text = status >= 400 ? await raceAbort(response.text(), current.signal).catch(() => "") : "";
        const action = core.response(status, response.headers, { method, url: target, statusText: response.statusText, body: text, nowMs: Date.now() });
        if (action !== null) return action;
        if (response.body === null) return core.lost("eof", null, scheduler.now());
        streaming = true;
        if (!ended) hooks.connection("streaming", core.reconnects);
        reader = response.body.getReader();
        for (;;) {
          const { done, value } = await raceAbort(reader.read(), current.signal);
          let outcome: FeedOutcome;
          if (done) {
            outcome = core.end(deliver, invalid);
          } else {
            core.alive((lastByteAt = scheduler.now()));
            outcome = core.feed(value, deliver, invalid);
            armLiveness(current);
          }
          hooks.commit();
          if (outcome === "done") return { kind: "done" };
          if (outcome === "reconnect") return core.lost("reconnect");
          if (outcome !== null) return outcome;
          if (done) return core.lost("eof", null, scheduler.now());
        }
      } catch (error) {
        return lost(error, current);
      }
    } finally {
      reader?.cancel().catch(() => undefined);
      streaming = false;
      clearLiveness();
      if (attempt === current) attempt = null;
      // ends what the attempt left open (its body); the reason reaches no caller
      current.abort();
    }
  };

  const sleep = (ms: number): Promise<void> =>
    new Promise((done) => {
      const timer = scheduler.setTimeout((wake = () => {
        scheduler.clearTimeout(timer);
        wake = null;
        done();
      }), ms);
    });

  const loop = async (): Promise<void> => {
    try {
      while (!ended) {
        const outcome = await connect();
        if (ended) return;
        if (outcome.kind === "retry") {
          hooks.connection("reconnecting", core.reconnects);
          const delay = resumeNow ? 0 : outcome.delayMs;
          resumeNow = false;
          if (delay > 0) await sleep(delay);
        } else if (outcome.kind === "give-up") {
          // the user saw a broken stream: tell the server once (best effort, never retried)
          const ref = core.reportUrl;
          if (ref !== null) void sendReport(options.fetch, resolve(ref), options.headers, outcome.code, core.maxSeq, core.failures);
          return end(outcome.reason, outcome.failure);
        } else {
          return end("completed", null);
        }
      }
    } catch (error) {
      end("error", asAgentError(error, "internal-error"));
    }
  };

  function visibilityChanged(): void {
    if (visibility?.visibilityState !== "visible" || ended) return;
    if (wake !== null) return wake(); // waiting to reconnect: go now
    const silence = scheduler.now() - lastByteAt;
    if (streaming && attempt !== null && silence > core.heartbeatMs + VISIBLE_STALL_MARGIN_MS) {
      // e.g. the machine slept: the socket may be dead without an error; resume by id now
      resumeNow = true;
      attempt.abort(stalled(`${Math.round(silence)} ms while hidden`));
    }
  }

  const run = {
    callbacks,
    get stopUrl() {
      return core.stopUrl && resolve(core.stopUrl);
    },
    resolve,
    cancel(reason: DoneReason, failure: AgentStreamError | null): void {
      if (ended) return;
      core.stop();
      end(reason, failure);
      // the attempt sees the abort and reports nothing: the run has ended
      attempt?.abort();
      wake?.();
    },
  } as Run & { finished: Promise<void> };
  visibility?.addEventListener("visibilitychange", visibilityChanged);
  run.finished = loop();
  return run;
}
