import { describe, expect, test } from "vitest";
import { type AgentEvent, doneReason, initialState, makeEvent, parseEvent, reduce, reduceMany, type StreamState } from "../src/core";
import type { JSONValue } from "../src/generated/events";
import { loadVectors } from "./vectors";

function fold(events: readonly (AgentEvent | ReturnType<typeof parseEvent>)[]): StreamState {
  return events.reduce<StreamState>((state, event) => reduce(state, event), initialState);
}

describe("reduce", () => {
  test("tokens join into text and set isStreaming", () => {
    const state = fold([makeEvent("token", { text: "Hel" }), makeEvent("token", { text: "lo" })]);
    expect(state.text).toBe("Hello");
    expect(state.isStreaming).toBe(true);
  });

  test("never changes the state it is given", () => {
    const before = fold([makeEvent("tool_use", { tool_name: "t", tool_use_id: "1" })]);
    const frozen = JSON.stringify(before);
    reduce(before, makeEvent("tool_result", { tool_name: "t", tool_use_id: "1", duration_ms: 5 }));
    expect(JSON.stringify(before)).toBe(frozen);
  });

  test("unknown types and events after done return the same object", () => {
    const state = fold([makeEvent("token", { text: "a" })]);
    expect(reduce(state, parseEvent("citation", '{"url":"x"}'))).toBe(state);
    const done = reduce(state, makeEvent("done", {}));
    expect(reduce(done, makeEvent("token", { text: "late" }))).toBe(done);
  });

  test("a finished tool carries its summaries, input and output", () => {
    const state = fold([
      makeEvent("tool_use", { tool_name: "calc", tool_use_id: "c1", input_summary: "1+1", input: { expr: "1+1" } }),
      makeEvent("tool_result", { tool_name: "calc", tool_use_id: "c1", output_summary: "2", output: 2, duration_ms: 4 }),
    ]);
    expect(state.tools).toEqual([
      { toolUseId: "c1", toolName: "calc", status: "done", durationMs: 4, inputSummary: "1+1", outputSummary: "2", input: { expr: "1+1" }, output: 2 },
    ]);
    expect(state.activeTools).toEqual([]);
  });

  test("start names the stream; a resumed start changes nothing", () => {
    const started = reduce(initialState, makeEvent("start", { stream_id: "S" }));
    expect(started.streamId).toBe("S");
    expect(reduce(started, makeEvent("start", { stream_id: "S", resumed: true }))).toBe(started);
  });
});

// --- spec/conformance/state: the vectors Python's fold runs too -------------------------------

interface StateVector {
  name: string;
  events: { type: string; data: JSONValue }[];
  state: Record<string, JSONValue>;
}

/** Our state in the vectors' snake_case shape, for the keys a vector names. */
function pythonView(state: StreamState): Record<string, JSONValue> {
  return {
    text: state.text,
    thinking: state.thinking,
    is_streaming: state.isStreaming,
    is_done: state.isDone,
    active_tools: state.activeTools.map((tool) => tool.tool_use_id),
    tools: state.tools.map((tool) => ({ tool_use_id: tool.toolUseId, status: tool.status, duration_ms: tool.durationMs })),
    progress:
      state.progress === null
        ? null
        : { step: state.progress.step, percentage: state.progress.percentage, message: state.progress.message },
    error: state.error === null ? null : { error_type: state.error.error_type, message: state.error.message },
    turn: state.turn,
    done_reason: doneReason(state),
    input_required: state.inputRequired?.request_id ?? null,
    answers: state.answers.map((answer) => ({ request_id: answer.request_id, status: answer.status, ...(answer.answer !== undefined ? { answer: answer.answer } : {}) })),
  };
}

const files = loadVectors<StateVector>("state");

test("the state vectors exist", () => {
  expect(files.length).toBeGreaterThan(0);
});

describe.each(files)("state vectors: $file", ({ vectors }) => {
  test.each(vectors)("$name", (vector) => {
    const state = fold(vector.events.map((event) => parseEvent(event.type, event.data)));
    const view = pythonView(state);
    for (const key of Object.keys(vector.state)) {
      expect(key in view, `unknown state key ${key}`).toBe(true);
    }
    const picked = Object.fromEntries(Object.keys(vector.state).map((key) => [key, view[key]]));
    expect(picked).toEqual(vector.state);
  });

  test.each(vectors)("$name, as batches of reduceMany", (vector) => {
    const events = vector.events.map((event) => parseEvent(event.type, event.data));
    const expected = fold(events);
    expect(reduceMany(initialState, events)).toEqual(expected);
    // every cut into two batches, the way the client's flushes may fall
    for (let cut = 0; cut <= events.length; cut += 1) {
      const first = reduceMany(initialState, events.slice(0, cut));
      const frozen = JSON.stringify(first);
      expect(reduceMany(first, events.slice(cut))).toEqual(expected);
      expect(JSON.stringify(first)).toBe(frozen);
    }
  });
});

describe("reduceMany", () => {
  test("a batch of tokens and thinking joins each text in order", () => {
    const state = reduceMany(initialState, [
      makeEvent("token", { text: "Hel" }),
      makeEvent("thinking", { text: "hm" }),
      makeEvent("token", { text: "lo" }),
      makeEvent("thinking", { text: "m" }),
    ]);
    expect(state).toMatchObject({ text: "Hello", thinking: "hmm", isStreaming: true });
  });

  test("an empty batch, or one that changes nothing, returns the same object", () => {
    const state = fold([makeEvent("start", { stream_id: "S" })]);
    expect(reduceMany(state, [])).toBe(state);
    expect(reduceMany(state, [parseEvent("citation", '{"url":"x"}'), makeEvent("start", { stream_id: "S", resumed: true })])).toBe(state);
  });

  test("never writes to the arrays of the state it is given", () => {
    const before = fold([makeEvent("tool_use", { tool_name: "t", tool_use_id: "1" }), makeEvent("creation", { creation_type: "file", count: 1 })]);
    const { activeTools, tools, creations } = before;
    const after = reduceMany(before, [
      makeEvent("tool_use", { tool_name: "u", tool_use_id: "2" }),
      makeEvent("tool_result", { tool_name: "t", tool_use_id: "1" }),
      makeEvent("creation", { creation_type: "file", count: 2 }),
      makeEvent("done", {}),
    ]);
    expect([before.activeTools, before.tools, before.creations]).toEqual([activeTools, tools, creations]);
    expect(activeTools.map((tool) => tool.tool_use_id)).toEqual(["1"]);
    expect(tools).toEqual([]);
    expect(creations).toHaveLength(1);
    expect(after.tools.map((tool) => tool.toolUseId)).toEqual(["1"]);
    expect(after.activeTools).toEqual([]);
  });

  test("events after done in the same batch are ignored", () => {
    const state = reduceMany(initialState, [makeEvent("token", { text: "a" }), makeEvent("done", {}), makeEvent("token", { text: "late" })]);
    expect(state.text).toBe("a");
    expect(state.isDone).toBe(true);
  });
});
