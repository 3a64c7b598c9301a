/** Test doubles: a scripted fetch whose bodies we feed chunk by chunk, and a manual clock. */
import type { Scheduler } from "../src/scheduler";

export interface Timer {
  at: number;
  seq: number;
  callback: () => void;
}

/** Time moves only when a test says so; timers fire in order. */
export class FakeScheduler implements Scheduler {
  time = 0;
  randomValue = 0.5;
  readonly timers = new Map<number, Timer>();
  #seq = 0;
  frames: (() => void)[] | null = null;

  now = (): number => this.time;
  random = (): number => this.randomValue;
  setTimeout = (callback: () => void, ms: number): number => {
    const seq = ++this.#seq;
    this.timers.set(seq, { at: this.time + Math.max(0, ms), seq, callback });
    return seq;
  };
  clearTimeout = (handle: unknown): void => {
    this.timers.delete(handle as number);
  };

  /** Switch on animation frames (`frame` batching); `frame()` runs them. */
  enableFrames(): void {
    this.frames = [];
    this.requestAnimationFrame = (callback) => {
      this.frames?.push(callback);
      return callback;
    };
    this.cancelAnimationFrame = (handle) => {
      if (this.frames) this.frames = this.frames.filter((f) => f !== handle);
    };
  }
  requestAnimationFrame?: (callback: () => void) => unknown;
  cancelAnimationFrame?: (handle: unknown) => void;

  frame(): void {
    const due = this.frames ?? [];
    this.frames = [];
    for (const callback of due) callback();
  }

  /** The delay of the next timer from now, or null. */
  nextDelay(): number | null {
    let next: number | null = null;
    for (const timer of this.timers.values()) next = next === null ? timer.at : Math.min(next, timer.at);
    return next === null ? null : next - this.time;
  }

  /** Move the clock by `ms`, firing each timer that falls due (timers it sets fire too). */
  advance(ms: number): void {
    const end = this.time + ms;
    for (;;) {
      let next: Timer | undefined;
      for (const timer of this.timers.values()) {
        if (timer.at <= end && (next === undefined || timer.at < next.at || (timer.at === next.at && timer.seq < next.seq))) next = timer;
      }
      if (next === undefined) break;
      this.timers.delete(next.seq);
      this.time = next.at;
      next.callback();
    }
    this.time = end;
  }
}

/** Let pending promise reactions run (the client's awaits). */
export async function settle(rounds = 5): Promise<void> {
  for (let i = 0; i < rounds; i += 1) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** A response body fed by the test. */
export class ScriptedBody {
  readonly stream: ReadableStream<Uint8Array>;
  #controller!: ReadableStreamDefaultController<Uint8Array>;
  cancelled = false;
  readonly #encoder = new TextEncoder();

  constructor() {
    this.stream = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.#controller = controller;
      },
      cancel: () => {
        this.cancelled = true;
      },
    });
  }
  push(chunk: string | Uint8Array): void {
    if (this.cancelled) return;
    this.#controller.enqueue(typeof chunk === "string" ? this.#encoder.encode(chunk) : chunk);
  }
  close(): void {
    if (!this.cancelled) this.#controller.close();
  }
  fail(error: Error): void {
    if (!this.cancelled) this.#controller.error(error);
  }
}

export interface RecordedRequest {
  url: string;
  method: string;
  headers: Headers;
  body: string | undefined;
  signal: AbortSignal | undefined;
}

type Answer = Response | Error | ((request: RecordedRequest) => Response | Error);

/** fetch that records each request and answers from a queue the test fills. */
export class FakeFetch {
  readonly requests: RecordedRequest[] = [];
  readonly #answers: Answer[] = [];

  /** Queue a streaming 200 answer; returns its body to feed. */
  stream(headers: Record<string, string> = {}): ScriptedBody {
    const body = new ScriptedBody();
    this.#answers.push(
      new Response(body.stream, { status: 200, headers: { "Content-Type": "text/event-stream; charset=utf-8", ...headers } }),
    );
    return body;
  }
  status(status: number, body = "", headers: Record<string, string> = {}): void {
    this.#answers.push(new Response(body, { status, headers }));
  }
  reject(error: Error = new TypeError("Failed to fetch")): void {
    this.#answers.push(error);
  }
  answer(answer: Answer): void {
    this.#answers.push(answer);
  }

  readonly fetch: typeof fetch = async (input, init) => {
    const request: RecordedRequest = {
      url: String(input),
      method: init?.method ?? "GET",
      headers: new Headers(init?.headers),
      body: typeof init?.body === "string" ? init.body : undefined,
      signal: init?.signal ?? undefined,
    };
    this.requests.push(request);
    let answer = this.#answers.shift();
    if (answer === undefined) throw new Error(`FakeFetch: no answer queued for ${request.method} ${request.url}`);
    if (typeof answer === "function") answer = answer(request);
    if (answer instanceof Error) throw answer;
    return answer;
  };
}

const SID = "AAAAAAAAAAAAAAAAAAAAAA";
export { SID };

/** The priming frame of a response. */
export function startFrame(options: { seq?: number; resumed?: boolean; heartbeatMs?: number; retryMs?: number; resumeWindowMs?: number } = {}): string {
  const data: Record<string, unknown> = {
    stream_id: SID,
    protocol_version: 1,
    heartbeat_ms: options.heartbeatMs ?? 15000,
    resume_url: `/api/streams/${SID}`,
    stop_url: `/api/streams/${SID}/stop`,
    resumed: options.resumed ?? false,
  };
  if (options.resumeWindowMs !== undefined) data.resume_window_ms = options.resumeWindowMs;
  return `id: ${SID}:${options.seq ?? 0}\nretry: ${options.retryMs ?? 1000}\nevent: start\ndata: ${JSON.stringify(data)}\n\n`;
}

/** One event frame with id `<SID>:<seq>`. */
export function frame(seq: number, type: string, data: unknown): string {
  return `id: ${SID}:${seq}\nevent: ${type}\ndata: ${JSON.stringify(data)}\n\n`;
}
