/**
 * Test doubles for tab sharing: a Web Locks manager with the spec's exclusive-lock semantics
 * (a FIFO queue per name, `ifAvailable`, `signal`, release when the callback's promise settles)
 * shared by the "tabs" of one test, and BroadcastChannels that deliver to the other channels of
 * the same name asynchronously and in order, as browsers do.
 */
import type { TabChannel, TabLocks } from "../src/tabs";

interface Waiter {
  callback: (lock: unknown) => unknown;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
  owner: string;
}

export class FakeLocks {
  readonly held = new Map<string, string>();
  readonly #queues = new Map<string, Waiter[]>();

  /** The lock manager of one tab: the owner is recorded so a test can see who leads. */
  forTab(owner: string): TabLocks {
    return {
      request: <T>(name: string, options: { ifAvailable?: boolean; signal?: AbortSignal }, callback: (lock: unknown) => Promise<T> | T): Promise<T> =>
        new Promise<T>((resolve, reject) => {
          const waiter: Waiter = { callback, resolve: resolve as (value: unknown) => void, reject, owner };
          if (options.signal?.aborted) return reject(options.signal.reason);
          if (this.held.has(name) || (this.#queues.get(name)?.length ?? 0) > 0) {
            if (options.ifAvailable) {
              void Promise.resolve().then(() => Promise.resolve(callback(null)).then(resolve, reject));
              return;
            }
            const queue = this.#queues.get(name) ?? [];
            queue.push(waiter);
            this.#queues.set(name, queue);
            options.signal?.addEventListener("abort", () => {
              const at = queue.indexOf(waiter);
              if (at === -1) return;
              queue.splice(at, 1);
              reject(options.signal?.reason);
            });
            return;
          }
          this.#grant(name, waiter);
        }),
    };
  }

  #grant(name: string, waiter: Waiter): void {
    this.held.set(name, waiter.owner);
    void Promise.resolve()
      .then(() => waiter.callback({ name }))
      .then(waiter.resolve, waiter.reject)
      .finally(() => {
        this.held.delete(name);
        const next = this.#queues.get(name)?.shift();
        if (next !== undefined) this.#grant(name, next);
      });
  }
}

export class FakeChannels {
  readonly #open = new Map<string, Set<FakeChannel>>();
  posted = 0;

  /**
   * `prompt`: deliver in a microtask, before any timer runs (a test's "tabs" share one event
   * loop, which under load may run a tab's timer before a message that came earlier).
   */
  constructor(readonly prompt = false) {}

  create = (name: string): TabChannel => {
    const channel = new FakeChannel(name, this);
    const peers = this.#open.get(name) ?? new Set();
    peers.add(channel);
    this.#open.set(name, peers);
    return channel;
  };

  deliver(from: FakeChannel, message: unknown): void {
    this.posted += 1;
    const copy = structuredClone(message);
    for (const peer of this.#open.get(from.name) ?? []) {
      if (peer !== from) peer.enqueue(copy);
    }
  }

  close(channel: FakeChannel): void {
    this.#open.get(channel.name)?.delete(channel);
  }
}

class FakeChannel implements TabChannel {
  onmessage: ((event: { data: unknown }) => void) | null = null;
  #inbox: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(
    readonly name: string,
    readonly hub: FakeChannels,
  ) {}

  postMessage(message: unknown): void {
    if (this.#closed) throw new Error("InvalidStateError: the channel is closed");
    this.hub.deliver(this, message);
  }

  /** One macrotask per message (a microtask when prompt), in order. */
  enqueue(data: unknown): void {
    if (this.hub.prompt) {
      this.#inbox = this.#inbox.then(() => {
        if (!this.#closed) this.onmessage?.({ data });
      });
      return;
    }
    this.#inbox = this.#inbox.then(
      () =>
        new Promise<void>((resolve) =>
          setImmediate(() => {
            if (!this.#closed) this.onmessage?.({ data });
            resolve();
          }),
        ),
    );
  }

  close(): void {
    this.#closed = true;
    this.hub.close(this);
  }
}

/** Wait (bounded in time) until `condition` holds, for code with timers of its own. */
export async function untilMs(condition: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (condition()) return;
    await new Promise<void>((resolve) => setTimeout(resolve, 2));
  }
  throw new Error(`timed out waiting for ${what}`);
}
