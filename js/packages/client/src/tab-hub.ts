/**
 * One run's events in one tab, shared with the other tabs of the origin (see `tabs.ts`).
 *
 * The tab that holds the run's Web Lock leads: its client reads the real response, and the hub
 * logs each new event (by seq) and broadcasts it. Every other tab follows: its clients read a
 * virtual response fed from its hub's log, which a `sync` request to the leader fills with the
 * events so far and the broadcast keeps up to date. A follower waits in the lock's queue, so
 * when the leading tab closes the lock passes to it at once; it then tells its clients to
 * reconnect (a `reconnect` event), and their resume (`Last-Event-ID`) becomes the real request.
 */
import { parseEventId } from "./events.js";
import { createSSEDecoder, type SSEDecoder, type SSEMessage } from "./sse.js";

/** The part of the Web Locks API (`navigator.locks`) the hubs use. */
export interface TabLocks {
  request<T>(name: string, options: { ifAvailable?: boolean; signal?: AbortSignal }, callback: (lock: unknown) => Promise<T> | T): Promise<T>;
}

/** The part of `BroadcastChannel` the hubs use. */
export interface TabChannel {
  postMessage(message: unknown): void;
  onmessage: ((event: { data: unknown }) => void) | null;
  close(): void;
}

/** This tab's part in a run: it holds the connection (`leader`), reads another tab's (`follower`), or neither. */
export type TabRole = "leader" | "follower" | null;

export interface HubContext {
  /** Prefix of lock and channel names. */
  readonly name: string;
  readonly locks: TabLocks;
  readonly channel: (name: string) => TabChannel;
  readonly tabId: string;
  /** How long a hub keeps its events once no client reads them (ms). */
  readonly keepMs: number;
  role(streamId: string, role: TabRole): void;
  dispose(hub: Hub): void;
}

/** Frames as [seq, SSE text]; `to` addresses a sync reply, `from` the asking tab. */
type Message =
  | { t: "frames"; to?: string; frames: [number, string][] }
  | { t: "sync"; from: string; after: number }
  | { t: "leader" }
  | { t: "alive" };

const encoder = new TextEncoder();
const RECONNECT = encoder.encode("event: reconnect\ndata: {}\n\n");
const ALIVE = encoder.encode(":\n");
// a tab granted the lock with readers gives it up if none of their clients came back to connect
const GRANT_TIMEOUT_MS = 5_000;
// the clients enforce their own maxEventSize on the same bytes; the hub only must not refuse first
const MAX_EVENT_SIZE = 1 << 26;

function encodeFrame(message: SSEMessage, retry: number | null): string {
  let text = `id: ${message.id}\n`;
  if (retry !== null) text += `retry: ${retry}\n`;
  text += `event: ${message.event}\n`;
  for (const line of message.data.split("\n")) text += `data: ${line}\n`;
  return `${text}\n`;
}

/** A client's virtual response body: the hub's frames after `cursor`, then live ones. */
interface Reader {
  cursor: number;
  /** Index of the next log entry to hand on. */
  next: number;
  controller: ReadableStreamDefaultController<Uint8Array>;
}

export class Hub {
  readonly streamId: string;
  readonly #context: HubContext;
  readonly #name: string;
  readonly #seqs: number[] = [];
  readonly #frames: string[] = [];
  readonly #isStart: boolean[] = [];
  readonly #readers = new Set<Reader>();
  #channel: TabChannel | null = null;
  #release: (() => void) | null = null;
  #waiting: AbortController | null = null;
  #grantTimer: ReturnType<typeof setTimeout> | null = null;
  #keepTimer: ReturnType<typeof setTimeout> | null = null;
  #syncing = false;
  #drivers = 0;
  #role: TabRole = null;
  /** Set when the shared log cannot serve a client without a gap: this tab's clients connect on their own. */
  isBroken = false;
  isDone = false;

  /** `scope` keeps runs read with other credentials apart (see `tabs.ts`). */
  constructor(streamId: string, scope: string, context: HubContext) {
    this.streamId = streamId;
    this.#context = context;
    this.#name = `${context.name}:${streamId}${scope}`;
  }

  get role(): TabRole {
    return this.#role;
  }

  /** The highest seq logged (-1 before any). */
  get lastSeq(): number {
    return this.#seqs.length === 0 ? -1 : (this.#seqs[this.#seqs.length - 1] as number);
  }

  /** Whether a client of this tab reads the real response now. */
  get isDriving(): boolean {
    return this.#drivers > 0;
  }

