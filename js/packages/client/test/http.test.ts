import { afterEach, expect, test, vi } from "vitest";
import { newIdempotencyKey } from "../src/http";

afterEach(() => {
  vi.unstubAllGlobals();
});

test("Idempotency-Key: crypto.randomUUID when there is one", () => {
  const a = newIdempotencyKey();
  expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  expect(newIdempotencyKey()).not.toBe(a);
});

test("Idempotency-Key: 128 bits from getRandomValues where randomUUID is missing (plain http pages)", () => {
  const getRandomValues = vi.fn((array: Uint8Array) => array.fill(0xab));
  vi.stubGlobal("crypto", { getRandomValues });
  expect(newIdempotencyKey()).toBe("ab".repeat(16));
  expect(getRandomValues).toHaveBeenCalledOnce();
});
