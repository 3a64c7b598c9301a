/**
 * `reduce(state, event) -> state`: fold a stream's events into what a UI shows;
 * `reduceMany(state, events)` folds a batch into one new state.
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
  /** The pending human-in-the-loop request; cleared when the agent goes on or its `input_response` arrives. */
  readonly inputRequired: EventData<"input_required"> | null;
  /** Closed requests (`input_response`: answered, expired or cancelled), in order. */
  readonly answers: readonly EventData<"input_response">[];
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
  answers: Object.freeze([]),
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

function joined(parts: readonly string[]): string {
  return parts.length === 1 ? (parts[0] as string) : parts.join("");
}

/**
 * The state after all of `events`, in order, as one new object (the hot path: a batch of tokens
 * costs one state copy and one string join, not one of each per token). Equal to folding
 * {@link reduce} over them; `state` and the events are left unchanged, and when no event changes
 * anything the result is `state` itself.
 *
 * The batch is folded into a private draft made at the first event that changes anything; its
 * token and thinking texts are joined once at the end. Arrays of `state` are never written to:
 * an event that changes one puts a new array in the draft.
 */
export function reduceMany(state: StreamState, events: readonly (AgentEvent | UnknownEvent)[]): StreamState {
  let draft: Draft | null = null;
  // the draft is streaming with no input request: a token has nothing more to set
  let going = false;
  const texts: string[] = [];
  const thoughts: string[] = [];
  // Object.assign clones through V8's fast path; a spread costs ~1.5x here
  const edit = (): Draft => {
    going = false;
    return (draft ??= Object.assign({}, state));
  };
  const live = (): Draft => {
    const next = edit();
    next.isStreaming = true;
    return next;
  };
  /** Any content event means the agent went on: a pending input request is answered. */
  const go = (): Draft => {
    const next = live();
    next.inputRequired = null;
    going = true;
    return next;
  };
  for (let i = 0; i < events.length; i += 1) {
    const event = events[i] as AgentEvent | UnknownEvent;
    const current: StreamState = draft ?? state;
    if (current.isDone) break;
    if ("unknown" in event) continue;
    switch (event.type) {
      case "token":
      case "thinking":
        // the hot path: a token costs one push (the draft is made or touched once per run of tokens)
        if (!going) go();
        (event.type === "token" ? texts : thoughts).push(event.data.text);
        break;
      case "tool_use": {
        const id = event.data.tool_use_id;
        const active = [...current.activeTools];
        const index = active.findIndex((tool) => tool.tool_use_id === id);
        // a repeated call keeps its place
        active[index < 0 ? active.length : index] = event.data;
        go().activeTools = active;
        break;
      }
      case "tool_result": {
        const id = event.data.tool_use_id;
        const { activeTools, tools } = current;
        const started = activeTools.find((tool) => tool.tool_use_id === id);
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
        const next = go();
        if (started !== undefined) next.activeTools = activeTools.filter((tool) => tool !== started);
        next.tools = [...tools, finished];
        break;
      }
      case "turn":
        go().turn = event.data.turn_number;
        break;
      case "progress":
        live().progress = event.data;
        break;
      case "creation":
        go().creations = [...current.creations, event.data];
        break;
      case "error":
        go().error = event.data;
        break;
      case "done": {
        // the run is over, so nothing is running; unfinished calls get no result
        const next = edit();
        next.done = event.data;
        next.isDone = true;
        next.isStreaming = false;
        next.inputRequired = null;
        if (next.activeTools.length !== 0) next.activeTools = initialState.activeTools;
        break;
      }
      case "input_required":
        live().inputRequired = event.data;
        break;
      case "input_response": {
        const { inputRequired, answers } = current;
        const next = live();
        next.answers = [...answers, event.data];
        if (inputRequired !== null && inputRequired.request_id === event.data.request_id) next.inputRequired = null;
        break;
      }
      case "start": {
        if (current.isStreaming && current.streamId === event.data.stream_id) break;
        live().streamId = event.data.stream_id;
        break;
      }
      case "reconnect":
        // only tells the transport to resume
        break;
      default:
        // exhaustive at compile time (a new schema type fails here); at run time a type the
        // table does not know is ignored like any unknown event
        event satisfies never;
    }
  }
  const folded = draft as Draft | null;
  if (folded === null) return state;
  if (texts.length > 0) folded.text += joined(texts);
  if (thoughts.length > 0) folded.thinking += joined(thoughts);
  return folded;
}

/** The state after `event`; `state` itself is left unchanged. */
export function reduce(state: StreamState, event: AgentEvent | UnknownEvent): StreamState {
  if (!("unknown" in event) && (event.type === "token" || event.type === "thinking") && !state.isDone) {
    // one token on its own (no batch): one copy and one concatenation, no Fold
    const key = event.type === "token" ? "text" : "thinking";
    const next: Draft = Object.assign({}, state);
    next[key] = state[key] + event.data.text;
    next.isStreaming = true;
    next.inputRequired = null;
    return next;
  }
  return reduceMany(state, [event]);
}

/** `state` with `lastEventId` set (the transport's cursor); the same object when unchanged. */
export function withLastEventId(state: StreamState, id: string | null): StreamState {
  return state.lastEventId === id ? state : { ...state, lastEventId: id };
}
