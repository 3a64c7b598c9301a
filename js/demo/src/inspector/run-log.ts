/**
 * The inspector's record of the live run: every event the client delivers, stamped with its
 * arrival time on the run's own axis (milliseconds since the run began), folded into what the
 * timeline draws (turns, tool calls, token times, errors, resumes, the end) and a log.
 *
 * It is fed by the client's `StreamCallbacks` (`onEvent` sees each event before token batching;
 * `onDone` brings the client's synthetic `done`) and by its snapshots (a connection that streams
 * again after `reconnecting` is a resume: the client does not deliver a resumed `start` twice).
 * Renders are throttled: a token-heavy run refreshes the pane a few times a second, never per event.
 */
import type { AgentEvent, AgentStreamClient, AgentStreamError, ClientSnapshot, EventData, StreamCallbacks } from "@agent-stream/client";
import { parseEventId } from "@agent-stream/client/core";
import { summarize } from "./summarize";

export interface LogEntry {
  /** 1-based position in the log. */
  readonly index: number;
  /** The event id's seq, or null (events without an id; the client's own entries). */
  readonly seq: number | null;
  readonly type: string;
  /** Arrival, in ms since the run began. */
  readonly atMs: number;
  readonly summary: string;
  /** `server`: an event received; `client`: something the client decided (a synthetic done, a failure). */
  readonly source: "server" | "client";
}

export interface ToolSpan {
  readonly toolUseId: string;
  readonly toolName: string;
  readonly startMs: number;
  /** null while the call runs. */
  readonly endMs: number | null;
  /** The result's `duration_ms` when the agent reports one, else end - start; null while running. */
  readonly latencyMs: number | null;
  readonly status: string;
}

export interface Mark {
  readonly atMs: number;
  readonly label: string;
}

export interface RunEnd {
  readonly atMs: number;
  readonly reason: string;
  /** The client ended the run (gave up, was stopped): the server's done never arrived. */
  readonly synthetic: boolean;
}

/** What the inspector draws; a new object per refresh, unchanged between refreshes. */
export interface RunTimeline {
  readonly streamId: string | null;
  /** Events received from the server (the `server` entries of the log). */
  readonly received: number;
  readonly log: readonly LogEntry[];
  readonly turns: readonly Mark[];
  readonly tools: readonly ToolSpan[];
  readonly tokenTimesMs: readonly number[];
  readonly errors: readonly Mark[];
  readonly resumes: readonly Mark[];
  readonly end: RunEnd | null;
  /** The latest time the timeline knows of (ms since the run began): its axis' right end. */
  readonly nowMs: number;
}

export interface RunLogOptions {
  /** Milliseconds, monotonic (default `performance.now`). */
  now?: () => number;
  /** Longest wait between an event and the refresh that shows it (default 100 ms). */
  refreshMs?: number;
}

const EMPTY: RunTimeline = Object.freeze({
  streamId: null,
  received: 0,
  log: [],
  turns: [],
  tools: [],
  tokenTimesMs: [],
  errors: [],
  resumes: [],
  end: null,
  nowMs: 0,
});

interface MutableTool {
  toolUseId: string;
  toolName: string;
  startMs: number;
  endMs: number | null;
  latencyMs: number | null;
  status: string;
}

export class RunLog {
  readonly #now: () => number;
  readonly #refreshMs: number;
  readonly #listeners = new Set<() => void>();
  #t0: number | null = null;
  #streamId: string | null = null;
  #log: LogEntry[] = [];
  #received = 0;
  #turns: Mark[] = [];
  #tools: MutableTool[] = [];
  #tokenTimes: number[] = [];
  #errors: Mark[] = [];
  #resumes: Mark[] = [];
  #end: RunEnd | null = null;
  #lastAt = 0;
  #snapshot: RunTimeline = EMPTY;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #connection: ClientSnapshot["connection"] = "idle";

  constructor({ now = () => performance.now(), refreshMs = 100 }: RunLogOptions = {}) {
    this.#now = now;
    this.#refreshMs = refreshMs;
  }

  /** Pass these to the client (`useAgentStream({ callbacks })`). */
  readonly callbacks: StreamCallbacks = {
    onEvent: (event, id) => this.event(event, id),
    onError: (error) => this.clientError(error),
    onDone: (done) => {
      if (done.synthetic) this.#finish(done, "client");
    },
  };

  /** A new run starts now: forget the last one. */
  begin(): void {
    this.#t0 = this.#now();
    this.#streamId = null;
    this.#log = [];
    this.#received = 0;
    this.#turns = [];
    this.#tools = [];
    this.#tokenTimes = [];
    this.#errors = [];
    this.#resumes = [];
    this.#end = null;
    this.#lastAt = 0;
    this.#connection = "idle";
    this.#refresh();
  }

  /** One event from the server. */
  event(event: AgentEvent, id: string | null): void {
    const at = this.#at();
    this.#received += 1;
    this.#append(id === null ? null : (parseEventId(id)?.seq ?? null), event.type, at, summarize(event), "server");
    this.#fold(event, at);
    this.#schedule();
  }

