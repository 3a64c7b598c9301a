/**
 * Exclusive locks over a `BroadcastChannel`, for pages without Web Locks (`navigator.locks` is
 * missing outside secure contexts, e.g. a plain `http://` origin other than localhost).
 *
 * A tab claims a lock by broadcasting `claim` and waiting for an objection: the holder answers
 * `held`, and of two tabs claiming at once the one with the smaller id objects to the other's
 * claim (and gives up its own when it hears a smaller id). The holder remembers the tabs whose
 * claims it answered, and when it lets go (or its page goes away: `pagehide`) it broadcasts
 * `free` naming the one that waited longest, which takes the lock without a claim: a handover
 * needs no timing, however slow the tabs are. A holder that died without a word (a crash) stops
 * answering, and the claims that waiting tabs repeat every `retryMs` then win. A tab that has
 * heard a holder waits up to `retryMs` for its answer, so a busy holder keeps the lock; only a
 * tab that never heard of one (a tab just opened) decides within `claimMs`. If that tab's claim
 * meets a holder too busy to answer so soon, two tabs lead: the hubs dedupe events by seq, so
 * that costs a second connection, never an event.
 */
import type { TabChannel, TabLocks } from "./tab-hub.js";

/** Timing of {@link channelLocks}. */
export interface ChannelLocksOptions {
  /** How long a tab that has heard of no holder waits for an objection to its claim (ms, default 100). */
  claimMs?: number;
  /**
   * How often a waiting tab claims again, to outlive a holder that crashed, and how long such a
   * claim waits for the answer of a holder it has heard (ms, default 1 000).
   */
  retryMs?: number;
}

type LockMessage = { t: "claim"; id: string } | { t: "held" } | { t: "free"; next?: string } | { t: "bye"; id: string };

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
  /** The claim in flight: `settle(true)` wins it (unless this tab holds already), `settle(false)` loses it. */
  #claim: { settle: (won: boolean) => void } | null = null;
  #retry: ReturnType<typeof setTimeout> | null = null;
  /** A holder answered (or was named) since the last plain `free`: claims wait `retryMs` for it. */
  #holderHeard = false;
  /** While this tab holds: the tabs whose claims it answered (first claim first) and when it last heard each. */
  readonly #claimers = new Map<string, number>();

  constructor(id: string, channel: TabChannel, timing: Required<ChannelLocksOptions>) {
    this.#id = id;
    this.#channel = channel;
    this.#timing = timing;
    channel.onmessage = (event) => this.#receive(event.data as LockMessage);
  }

  /** The page goes away: hand the lock on now, or tell the holder this tab no longer waits. */
  leave(): void {
    if (this.#isMine) this.#free();
    else this.#channel.postMessage({ t: "bye", id: this.#id });
  }

  /** Resolves true when this tab won the lock (it then holds it). */
  claim(): Promise<boolean> {
    if (this.#isMine || this.#claim !== null) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      const settle = (won: boolean) => {
        if (this.#claim !== claim) return;
        clearTimeout(timer);
        this.#claim = null;
        const wins = won && !this.#isMine;
        if (wins) this.#take();
        resolve(wins);
      };
      const claim = { settle };
      const timer = setTimeout(() => settle(true), this.#holderHeard ? this.#timing.retryMs : this.#timing.claimMs);
      this.#claim = claim;
      this.#channel.postMessage({ t: "claim", id: this.#id });
    });
  }

  /** Run `waiter` holding the lock; let go when its promise settles, then serve the next. */
  hold(waiter: Waiter): void {
    void Promise.resolve()
      .then(() => waiter.callback({}))
      .then(waiter.resolve, waiter.reject)
      .finally(() => {
        if (this.#isMine) this.#free();
        this.pump();
      });
  }

  /** The first waiter claims the lock, now and every RETRY_MS until it wins. */
  pump(): void {
    if (this.#retry !== null) clearTimeout(this.#retry);
    this.#retry = null;
    if (this.waiters.length === 0 || this.#isMine || this.#claim !== null) return;
    void this.claim().then((won) => this.#serve(won));
  }

  #serve(won: boolean): void {
    const next = won ? this.waiters.shift() : undefined;
    if (next !== undefined) this.hold(next);
    else if (won) this.hold({ callback: () => undefined, resolve: () => undefined, reject: () => undefined });
    else if (this.waiters.length > 0) this.#retry = setTimeout(() => this.pump(), this.#timing.retryMs);
  }

  #take(): void {
    this.#isMine = true;
    this.#claimers.clear();
    this.#channel.postMessage({ t: "held" }); // the other tabs now know a holder: they wait for its answers
  }

  /** Let go, naming the tab that has waited longest (heard within the last three retries). */
  #free(): void {
    const recent = performance.now() - 3 * this.#timing.retryMs;
    let next: string | undefined;
    for (const [id, heardAt] of this.#claimers) {
      if (heardAt >= recent) {
        next = id;
        break;
      }
    }
    this.#isMine = false;
    this.#claimers.clear();
    this.#holderHeard = next !== undefined;
    this.#channel.postMessage(next === undefined ? { t: "free" } : { t: "free", next });
  }

  #receive(message: LockMessage): void {
    if (message.t === "claim") {
      if (this.#isMine) {
        this.#claimers.set(message.id, performance.now()); // keeps its place: the first claim's
        this.#channel.postMessage({ t: "held" });
      } else if (this.#claim !== null) {
        // of two claims at once the smaller id wins: the other tab may have sent its claim before
        // this one's arrived, and would never hear of it otherwise
        if (message.id > this.#id) this.#channel.postMessage({ t: "held" });
        else this.#claim.settle(false);
      }
    } else if (message.t === "held") {
      this.#holderHeard = true;
      this.#claim?.settle(false);
    } else if (message.t === "bye") {
      this.#claimers.delete(message.id);
    } else if (message.next === undefined) {
      this.#holderHeard = false;
      this.pump();
    } else if (message.next !== this.#id) {
      this.#holderHeard = true; // the named tab takes the lock: wait for it
      this.#claim?.settle(false);
    } else if (this.#claim !== null) {
      this.#claim.settle(true);
    } else if (!this.#isMine && this.waiters.length > 0) {
      if (this.#retry !== null) clearTimeout(this.#retry);
      this.#retry = null;
      this.#take();
      this.#serve(true);
    } else if (!this.#isMine) {
      this.#channel.postMessage({ t: "free" }); // named, but nothing here waits for it: the others claim
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
