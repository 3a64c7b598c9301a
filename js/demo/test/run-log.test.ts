import type { ClientSnapshot } from "@agent-stream/client";
import { AgentStreamError, makeEvent, parseEvent } from "@agent-stream/client/core";
import { afterEach, beforeEach, describe, expect, test, vi } from "vitest";
import { RunLog } from "../src/inspector/run-log";
import { toolLanes } from "../src/inspector/TimelineSvg";

/** A RunLog on a clock the test moves; refreshes are flushed with fake timers. */
function setup() {
  let now = 1_000;
  const log = new RunLog({ now: () => now, refreshMs: 100 });
  const advance = (ms: number) => {
    now += ms;
  };
  const refreshes = vi.fn();
  log.subscribe(refreshes);
  return { log, advance, refreshes };
}

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

describe("RunLog", () => {
  test("folds a run: start, turn, a tool call with its reported duration, tokens, done", () => {
    const { log, advance } = setup();
    log.begin();
    advance(5);
    log.event(makeEvent("start", { stream_id: "abc" }), "abc:0");
    log.event(makeEvent("turn", { turn_number: 1 }), "abc:1");
    advance(10);
    log.event(makeEvent("tool_use", { tool_name: "search", tool_use_id: "t1" }), "abc:2");
    advance(40);
    log.event(makeEvent("tool_result", { tool_name: "search", tool_use_id: "t1", duration_ms: 37 }), "abc:3");
    advance(5);
    log.event(makeEvent("token", { text: "Hi" }), "abc:4");
    log.event(makeEvent("done", { reason: "completed" }), "abc:5");
    log.callbacks.onDone?.(makeEvent("done", { reason: "completed" }).data as never, {} as ClientSnapshot);
    vi.runAllTimers();

    const timeline = log.getSnapshot();
    expect(timeline.streamId).toBe("abc");
    expect(timeline.received).toBe(6);
    expect(timeline.log.map((entry) => [entry.seq, entry.type, entry.atMs])).toEqual([
      [0, "start", 5],
      [1, "turn", 5],
      [2, "tool_use", 15],
      [3, "tool_result", 55],
      [4, "token", 60],
      [5, "done", 60],
    ]);
    expect(timeline.tools).toEqual([{ toolUseId: "t1", toolName: "search", startMs: 15, endMs: 55, latencyMs: 37, status: "done" }]);
    expect(timeline.turns).toEqual([{ atMs: 5, label: "turn 1" }]);
    expect(timeline.tokenTimesMs).toEqual([60]);
    // the server's done, once: onDone of a real done adds nothing
    expect(timeline.end).toEqual({ atMs: 60, reason: "completed", synthetic: false });
    expect(timeline.nowMs).toBe(60);
  });

  test("a tool still running has no end; its latency falls back to arrival times", () => {
    const { log, advance } = setup();
    log.begin();
    log.event(makeEvent("tool_use", { tool_name: "a", tool_use_id: "1" }), null);
    log.event(makeEvent("tool_use", { tool_name: "b", tool_use_id: "2" }), null);
    advance(30);
    log.event(makeEvent("tool_result", { tool_name: "b", tool_use_id: "2", status: "error" }), null);
    vi.runAllTimers();
    const [a, b] = log.getSnapshot().tools;
    expect(a).toMatchObject({ toolName: "a", endMs: null, latencyMs: null, status: "running" });
    expect(b).toMatchObject({ toolName: "b", endMs: 30, latencyMs: 30, status: "error" });
  });

  test("the client's synthetic done and failures are logged as the client's, not as received", () => {
    const { log, advance } = setup();
    log.begin();
    log.event(makeEvent("token", { text: "x" }), "s:1");
    advance(20);
    log.callbacks.onError?.(new AgentStreamError("connection lost: reset", { code: "connection-lost" }));
    log.callbacks.onDone?.(parseEvent("done", { reason: "interrupted", synthetic: true }).data as never, {} as ClientSnapshot);
    vi.runAllTimers();
    const timeline = log.getSnapshot();
    expect(timeline.received).toBe(1);
    expect(timeline.log.map((entry) => [entry.type, entry.source])).toEqual([
      ["token", "server"],
      ["error", "client"],
      ["done", "client"],
    ]);
    expect(timeline.errors).toEqual([{ atMs: 20, label: "connection-lost: connection lost: reset" }]);
    expect(timeline.end).toEqual({ atMs: 20, reason: "interrupted", synthetic: true });
  });

  test("a connection that streams again after reconnecting is a resume", () => {
    const { log, advance } = setup();
    let snapshot = { connection: "idle", reconnects: 0 } as ClientSnapshot;
    const listeners = new Set<() => void>();
    const client = {
      subscribe: (listener: () => void) => {
        listeners.add(listener);
        return () => listeners.delete(listener);
      },
      getSnapshot: () => snapshot,
    };
    const unwatch = log.watch(client);
    const move = (connection: ClientSnapshot["connection"], reconnects: number) => {
      snapshot = { ...snapshot, connection, reconnects };
      for (const listener of listeners) listener();
    };
    log.begin();
    move("connecting", 0);
    move("streaming", 0);
    advance(50);
    move("reconnecting", 1);
    advance(10);
    move("streaming", 1);
    unwatch();
    move("reconnecting", 2);
    move("streaming", 2);
    vi.runAllTimers();
    const timeline = log.getSnapshot();
    expect(timeline.resumes).toEqual([{ atMs: 60, label: "resumed (reconnect 1)" }]);
    expect(timeline.log.map((entry) => entry.type)).toEqual(["connection lost", "resumed"]);
    expect(timeline.received).toBe(0);
  });

  test("refreshes are throttled: a burst of events is one refresh", () => {
    const { log, refreshes } = setup();
    log.begin();
    refreshes.mockClear();
    for (let i = 1; i <= 500; i += 1) log.event(makeEvent("token", { text: "t" }), `s:${i}`);
    expect(refreshes).not.toHaveBeenCalled();
    expect(log.getSnapshot().received).toBe(0);
    vi.advanceTimersByTime(100);
    expect(refreshes).toHaveBeenCalledTimes(1);
    expect(log.getSnapshot().received).toBe(500);
    const before = log.getSnapshot();
    expect(log.getSnapshot()).toBe(before);
  });

  test("begin() forgets the last run", () => {
    const { log } = setup();
    log.begin();
    log.event(makeEvent("error", { error_type: "Boom", message: "no" }), "s:1");
    vi.runAllTimers();
    expect(log.getSnapshot().errors).toHaveLength(1);
    log.begin();
    expect(log.getSnapshot()).toMatchObject({ received: 0, log: [], errors: [], end: null });
  });
});

describe("toolLanes", () => {
  const tool = (startMs: number, endMs: number) => ({ toolUseId: `${startMs}`, toolName: "t", startMs, endMs, latencyMs: endMs - startMs, status: "done" });

  test("calls that overlap (bar and label) take separate rows; a free row is reused", () => {
    expect(toolLanes([tool(0, 100), tool(50, 80), tool(900, 950)], 1000)).toEqual([0, 1, 0]);
  });
});
