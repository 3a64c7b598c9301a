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
  const frames = globalThis as FrameGlobals;
  const raf = frames.requestAnimationFrame;
  const caf = frames.cancelAnimationFrame;
  return {
    now: () => performance.now(),
    setTimeout: (callback, ms) => globalThis.setTimeout(callback, ms),
    clearTimeout: (handle) => globalThis.clearTimeout(handle as ReturnType<typeof globalThis.setTimeout>),
    requestAnimationFrame: raf === undefined ? undefined : (callback) => raf.call(globalThis, () => callback()),
    cancelAnimationFrame: caf === undefined ? undefined : (handle) => caf.call(globalThis, handle as number),
    random: Math.random,
  };
}
