/**
 * `AgentStreamClient`: one agent run over fetch, as an external store.
 *
 * `start()` sends the request and folds its events into state; `subscribe` / `getSnapshot` expose
 * that state (the snapshot object changes only when the state does). The transport surfaces HTTP
 * statuses >= 400 at once, resumes lost connections with `Last-Event-ID` (never re-sending the
 * original request without one once the server answered: that would run the agent again; before
 * an answer it re-sends it with the same `Idempotency-Key`, so the server attaches it to the run
 * it may already have started), drops
 * events it already has by seq, and always ends a run with one `done` (a synthetic one when the
 * server cannot finish it).
 */
import { type Batching, TokenBatcher } from "./batching.js";
import { type AgentStreamError, asAgentError, UsageError } from "./errors.js";
import { type AgentEvent, type EventData, parseEvent } from "./events.js";
import { type HeadersLike, statusError } from "./http.js";
import { initialState, reduceMany, type StreamState, withLastEventId } from "./reducer.js";
import { DEFAULT_RETRY_POLICY, type RetryPolicy } from "./retry.js";
import { type ConnectionStatus, type Run, type RunHooks, startRun } from "./run.js";
import { defaultScheduler, type Scheduler } from "./scheduler.js";

export type { ConnectionStatus };

/** What `getSnapshot()` returns: the folded stream state plus the transport's status. */
export interface ClientSnapshot extends StreamState {
  readonly connection: ConnectionStatus;
  /** Reconnections made in this run. */
  readonly reconnects: number;
  /** Why the run failed (HTTP status, resume refused, connection lost), or null. */
  readonly failure: AgentStreamError | null;
}

export interface StreamCallbacks {
  /** Every known event as it arrives (before token batching), with its id. */
  onEvent?: (event: AgentEvent, id: string | null) => void;
  /** The run ended (a real or synthetic `done`). */
  onDone?: (done: EventData<"done">, snapshot: ClientSnapshot) => void;
  /** An error: the run's failure, an invalid event that was skipped, or a failed stop request. */
  onError?: (error: AgentStreamError) => void;
}

export interface LivenessOptions {
  /**
   * The connection is dead after a silence of `heartbeatFactor * heartbeat_ms + marginMs`
   * (default 2.5 x heartbeat_ms + 1000 ms, as in the Python client).
   */
  heartbeatFactor?: number;
  marginMs?: number;
}

/** Something with the page's visibility (the DOM `document`); null turns the feature off. */
export interface VisibilitySource {
  readonly visibilityState: string;
  addEventListener(type: "visibilitychange", listener: () => void): void;
  removeEventListener(type: "visibilitychange", listener: () => void): void;
}

/** What is stored for a run (see `@agent-stream/client/persist`). */
export interface PersistedRun {
  readonly streamId: string;
  /** Absolute URL of the GET resume route (the start event's `resume_url`). */
  readonly resumeUrl: string;
  /** The last event id the page folded into its state (informational: re-attaching replays from 0). */
  readonly lastEventId: string | null;
}

/** Where the `persist` option keeps the active run; `sessionPersistence()` makes one. */
export interface RunPersistence {
  load(): PersistedRun | null;
  /** Store the run, or with null forget it. */
  save(run: PersistedRun | null): void;
}

export interface AgentStreamClientOptions {
  /** Method of the first request (default POST). */
  method?: string;
  /** Sent with every request: the stream, its resumes, stop and `send` (e.g. Authorization). */
  headers?: HeadersLike;
  fetch?: typeof fetch;
  /** Token batching: `"fixed"` (50 ms, default), `"adaptive"`, `"frame"`, `"none"` or options. */
  batching?: Batching;
  /** Reconnection policy; `retryStatuses` opts into retrying 429/503 after `Retry-After`. */
  retry?: Partial<RetryPolicy>;
  /** Dead-connection detection from the heartbeat the `start` event announces; false turns it off. */
  liveness?: LivenessOptions | false;
  /** Resume by re-sending the request with Last-Event-ID (default) or by GET of the start's resume_url. */
  resumeWith?: "request" | "resume_url";
  /** Clock, timers, frames and randomness (tests inject fakes). */
  scheduler?: Partial<Scheduler>;
  /** Page visibility; default `globalThis.document` when there is one. */
  visibility?: VisibilitySource | null;
  /**
   * Largest event data accepted, in characters. Default: the size the server's `start` event
   * announces (`max_event_bytes`; 1 MiB when it names none); set, it wins. A larger event ends
   * the run with a synthetic `done` (`reason: "error"`, failure `event-too-large`).
   */
  maxEventSize?: number;
  /**
   * Remember the active run (stream id, resume URL, last event id) so that `reattach()` after a
   * reload replays it and follows it live: `sessionPersistence()` from
   * `@agent-stream/client/persist`. The server must advertise a resume URL (mount its stream
   * routes). Default off.
   */
  persist?: RunPersistence | null;
}

export interface ResolvedOptions {
  method: string;
  headers: Headers;
  fetch: typeof fetch;
  batching: Batching;
  retry: RetryPolicy;
  liveness: Required<LivenessOptions> | false;
  resumeWith: "request" | "resume_url";
  scheduler: Scheduler;
  visibility: VisibilitySource | null;
  maxEventSize: number | null;
  persist: RunPersistence | null;
}

