/** Time as an argument: the clock and timers the client uses, injectable for tests. */

export type TimerHandle = unknown;

export interface Scheduler {
  /** Milliseconds on a monotonic clock. */
  now(): number;
  setTimeout(callback: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
  /** One call per animation frame, when the environment has frames (browsers). */
  requestAnimationFrame?: ((callback: () => void) => TimerHandle) | undefined;
  cancelAnimationFrame?: ((handle: TimerHandle) => void) | undefined;
  /** Uniform in [0, 1), for backoff jitter. */
  random(): number;
}

interface FrameGlobals {
  requestAnimationFrame?: (callback: (time: number) => void) => number;
  cancelAnimationFrame?: (handle: number) => void;
}

/** The real clock, timers and animation frames of this environment. */
export function defaultScheduler(): Scheduler {
  const { requestAnimationFrame: raf, cancelAnimationFrame: caf } = globalThis as FrameGlobals;
  return {
    now: () => performance.now(),
    // read at each call: test runners' fake timers replace the globals
    setTimeout: (callback, ms) => globalThis.setTimeout(callback, ms),
    clearTimeout: (handle) => globalThis.clearTimeout(handle as ReturnType<typeof globalThis.setTimeout>),
    // a frame's callback ignores the time it is given
    requestAnimationFrame: raf?.bind(globalThis),
    cancelAnimationFrame: caf?.bind(globalThis) as ((handle: unknown) => void) | undefined,
    random: Math.random,
  };
}
