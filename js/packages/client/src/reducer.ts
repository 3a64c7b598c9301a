/**
 * `reduce(state, event) -> state`: fold a stream's events into what a UI shows.
 *
 * Pure and immutable: it never changes the state it is given, and an event that changes nothing
 * returns the same object, so snapshots compare by identity. Unknown event types and anything
 * after `done` leave the state as it is (spec/conformance/state/ pins the rules).
 */
import type { AgentEvent, EventData, UnknownEvent } from "./events.js";
import type { JSONValue } from "./generated/events.js";

/** A tool call that ended, joined from its `tool_use` and `tool_result`. */
export interface FinishedTool {
  readonly toolUseId: string;
  readonly toolName: string;
  readonly status: "done" | "error";
  readonly durationMs: number;
  readonly inputSummary: string;
  readonly outputSummary: string;
  readonly input?: JSONValue;
  readonly output?: JSONValue;
}

/** An immutable snapshot of a stream. Wire payloads (`activeTools`, `progress`, ...) keep their snake_case fields. */
export interface StreamState {
  /** The answer so far: every `token` text joined. */
  readonly text: string;
  /** The reasoning so far: every `thinking` text joined. */
  readonly thinking: string;
  readonly isStreaming: boolean;
  readonly isDone: boolean;
  /** Running tool calls in start order (one per `tool_use_id`); emptied by `done`. */
  readonly activeTools: readonly EventData<"tool_use">[];
  /** Finished tool calls in finish order. */
  readonly tools: readonly FinishedTool[];
  readonly progress: EventData<"progress"> | null;
  /** The latest `error` event (or a transport failure the client turned into one). */
  readonly error: EventData<"error"> | null;
  /** The latest `turn_number`; 0 before any turn. */
  readonly turn: number;
  /** The `done` event once the stream ended (`synthetic: true` when the client made it). */
  readonly done: EventData<"done"> | null;
  /** The pending human-in-the-loop request; cleared when the agent goes on. */
  readonly inputRequired: EventData<"input_required"> | null;
  readonly creations: readonly EventData<"creation">[];
  readonly streamId: string | null;
  /** The id of the last event folded in (`<stream_id>:<seq>`). */
  readonly lastEventId: string | null;
}

export const initialState: StreamState = Object.freeze({
  text: "",
  thinking: "",
  isStreaming: false,
  isDone: false,
  activeTools: Object.freeze([]),
  tools: Object.freeze([]),
  progress: null,
  error: null,
  turn: 0,
  done: null,
  inputRequired: null,
  creations: Object.freeze([]),
  streamId: null,
  lastEventId: null,
});

/** `done.reason`, `"completed"` when the done gave none, or null before `done`. */
export function doneReason(state: StreamState): NonNullable<EventData<"done">["reason"]> | null {
  if (state.done === null) return null;
  return state.done.reason ?? "completed";
}

type Draft = { -readonly [K in keyof StreamState]: StreamState[K] };

/** `state` with more text; the hot path (one per token), so one shallow clone and three stores. */
function withText(state: StreamState, key: "text" | "thinking", text: string): StreamState {
  // Object.assign clones through V8's fast path; a spread plus a patch object costs ~1.5x here
  const next: Draft = Object.assign({}, state);
  next[key] = state[key] + text;
  next.isStreaming = true;
  next.inputRequired = null;
  return next;
}

function going(state: StreamState, patch: Partial<StreamState>): StreamState {
  // any content event means the agent went on: a pending input request is answered
  return { ...state, ...patch, isStreaming: true, inputRequired: null };
}

/** The state after `event`; `state` itself is left unchanged. */
export function reduce(state: StreamState, event: AgentEvent | UnknownEvent): StreamState {
  if (state.isDone || "unknown" in event) return state;
  switch (event.type) {
    case "token":
      return withText(state, "text", event.data.text);
    case "thinking":
      return withText(state, "thinking", event.data.text);
    case "tool_use": {
      const id = event.data.tool_use_id;
      const index = state.activeTools.findIndex((tool) => tool.tool_use_id === id);
      const activeTools =
        index === -1 ? [...state.activeTools, event.data] : state.activeTools.map((t, i) => (i === index ? event.data : t));
      return going(state, { activeTools });
    }
    case "tool_result": {
      const id = event.data.tool_use_id;
      const started = state.activeTools.find((tool) => tool.tool_use_id === id);
      const finished: FinishedTool = {
        toolUseId: id,
        toolName: event.data.tool_name,
        status: event.data.status,
        durationMs: event.data.duration_ms,
        inputSummary: started?.input_summary ?? "",
        outputSummary: event.data.output_summary,
        ...(started?.input !== undefined ? { input: started.input } : {}),
        ...(event.data.output !== undefined ? { output: event.data.output } : {}),
      };
      return going(state, {
        activeTools: started === undefined ? state.activeTools : state.activeTools.filter((tool) => tool !== started),
        tools: [...state.tools, finished],
      });
    }
    case "turn":
      return going(state, { turn: event.data.turn_number });
    case "progress":
      return { ...state, progress: event.data, isStreaming: true };
    case "creation":
      return going(state, { creations: [...state.creations, event.data] });
    case "error":
      return going(state, { error: event.data });
    case "done":
      // the run is over, so nothing is running; unfinished calls get no result
      return {
        ...state,
        done: event.data,
        isDone: true,
        isStreaming: false,
        inputRequired: null,
        activeTools: state.activeTools.length === 0 ? state.activeTools : initialState.activeTools,
      };
    case "input_required":
      return { ...state, inputRequired: event.data, isStreaming: true };
    case "start":
      if (state.isStreaming && state.streamId === event.data.stream_id) return state;
      return { ...state, isStreaming: true, streamId: event.data.stream_id };
    case "reconnect":
      // only tells the transport to resume
      return state;
    default:
      return assertNever(event);
  }
}

function assertNever(event: never): never {
  throw new TypeError(`unhandled event ${JSON.stringify(event)}`);
}

/** `state` with `lastEventId` set (the transport's cursor); the same object when unchanged. */
export function withLastEventId(state: StreamState, id: string | null): StreamState {
  return state.lastEventId === id ? state : { ...state, lastEventId: id };
}