function resolveOptions(options: AgentStreamClientOptions): ResolvedOptions {
  const doc = (globalThis as { document?: VisibilitySource }).document;
  return {
    method: options.method ?? "POST",
    headers: new Headers(options.headers as HeadersInit | undefined),
    fetch: options.fetch ?? ((input, init) => globalThis.fetch(input, init)),
    batching: options.batching ?? "fixed",
    retry: { ...DEFAULT_RETRY_POLICY, ...options.retry },
    liveness: options.liveness === false ? false : { heartbeatFactor: 2.5, marginMs: 1000, ...options.liveness },
    resumeWith: options.resumeWith ?? "request",
    scheduler: { ...defaultScheduler(), ...options.scheduler },
    visibility: options.visibility !== undefined ? options.visibility : (doc ?? null),
    maxEventSize: options.maxEventSize ?? null,
    persist: options.persist ?? null,
  };
}

const INITIAL_SNAPSHOT: ClientSnapshot = Object.freeze({
  ...initialState,
  connection: "idle",
  reconnects: 0,
  failure: null,
});

export class AgentStreamClient {
  #options: ResolvedOptions;
  #snapshot: ClientSnapshot = INITIAL_SNAPSHOT;
  #state: StreamState = initialState;
  #connection: ConnectionStatus = "idle";
  #reconnects = 0;
  #failure: AgentStreamError | null = null;
  #pending: AgentEvent[] = [];
  #pendingId: string | null = null;
  #batcher: TokenBatcher | null = null;
  #run: Run | null = null;
  #saved: PersistedRun | null = null;
  #reattaching: Run | null = null;
  readonly #listeners = new Set<() => void>();

  constructor(options: AgentStreamClientOptions = {}) {
    this.#options = resolveOptions(options);
  }

  /** Replace options for the next `start()` (a running stream keeps the ones it began with). */
  configure(options: AgentStreamClientOptions): void {
    this.#options = resolveOptions(options);
  }

  /** Subscribe to snapshot changes; returns the unsubscribe function. */
  subscribe = (listener: () => void): (() => void) => {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  };

  /** The current snapshot: the same object until the state changes. */
  getSnapshot = (): ClientSnapshot => this.#snapshot;

  /** True while a run is connecting, streaming or waiting to reconnect. */
  get isActive(): boolean {
    return this.#run !== null;
  }