  /** A failure the client reports (connection lost for good, HTTP error, a skipped invalid event). */
  clientError(error: AgentStreamError): void {
    const at = this.#at();
    this.#errors.push({ atMs: at, label: `${error.code}: ${error.message}` });
    this.#append(null, "error", at, `${error.code}: ${error.message}`, "client");
    this.#schedule();
  }

  /** Follow the client's connection: a connection that streams again after a loss is a resume. */
  watch(client: Pick<AgentStreamClient, "subscribe" | "getSnapshot">): () => void {
    return client.subscribe(() => this.#connectionChanged(client.getSnapshot()));
  }

  /** Move the axis' right end to now (a running tool's bar grows); no-op once the run ended. */
  tick(): void {
    if (this.#t0 === null || this.#end !== null) return;
    this.#refresh();
  }

  subscribe = (listener: () => void): (() => void) => {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  };

  getSnapshot = (): RunTimeline => this.#snapshot;

  #connectionChanged(snapshot: ClientSnapshot): void {
    const previous = this.#connection;
    this.#connection = snapshot.connection;
    if (previous === snapshot.connection || this.#t0 === null) return;
    if (snapshot.connection === "reconnecting" && previous === "streaming") {
      this.#append(null, "connection lost", this.#at(), "reconnecting with Last-Event-ID", "client");
    } else if (snapshot.connection === "streaming" && snapshot.reconnects > 0) {
      const at = this.#at();
      this.#resumes.push({ atMs: at, label: `resumed (reconnect ${snapshot.reconnects})` });
      this.#append(null, "resumed", at, `connection ${snapshot.reconnects + 1}, from Last-Event-ID`, "client");
    } else {
      return;
    }
    this.#schedule();
  }

  #at(): number {
    const now = this.#now();
    if (this.#t0 === null) this.#t0 = now; // a re-attached run: its axis starts at the first event seen
    const at = Math.max(0, now - this.#t0);
    this.#lastAt = Math.max(this.#lastAt, at);
    return at;
  }

  #append(seq: number | null, type: string, atMs: number, summary: string, source: LogEntry["source"]): void {
    this.#log.push({ index: this.#log.length + 1, seq, type, atMs, summary, source });
  }

  #fold(event: AgentEvent, at: number): void {
    switch (event.type) {
      case "start":
        this.#streamId = event.data.stream_id;
        return;
      case "token":
        this.#tokenTimes.push(at);
        return;
      case "turn":
        this.#turns.push({ atMs: at, label: `turn ${event.data.turn_number}` });
        return;
      case "tool_use":
        this.#tools.push({ toolUseId: event.data.tool_use_id, toolName: event.data.tool_name, startMs: at, endMs: null, latencyMs: null, status: "running" });
        return;
      case "tool_result":
        this.#endTool(event.data, at);
        return;
      case "error":
        this.#errors.push({ atMs: at, label: `${event.data.error_type}: ${event.data.message}` });
        return;
      case "done":
        this.#finish(event.data, "server");
        return;
      default:
        return;
    }
  }

  #endTool(data: EventData<"tool_result">, at: number): void {
    let call: MutableTool | undefined;
    for (let i = this.#tools.length - 1; i >= 0 && call === undefined; i -= 1) {
      const tool = this.#tools[i];
      if (tool !== undefined && tool.toolUseId === data.tool_use_id && tool.endMs === null) call = tool;
    }
    if (call === undefined) {
      // a result whose tool_use came before this page saw the run
      call = { toolUseId: data.tool_use_id, toolName: data.tool_name, startMs: at, endMs: null, latencyMs: null, status: "running" };
      this.#tools.push(call);
    }
    call.endMs = at;
    call.latencyMs = data.duration_ms > 0 ? data.duration_ms : at - call.startMs;
    call.status = data.status;
  }

  #finish(done: EventData<"done">, source: LogEntry["source"]): void {
    if (this.#end !== null) return;
    const at = this.#at();
    this.#end = { atMs: at, reason: done.reason ?? "completed", synthetic: done.synthetic === true };
    if (source === "client") this.#append(null, "done", at, `${this.#end.reason} (synthetic: the client ended the run)`, "client");
    this.#schedule();
  }

  #schedule(): void {
    if (this.#timer !== null) return;
    // the end shows at once; the rest at most every refreshMs
    this.#timer = setTimeout(() => this.#refresh(), this.#end !== null ? 0 : this.#refreshMs);
  }

  #refresh(): void {
    if (this.#timer !== null) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
    const nowMs = this.#end !== null ? this.#lastAt : this.#t0 === null ? 0 : Math.max(this.#lastAt, this.#now() - this.#t0);
    this.#snapshot = Object.freeze({
      streamId: this.#streamId,
      received: this.#received,
      log: this.#log.slice(),
      turns: this.#turns.slice(),
      tools: this.#tools.map((tool) => ({ ...tool })),
      tokenTimesMs: this.#tokenTimes.slice(),
      errors: this.#errors.slice(),
      resumes: this.#resumes.slice(),
      end: this.#end,
      nowMs,
    });
    for (const listener of [...this.#listeners]) listener();
  }
}
