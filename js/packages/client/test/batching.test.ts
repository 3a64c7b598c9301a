import { describe, expect, test } from "vitest";
import { TokenBatcher } from "../src/batching";
import { FakeScheduler } from "./fakes";

function setup(batching: ConstructorParameters<typeof TokenBatcher>[0]) {
  const clock = new FakeScheduler();
  const flushes: number[] = [];
  const batcher = new TokenBatcher(batching, clock, () => flushes.push(clock.time) > 0);
  return { clock, flushes, batcher };
}

describe("TokenBatcher", () => {
  test("fixed: the first token flushes at once, then at most one flush per 50 ms", () => {
    const { clock, flushes, batcher } = setup("fixed");
    batcher.add();
    expect(flushes).toEqual([0]);
    for (let t = 0; t < 100; t += 5) {
      clock.advance(5);
      batcher.add();
    }
    clock.advance(50);
    // the token added at t=100 (just after that flush) goes out at 150
    expect(flushes).toEqual([0, 50, 100, 150]);
  });

  test("fixed: a token after a quiet interval is not delayed", () => {
    const { clock, flushes, batcher } = setup({ mode: "fixed", intervalMs: 50 });
    batcher.add();
    clock.advance(200);
    batcher.add();
    expect(flushes).toEqual([0, 200]);
  });

  test("flushNow cancels the pending timer (done, error, stop)", () => {
    const { clock, flushes, batcher } = setup("fixed");
    batcher.add();
    clock.advance(10);
    batcher.add();
    expect(clock.timers.size).toBe(1);
    batcher.flushNow();
    expect(flushes).toEqual([0, 10]);
    expect(clock.timers.size).toBe(0);
  });

  test("adaptive: fast tokens shrink the interval toward 16 ms, slow ones grow it to 100 ms", () => {
    const fast = setup("adaptive");
    for (let i = 0; i < 60; i += 1) {
      fast.clock.advance(2);
      fast.batcher.add();
    }
    expect(fast.batcher.intervalMs).toBe(16);
    const slow = setup("adaptive");
    for (let i = 0; i < 60; i += 1) {
      slow.clock.advance(400);
      slow.batcher.add();
    }
    expect(slow.batcher.intervalMs).toBeCloseTo(100, 3);
    // slow tokens go out one by one: each arrives after the interval
    expect(slow.flushes).toHaveLength(60);
  });

  test("frame: one flush per animation frame", () => {
    const clock = new FakeScheduler();
    clock.enableFrames();
    let flushes = 0;
    const batcher = new TokenBatcher("frame", clock, () => (flushes += 1) > 0);
    batcher.add();
    batcher.add();
    batcher.add();
    expect(flushes).toBe(0);
    clock.frame();
    expect(flushes).toBe(1);
    clock.frame();
    expect(flushes).toBe(1);
  });

  test("frame: without animation frames, a 16 ms timer", () => {
    const { clock, flushes, batcher } = setup("frame");
    batcher.add();
    batcher.add();
    expect(clock.nextDelay()).toBe(16);
    clock.advance(16);
    expect(flushes).toEqual([16]);
  });

  test("rejects a negative interval", () => {
    expect(() => setup({ mode: "fixed", intervalMs: -1 })).toThrow(/intervalMs/);
  });
});