  /** Take the lock if no tab holds it; true when this tab now leads. */
  async tryLead(): Promise<boolean> {
    if (this.#role === "leader") return true;
    const got = await new Promise<boolean>((resolve) => {
      this.#context.locks
        .request(this.#name, { ifAvailable: true }, (lock) => {
          if (lock === null) return resolve(false);
          resolve(true);
          return this.#hold();
        })
        .catch(() => resolve(false));
    });
    if (got) this.#becomeLeader();
    return got;
  }

  /** A client of this tab reads the real response: observe it into the log (see {@link observe}). */
  startDriving(): void {
    this.#drivers += 1;
    this.#clearKeep();
    if (this.#grantTimer !== null) {
      clearTimeout(this.#grantTimer);
      this.#grantTimer = null;
    }
  }

  /** The real response ended (done, lost or cancelled): hand the lead on, unless the run ended. */
  stopDriving(): void {
    this.#drivers -= 1;
    if (this.#drivers > 0) return;
    // after done the lock stays here while the log is kept: late tabs sync from it, nobody connects
    if (!this.isDone) this.#resign();
    if (this.#readers.size > 0 && this.#role === null) this.follow();
    this.#maybeKeep();
  }

  /** An observer of a real response body's chunks: logs and broadcasts each new event. */
  observe(): (chunk: Uint8Array) => void {
    let alive = false;
    const decoder: SSEDecoder = createSSEDecoder({ maxEventSize: MAX_EVENT_SIZE, onComment: () => (alive = true) });
    return (chunk) => {
      let messages: SSEMessage[];
      try {
        messages = decoder.feed(chunk);
      } catch {
        return; // the client reads the same bytes and fails the run
      }
      const added: [number, string][] = [];
      for (const message of messages) {
        const seq = message.hasOwnId ? this.#seqOf(message.id) : null;
        if (seq === null || seq <= this.lastSeq) continue;
        const frame: [number, string] = [seq, encodeFrame(message, message.event === "start" ? decoder.retry : null)];
        added.push(frame);
        this.#append(frame);
      }
      if (added.length > 0) {
        this.#post({ t: "frames", frames: added });
        this.#pumpAll();
      } else if (alive) {
        this.#post({ t: "alive" });
        this.#each((reader) => reader.controller.enqueue(ALIVE));
      }
      alive = false;
    };
  }

  /** Start following: wait in the lock's queue and ask the leader for the events so far. */
  follow(): void {
    if (this.#role !== null) return;
    this.#setRole("follower");
    this.#open();
    const waiting = new AbortController();
    this.#waiting = waiting;
    this.#context.locks
      .request(this.#name, { signal: waiting.signal }, () => {
        if (this.#waiting !== waiting) return undefined;
        this.#waiting = null;
        const held = this.#hold();
        this.#granted();
        return held;
      })
      .catch(() => undefined); // aborted: this tab stopped following
    this.#sync();
  }

  /** A virtual response body for a client whose cursor is `cursor` (the seq it has; -1 for none). */
  reader(cursor: number): ReadableStream<Uint8Array> {
    let reader: Reader | null = null;
    return new ReadableStream<Uint8Array>({
      start: (controller) => {
        reader = { cursor, next: 0, controller };
        this.#readers.add(reader);
        this.#clearKeep();
        this.#pump(reader);
      },
      cancel: () => {
        if (reader !== null) this.#detach(reader);
      },
    });
  }

  /** Forget this run in this tab: close the channel, give up the lock and the queue, end readers. */
  dispose(): void {
    this.#clearKeep();
    for (const reader of [...this.#readers]) {
      this.#detach(reader);
      reader.controller.error(new Error("tab sharing closed"));
    }
    this.#resign();
    this.#channel?.close();
    this.#channel = null;
  }

  #seqOf(id: string): number | null {
    const parsed = parseEventId(id);
    return parsed !== null && parsed.streamId === this.streamId ? parsed.seq : null;
  }

  #hold(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.#release = resolve;
    });
  }

  #becomeLeader(): void {
    this.#waiting?.abort();
    this.#waiting = null;
    this.#syncing = false;
    this.#setRole("leader");
    this.#open();
    this.#post({ t: "leader" });
  }

