/**
 * Exclusive locks over a `BroadcastChannel`, for pages without Web Locks (`navigator.locks` is
 * missing outside secure contexts, e.g. a plain `http://` origin other than localhost).
 *
 * A tab claims a lock by broadcasting `claim` and waiting `claimMs` for an objection: the
 * holder answers `held`, and of two tabs claiming at once the one with the smaller id objects to
 * the other's claim (and gives up its own when it hears a smaller id). The
 * holder broadcasts `free` when it lets go, and when its page goes away (`pagehide`), so a tab
 * waiting for the lock claims it at once; a holder that died without a word (a crash) stops
 * answering, and the waiting tabs' claims, repeated every `retryMs`, then win. Two tabs may
 * lead for a moment if a holder is too busy to answer in time: the hubs dedupe events by seq, so
 * that costs a second connection, never an event.
 */
import type { TabChannel, TabLocks } from "./tab-hub.js";

/** Timing of {@link channelLocks}. */
export interface ChannelLocksOptions {
  /** How long a claim waits for the holder's answer (ms, default 100). */
  claimMs?: number;
  /** How often a waiting tab claims again, to outlive a holder that crashed (ms, default 1 000). */
  retryMs?: number;
}

type LockMessage = { t: "claim"; id: string } | { t: "held" } | { t: "free" };

interface Waiter {
  readonly callback: (lock: unknown) => unknown;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
}

class ChannelLock {
  readonly #id: string;
  readonly #channel: TabChannel;
  readonly #timing: Required<ChannelLocksOptions>;
  readonly waiters: Waiter[] = [];
  #isMine = false;
  #claim: { lost: boolean } | null = null;
  #retry: ReturnType<typeof setTimeout> | null = null;

  constructor(id: string, channel: TabChannel, timing: Required<ChannelLocksOptions>) {
    this.#id = id;
    this.#channel = channel;
    this.#timing = timing;
    channel.onmessage = (event) => this.#receive(event.data as LockMessage);
  }

  /** The page goes away: let the next tab have the lock now. */
  leave(): void {
    if (this.#isMine) this.#channel.postMessage({ t: "free" });
    this.#isMine = false;
  }

  /** Resolves true when this tab won the lock (it then holds it). */
  async claim(): Promise<boolean> {
    if (this.#isMine || this.#claim !== null) return false;
    const claim = { lost: false };
    this.#claim = claim;
    this.#channel.postMessage({ t: "claim", id: this.#id });
    await new Promise((resolve) => setTimeout(resolve, this.#timing.claimMs));
    this.#claim = null;
    if (claim.lost || this.#isMine) return false;
    this.#isMine = true;
    return true;
  }

  /** Run `waiter` holding the lock; let go when its promise settles, then serve the next. */
  hold(waiter: Waiter): void {
    void Promise.resolve()
      .then(() => waiter.callback({}))
      .then(waiter.resolve, waiter.reject)
      .finally(() => {
        if (this.#isMine) this.#channel.postMessage({ t: "free" });
        this.#isMine = false;
        this.pump();
      });
  }

  /** The first waiter claims the lock, now and every RETRY_MS until it wins. */
  pump(): void {
    if (this.#retry !== null) clearTimeout(this.#retry);
    this.#retry = null;
    if (this.waiters.length === 0 || this.#isMine || this.#claim !== null) return;
    void this.claim().then((won) => {
      const next = won ? this.waiters.shift() : undefined;
      if (next !== undefined) this.hold(next);
      else if (won) this.hold({ callback: () => undefined, resolve: () => undefined, reject: () => undefined });
      else if (this.waiters.length > 0) this.#retry = setTimeout(() => this.pump(), this.#timing.retryMs);
    });
  }

  #receive(message: LockMessage): void {
    if (message.t === "claim") {
      // the holder objects, and so does a tab claiming with a smaller id: the other tab may have
      // sent its claim before this one's arrived, and would never hear of it otherwise
      if (this.#isMine || (this.#claim !== null && message.id > this.#id)) this.#channel.postMessage({ t: "held" });
      else if (this.#claim !== null) this.#claim.lost = true;
    } else if (message.t === "held") {
      if (this.#claim !== null) this.#claim.lost = true;
    } else {
      this.pump();
    }
  }
}

function randomId(): string {
  const bytes = new Uint8Array(8);
  globalThis.crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** A {@link TabLocks} over channels made by `channel` (one per lock name; default `BroadcastChannel`). */
export function channelLocks(channel?: (name: string) => TabChannel, options: ChannelLocksOptions = {}): TabLocks {
  const timing = { claimMs: options.claimMs ?? 100, retryMs: options.retryMs ?? 1_000 };
  const open = channel ?? ((name: string) => new (globalThis as unknown as { BroadcastChannel: new (name: string) => TabChannel }).BroadcastChannel(name));
  const id = randomId();
  const locks = new Map<string, ChannelLock>();
  const target = globalThis as { addEventListener?: (type: string, listener: () => void) => void };
  target.addEventListener?.("pagehide", () => {
    for (const lock of locks.values()) lock.leave();
  });
  const lockOf = (name: string) => {
    let lock = locks.get(name);
    if (lock === undefined) {
      lock = new ChannelLock(id, open(`${name}|lock`), timing);
      locks.set(name, lock);
    }
    return lock;
  };
  return {
    request<T>(name: string, options: { ifAvailable?: boolean; signal?: AbortSignal }, callback: (lock: unknown) => Promise<T> | T): Promise<T> {
      const lock = lockOf(name);
      return new Promise<T>((resolve, reject) => {
        const waiter: Waiter = { callback, resolve: resolve as (value: unknown) => void, reject };
        if (options.ifAvailable) {
          void lock.claim().then((won) => {
            if (won) lock.hold(waiter);
            else Promise.resolve(callback(null)).then(resolve, reject);
          });
          return;
        }
        const signal = options.signal;
        if (signal?.aborted) return reject(signal.reason);
        lock.waiters.push(waiter);
        signal?.addEventListener("abort", () => {
          const at = lock.waiters.indexOf(waiter);
          if (at === -1) return;
          lock.waiters.splice(at, 1);
          reject(signal.reason);
        });
        lock.pump();
      });
    },
  };
}
