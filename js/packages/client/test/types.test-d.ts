import { expectTypeOf, test } from "vitest";
import {
  type AgentEvent,
  type EventData,
  type EventOf,
  makeEvent,
  parseEvent,
  reduce,
  type StreamState,
  type UnknownEvent,
} from "../src/core";
import type { ClientSnapshot } from "../src/index";

test("fields with a schema default are present after parsing", () => {
  expectTypeOf<EventData<"tool_result">["duration_ms"]>().toEqualTypeOf<number>();
  expectTypeOf<EventData<"tool_result">["status"]>().toEqualTypeOf<"done" | "error">();
  expectTypeOf<EventData<"start">["heartbeat_ms"]>().toEqualTypeOf<number>();
  // no default: stays optional
  expectTypeOf<EventData<"done">["reason"]>().toEqualTypeOf<"cancelled" | "completed" | "error" | "interrupted" | undefined>();
});

test("the union narrows on type", () => {
  const event = {} as AgentEvent;
  if (event.type === "tool_use") expectTypeOf(event.data.tool_use_id).toEqualTypeOf<string>();
  expectTypeOf(makeEvent("token", { text: "a" })).toEqualTypeOf<EventOf<"token">>();
  expectTypeOf(parseEvent("x", "{}")).toEqualTypeOf<AgentEvent | UnknownEvent>();
});

test("reduce and snapshots", () => {
  expectTypeOf(reduce).returns.toEqualTypeOf<StreamState>();
  expectTypeOf<ClientSnapshot>().toExtend<StreamState>();
  // @ts-expect-error payloads are typed from the schema: text is a string
  makeEvent("token", { text: 1 });
});

test("the main entry exports the types of the core's values", () => {
  expectTypeOf<import("../src/index").StreamState>().toEqualTypeOf<StreamState>();
  expectTypeOf<import("../src/index").AgentEvent>().toEqualTypeOf<AgentEvent>();
});