  /** The lock came to this follower: its clients reconnect, and the first one connects for real. */
  #granted(): void {
    this.#becomeLeader();
    if (this.#readers.size === 0 || this.isDone) {
      if (!this.isDone) this.#resign();
      this.#maybeKeep();
      return;
    }
    for (const reader of [...this.#readers]) {
      this.#detach(reader);
      reader.controller.enqueue(RECONNECT);
      reader.controller.close();
    }
    this.#grantTimer = setTimeout(() => {
      this.#grantTimer = null;
      if (!this.isDriving) this.#resign();
    }, GRANT_TIMEOUT_MS);
  }

  /** Give up the lock (or the place in its queue). */
  #resign(): void {
    this.#waiting?.abort();
    this.#waiting = null;
    this.#release?.();
    this.#release = null;
    if (this.#grantTimer !== null) clearTimeout(this.#grantTimer);
    this.#grantTimer = null;
    this.#setRole(null);
  }

  #setRole(role: TabRole): void {
    if (this.#role === role) return;
    this.#role = role;
    this.#context.role(this.streamId, role);
  }

  #open(): void {
    if (this.#channel !== null) return;
    const channel = this.#context.channel(this.#name);
    channel.onmessage = (event) => this.#receive(event.data as Message);
    this.#channel = channel;
  }

  #post(message: Message): void {
    this.#channel?.postMessage(message);
  }

  #sync(): void {
    this.#syncing = true;
    this.#post({ t: "sync", from: this.#context.tabId, after: this.lastSeq });
  }

  #receive(message: Message): void {
    switch (message.t) {
      case "sync":
        if (this.#role !== "leader") return;
        this.#post({ t: "frames", to: message.from, frames: this.#since(message.after) });
        return;
      case "leader":
        // a new leader: ask it for what this tab may have missed from the last one
        if (this.#role === "follower") this.#sync();
        return;
      case "alive":
        if (this.#role === "follower") this.#each((reader) => reader.controller.enqueue(ALIVE));
        return;
      case "frames":
        if (this.#role !== "follower") return;
        if (message.to !== undefined) {
          if (message.to !== this.#context.tabId) return;
          // the leader's log is authoritative: take all it has past ours
          this.#syncing = false;
          for (const frame of message.frames) if (frame[0] > this.lastSeq) this.#append(frame);
        } else if (!this.#syncing) {
          for (const frame of message.frames) {
            if (frame[0] <= this.lastSeq) continue;
            if (frame[0] !== this.lastSeq + 1) {
              // a gap (a frame of the last leader still on its way, or lost): ask the leader
              this.#sync();
              break;
            }
            this.#append(frame);
          }
        }
        this.#pumpAll();
        return;
    }
  }

  #append(frame: [number, string]): void {
    this.#seqs.push(frame[0]);
    this.#frames.push(frame[1]);
    this.#isStart.push(frame[1].includes("\nevent: start\n"));
    if (frame[1].includes("\nevent: done\n")) this.isDone = true;
  }

  /** The logged frames past `after`. */
  #since(after: number): [number, string][] {
    const out: [number, string][] = [];
    this.#seqs.forEach((seq, i) => {
      if (seq > after) out.push([seq, this.#frames[i] as string]);
    });
    return out;
  }

  #each(fn: (reader: Reader) => void): void {
    for (const reader of this.#readers) fn(reader);
  }

  #pumpAll(): void {
    for (const reader of [...this.#readers]) this.#pump(reader);
  }

  /** Hand on the log's frames past the reader's cursor, the start frame first, with no gap. */
  #pump(reader: Reader): void {
    const seqs = this.#seqs;
    while (reader.next < seqs.length) {
      const index = reader.next;
      const seq = seqs[index] as number;
      const isStart = this.#isStart[index] === true;
      reader.next += 1;
      if (!isStart) {
        if (seq <= reader.cursor) continue;
        if (seq > reader.cursor + 1) {
          // the log lacks events this client needs: from now on it connects on its own
          this.isBroken = true;
          this.#detach(reader);
          reader.controller.enqueue(RECONNECT);
          reader.controller.close();
          return;
        }
        reader.cursor = seq;
      }
      reader.controller.enqueue(encoder.encode(this.#frames[index] as string));
    }
  }

  #detach(reader: Reader): void {
    if (!this.#readers.delete(reader)) return;
    if (this.#readers.size === 0 && this.#role === "follower") this.#resign();
    this.#maybeKeep();
  }

  /** With no client reading or driving, keep the log a while for late clients, then forget it. */
  #maybeKeep(): void {
    if (this.#readers.size > 0 || this.isDriving || this.#keepTimer !== null) return;
    this.#keepTimer = setTimeout(() => {
      this.#keepTimer = null;
      if (this.#readers.size === 0 && !this.isDriving) this.#context.dispose(this);
    }, this.#context.keepMs);
  }

  #clearKeep(): void {
    if (this.#keepTimer !== null) clearTimeout(this.#keepTimer);
    this.#keepTimer = null;
  }
}
