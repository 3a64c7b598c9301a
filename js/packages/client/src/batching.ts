/**
 * When buffered token text becomes state: a flush policy, so a UI renders a few times per frame
 * interval instead of once per token. The client owns the buffer; the batcher only decides when
 * to call `flush`.
 *
 * - `fixed`: at most one flush per `intervalMs` (50 ms default). A token arriving after a quiet
 *   interval flushes at once (leading edge), so slow streams get no added delay.
 * - `adaptive`: the interval follows a moving average of the gap between tokens, clamped to
 *   [minIntervalMs, maxIntervalMs] (16-100 ms), like Python's TokenBatcher(adaptive=True).
 * - `frame`: one flush per animation frame when the environment has them, else a 16 ms timer.
 * - `none`: every token flushes at once.
 * `done`, `error` and `stop` flush at once whatever the mode (the client calls `flushNow`).
 */
import { UsageError } from "./errors.js";
import type { Scheduler, TimerHandle } from "./scheduler.js";

export type BatchingMode = "fixed" | "adaptive" | "frame" | "none";

export interface BatchingOptions {
  mode: BatchingMode;
  /** `fixed` interval, and the starting interval of `adaptive` (ms). */
  intervalMs?: number;
  minIntervalMs?: number;
  maxIntervalMs?: number;
}

export type Batching = BatchingMode | BatchingOptions;

// Weight of the newest inter-token gap in the adaptive interval's moving average (as in Python).
const EWMA_ALPHA = 0.2;
const FRAME_FALLBACK_MS = 16;

export class TokenBatcher {
  readonly mode: BatchingMode;
  #interval: number;
  readonly #min: number;
  readonly #max: number;
  #gap: number;
  #lastAdd: number | null = null;
  #lastFlush = Number.NEGATIVE_INFINITY;
  #timer: TimerHandle | null = null;
  #frame: TimerHandle | null = null;
  readonly #scheduler: Scheduler;
  readonly #flush: () => boolean;

  /** `flush` applies the buffered text and says whether there was any. */
  constructor(batching: Batching, scheduler: Scheduler, flush: () => boolean) {
    const options = typeof batching === "string" ? { mode: batching } : batching;
    this.mode = options.mode;
    this.#min = options.minIntervalMs ?? 16;
    this.#max = options.maxIntervalMs ?? 100;
    const interval = options.intervalMs ?? 50;
    if (!(interval >= 0) || !(this.#min >= 0 && this.#min <= this.#max)) {
      // the options show the interval fields at fault
      throw new UsageError(`bad batching interval: ${JSON.stringify(options)}`, { code: "invalid-interval" });
    }
    this.#interval = this.mode === "adaptive" ? Math.min(Math.max(interval, this.#min), this.#max) : interval;
    this.#gap = this.#interval;
    this.#scheduler = scheduler;
    this.#flush = flush;
  }

  /** The interval in force (it moves in adaptive mode). */
  get intervalMs(): number {
    return this.#interval;
  }

  /** Text was buffered: flush now or schedule a flush. */
  add(): void {
    const now = this.#scheduler.now();
    if (this.mode === "none") return this.flushNow();
    if (this.mode === "frame") return this.#scheduleFrame();
    if (this.mode === "adaptive") this.#observe(now);
    if (this.#timer !== null) return;
    const due = this.#lastFlush + this.#interval;
    if (now >= due) return this.flushNow();
    this.#timer = this.#scheduler.setTimeout(() => {
      this.#timer = null;
      this.flushNow();
    }, due - now);
  }

  /** Flush at once (done, error, stop, or any non-text event) and cancel what was scheduled. */
  flushNow(): void {
    this.cancel();
    // the interval runs from the last flush that carried text (a quiet stream flushes at once)
    if (this.#flush()) this.#lastFlush = this.#scheduler.now();
  }

  /** Drop any scheduled flush (the buffer stays with its owner). */
  cancel(): void {
    if (this.#timer !== null) {
      this.#scheduler.clearTimeout(this.#timer);
      this.#timer = null;
    }
    if (this.#frame !== null) {
      this.#scheduler.cancelAnimationFrame?.(this.#frame);
      this.#frame = null;
    }
  }

  #scheduleFrame(): void {
    if (this.#frame !== null || this.#timer !== null) return;
    const raf = this.#scheduler.requestAnimationFrame;
    if (raf !== undefined) {
      this.#frame = raf(() => {
        this.#frame = null;
        this.flushNow();
      });
    } else {
      this.#timer = this.#scheduler.setTimeout(() => {
        this.#timer = null;
        this.flushNow();
      }, FRAME_FALLBACK_MS);
    }
  }

  #observe(now: number): void {
    const last = this.#lastAdd;
    this.#lastAdd = now;
    if (last === null) return;
    // cap each sample so one long pause does not hold the interval at the maximum
    const gap = Math.min(Math.max(now - last, 0), this.#max);
    this.#gap += EWMA_ALPHA * (gap - this.#gap);
    this.#interval = Math.min(Math.max(this.#gap, this.#min), this.#max);
  }
}
