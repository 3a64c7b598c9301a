import { describe, expect, test } from "vitest";
import { backoffDelayMs, DEFAULT_RETRY_POLICY, parseRetryAfter } from "../src/retry";

describe("backoffDelayMs", () => {
  const policy = { ...DEFAULT_RETRY_POLICY, maxDelayMs: 8000 };
  test.each([
    [1, 1000],
    [2, 2000],
    [3, 4000],
    [4, 8000],
    [10, 8000],
  ])("attempt %i has ceiling %i ms (full jitter)", (attempt, ceiling) => {
    expect(backoffDelayMs(policy, attempt, null, () => 0.999999)).toBeCloseTo(ceiling, -1);
    expect(backoffDelayMs(policy, attempt, null, () => 0)).toBe(0);
    expect(backoffDelayMs(policy, attempt, null, () => 0.5)).toBe(ceiling / 2);
  });
  test("the server's retry: is the base", () => {
    expect(backoffDelayMs(policy, 3, 250, () => 0.5)).toBe(500);
  });
});

describe("parseRetryAfter", () => {
  test.each([
    ["3", 3000],
    [" 0 ", 0],
    ["nonsense", null],
    ["Wed, 21 Oct 2015 07:28:05 GMT", 5000],
  ])("%j -> %j ms", (value, expected) => {
    expect(parseRetryAfter(value, Date.parse("Wed, 21 Oct 2015 07:28:00 GMT"))).toBe(expected);
  });
  test("absent", () => expect(parseRetryAfter(null, 0)).toBeNull());
});