  /**
   * Send the request and stream its events into the state. A run already going is stopped first.
   * Resolves with the final snapshot when the run ends (it never rejects: failures are state).
   */
  start(url: string, body?: unknown, callbacks: StreamCallbacks = {}): Promise<ClientSnapshot> {
    if (typeof url !== "string" || url === "") {
      throw new UsageError(`start() needs a URL, got ${JSON.stringify(url)}`, { code: "invalid-url" });
    }
    if (this.#run !== null) void this.stop();
    this.#remember(null);
    return this.#begin(url, body, callbacks, this.#options);
  }

  /**
   * With the `persist` option: re-attach to the run remembered before a reload, replaying it from
   * its first event (GET of its resume URL with `Last-Event-ID: <stream_id>:0`) so the state is
   * rebuilt as it was, then following it live; a run that has ended shows its final state and does
   * not reconnect. Returns null (and does nothing) when no run is remembered or one is going.
   */
  reattach(callbacks: StreamCallbacks = {}): Promise<ClientSnapshot> | null {
    const saved = this.#run === null ? this.#options.persist?.load() : null;
    if (!saved) return null;
    this.#saved = saved;
    const headers = new Headers(this.#options.headers);
    headers.set("Last-Event-ID", `${saved.streamId}:0`);
    const finished = this.#begin(saved.resumeUrl, undefined, callbacks, { ...this.#options, method: "GET", headers });
    this.#reattaching = this.#run;
    return finished;
  }

  #begin(url: string, body: unknown, callbacks: StreamCallbacks, options: ResolvedOptions): Promise<ClientSnapshot> {
    this.#clear({ ...initialState, isStreaming: true }, "connecting");
    this.#batcher = new TokenBatcher(options.batching, options.scheduler, () => this.#flushPending());
    const run = startRun(this.#hooks, options, url, body, callbacks);
    this.#run = run;
    return run.finished.then(() => this.#snapshot);
  }

  /**
   * Stop the run: flush pending text, abort the connection and POST the start event's stop_url
   * (same headers) so the server cancels the agent. The state ends with a synthetic
   * `done{reason: "cancelled"}`. Resolves when the stop request answered.
   */
  async stop(): Promise<void> {
    const run = this.#run;
    if (run === null) return;
    const stopUrl = run.stopUrl;
    run.cancel("cancelled", null);
    if (stopUrl === null) return;
    try {
      const response = await this.send(stopUrl, { method: "POST", cache: "no-store" });
      const { status } = response;
      // 404: the run already ended on its own
      if (status >= 400 && status !== 404) {
        const body = await response.text().catch(() => "");
        throw statusError(status, response.headers, { method: "POST", url: stopUrl, statusText: response.statusText, body });
      }
    } catch (error) {
      run.callbacks.onError?.(asAgentError(error, "stop-failed"));
    }
  }

  /** Abort the connection without asking the server to stop (e.g. on unmount). */
  abort(): void {
    this.#run?.cancel("cancelled", null);
  }

  /** Abort any run and go back to the initial state. */
  reset(): void {
    this.abort();
    this.#remember(null);
    this.#clear(initialState, "idle");
  }

  /** Drop pending text and the failure; show `state` with `connection`. */
  #clear(state: StreamState, connection: ConnectionStatus): void {
    this.#batcher?.cancel();
    this.#pending = [];
    this.#pendingId = null;
    this.#state = state;
    this.#connection = connection;
    this.#reconnects = 0;
    this.#failure = null;
    this.#commit();
  }

  /** Store (or with null forget) the run a reload re-attaches to. */
  #remember(run: PersistedRun | null): void {
    this.#saved = run;
    this.#options.persist?.save(run);
  }

  /** A URL the server named (`respond_url`, ...), resolved against the current run's request URL. */
  resolve(ref: string): string {
    return this.#run?.resolve(ref) ?? ref;
  }

  /**
   * `fetch` with the client's fetch and headers (`init.headers` added to them): for requests
   * about a run such as `stop()` and `respond()` from `@agent-stream/client/respond`.
   */
  send(url: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(this.#options.headers);
    new Headers(init.headers).forEach((value, name) => headers.set(name, value));
    return this.#options.fetch(url, { ...init, headers });
  }

  /** What the current run reports (a run goes quiet once it ended, before another starts). */
  readonly #hooks: RunHooks = {
    event: (event, id) => this.#receive(event, id),
    commit: () => this.#commit(),
    connection: (status, reconnects) => {
      this.#connection = status;
      this.#reconnects = reconnects;
      this.#commit();
    },
    end: (run, failure, done) => this.#end(run, done, failure),
  };

  #receive(event: AgentEvent, id: string | null): void {
    if (event.type === "start" && this.#options.persist && this.#run !== null) {
      const resumeUrl = event.data.resume_url;
      if (resumeUrl) this.#remember({ streamId: event.data.stream_id, resumeUrl: this.#run.resolve(resumeUrl), lastEventId: id });
    }
    if (event.type === "token" || event.type === "thinking") {
      this.#pending.push(event);
      if (id !== null) this.#pendingId = id;
      this.#batcher?.add();
      return;
    }
    this.#batcher?.flushNow();
    // reduce()'s one-token shortcut is for callers that fold tokens one by one; here they are batched
    this.#state = withLastEventId(reduceMany(this.#state, [event]), id ?? this.#state.lastEventId);
  }

  #flushPending(): boolean {
    const pending = this.#pending;
    if (pending.length === 0) return false;
    this.#pending = [];
    const state = reduceMany(this.#state, pending);
    this.#state = withLastEventId(state, this.#pendingId ?? state.lastEventId);
    this.#pendingId = null;
    this.#commit();
    return true;
  }

  #end(run: Run, done: EventData<"done">, failure: AgentStreamError | null): void {
    this.#run = null;
    this.#batcher?.flushNow();
    const reattached = this.#reattaching === run;
    if (reattached) this.#reattaching = null;
    // an HTTPStatusError's (a ResumeError's status goes with its code)
    const status = (failure as { status?: number } | null)?.status;
    if (failure !== null && (failure.code === "unknown-stream" || failure.code === "expired" || (reattached && (status === 404 || status === 410)))) {
      // the server forgot the run: a reload has nothing to come back to
      this.#remember(null);
      // nothing was replayed: back to the initial state
      if (reattached && this.#state.lastEventId === null) return this.#clear(initialState, "idle");
    }
    // a run that ended without the server's done gets one: never an endless spinner (after the
    // server's done the reducer takes neither event)
    const events: AgentEvent[] = [{ type: "done", data: done }];
    if (failure !== null) {
      events.unshift(parseEvent("error", { error_type: failure.code, message: failure.message }) as AgentEvent);
      this.#failure = failure;
    }
    const state = reduceMany(this.#state, events);
    this.#state = state;
    this.#connection = "closed";
    this.#commit();
    if (failure !== null) run.callbacks.onError?.(failure);
    run.callbacks.onDone?.(state.done as EventData<"done">, this.#snapshot);
  }

  #commit(): void {
    const current = this.#snapshot;
    const state = this.#state;
    if (
      current.connection === this.#connection &&
      current.reconnects === this.#reconnects &&
      current.failure === this.#failure &&
      this.#snapshotState === state
    ) {
      return;
    }
    this.#snapshotState = state;
    const saved = this.#saved;
    if (saved !== null && saved.lastEventId !== state.lastEventId) this.#remember({ ...saved, lastEventId: state.lastEventId });
    this.#snapshot = { ...state, connection: this.#connection, reconnects: this.#reconnects, failure: this.#failure };
    for (const listener of [...this.#listeners]) listener();
  }

  #snapshotState: StreamState = initialState;
}
