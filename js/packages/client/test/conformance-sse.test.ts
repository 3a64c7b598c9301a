/**
 * spec/conformance/sse/*.json, the vectors Python's SSEDecoder runs too. Each vector runs with
 * its own chunks, whole, byte by byte and split at seeded random points (h11's `tr()`), and,
 * when the input ends on a line end, followed by a block that never ends, which must change
 * nothing.
 */
import { describe, expect, test } from "vitest";
import { ProtocolError } from "../src/errors";
import { strictUtf8 } from "../src/strict-utf8";
import { createSSEDecoder, type SSEDecoder, type SSEMessage } from "../src/sse";
import { loadVectors } from "./vectors";

interface WireEvent {
  event: string;
  data: string;
  id: string;
  retry: number | null;
}

interface SSEVector {
  name: string;
  chunks?: string[];
  chunks_base64?: string[];
  events: WireEvent[];
  last_event_id?: string;
  retry?: number | null;
  options?: { max_event_bytes?: number; strict_utf8?: boolean };
  error?: { code: string };
  events_before_error?: WireEvent[];
}

const encoder = new TextEncoder();
const TRAILER = encoder.encode("data: never dispatched\nevent: nope\n: no blank line follows\nid: 99");

function chunksOf(vector: SSEVector): Uint8Array[] {
  if (vector.chunks_base64 !== undefined) return vector.chunks_base64.map((b) => Uint8Array.from(Buffer.from(b, "base64")));
  return (vector.chunks ?? []).map((c) => encoder.encode(c));
}

function concat(chunks: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}

/** A small seeded generator (mulberry32), so a failing split can be replayed. */
function seeded(text: string): () => number {
  let state = [...text].reduce((h, c) => Math.imul(h ^ c.charCodeAt(0), 16777619) >>> 0, 2166136261);
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function splits(chunks: Uint8Array[], seed: string): [string, Uint8Array[]][] {
  const whole = concat(chunks);
  const out: [string, Uint8Array[]][] = [
    ["as given", chunks],
    ["whole", [whole]],
    ["byte by byte", [...whole].map((b) => Uint8Array.of(b))],
  ];
  const random = seeded(seed);
  for (let n = 0; n < 4; n += 1) {
    const cuts = new Set<number>();
    const count = 1 + Math.floor(random() * 6);
    for (let i = 0; i < count; i += 1) cuts.add(Math.floor(random() * (whole.length + 1)));
    const points = [...cuts].sort((a, b) => a - b);
    const pieces: Uint8Array[] = [];
    let at = 0;
    for (const p of points) {
      pieces.push(whole.slice(at, p));
      at = p;
    }
    pieces.push(whole.slice(at));
    out.push([`random split ${n}`, pieces]);
  }
  return out;
}

const wire = (e: SSEMessage): WireEvent => ({ event: e.event, data: e.data, id: e.id, retry: e.retry });

function run(vector: SSEVector, chunks: readonly Uint8Array[]): { events: WireEvent[]; error: unknown; decoder: SSEDecoder } {
  const decoder = createSSEDecoder({
    maxEventSize: vector.options?.max_event_bytes,
    utf8: vector.options?.strict_utf8 === true ? strictUtf8 : undefined,
  });
  const events: WireEvent[] = [];
  try {
    for (const chunk of chunks) events.push(...decoder.feed(chunk).map(wire));
    events.push(...decoder.close().map(wire));
  } catch (error) {
    return { events, error, decoder };
  }
  return { events, error: null, decoder };
}

const files = loadVectors<SSEVector>("sse");

test("spec/conformance/sse holds vectors", () => {
  expect(files.reduce((n, f) => n + f.vectors.length, 0)).toBeGreaterThanOrEqual(60);
});

describe.each(files)("sse vectors: $file", ({ vectors }) => {
  describe.each(vectors)("$name", (vector) => {
    const chunks = chunksOf(vector);
    test.each(splits(chunks, vector.name))("%s", (_how, pieces) => {
      const { events, error, decoder } = run(vector, pieces);
      if (vector.error !== undefined) {
        expect(error).toBeInstanceOf(ProtocolError);
        expect((error as ProtocolError).code).toBe(vector.error.code);
        expect(events).toEqual(vector.events_before_error);
        // a failed decoder keeps failing with the same error
        expect(() => decoder.feed(encoder.encode("data: more\n\n"))).toThrow(error as Error);
        return;
      }
      expect(error).toBeNull();
      expect(events).toEqual(vector.events);
      if (vector.last_event_id !== undefined) expect(decoder.lastEventId).toBe(vector.last_event_id);
      if (vector.retry !== undefined) expect(decoder.retry).toBe(vector.retry);
    });

    const whole = concat(chunks);
    const last = whole[whole.length - 1];
    const trailing = vector.error === undefined && vector.options === undefined && (last === undefined || last === 10 || last === 13);
    if (trailing) {
      test.each(splits([...chunks, TRAILER], `${vector.name}/trailer`))("then an unfinished block (%s)", (_how, pieces) => {
        const { events, error, decoder } = run(vector, pieces);
        expect(error).toBeNull();
        expect(events).toEqual(vector.events);
        if (vector.last_event_id !== undefined) expect(decoder.lastEventId).toBe(vector.last_event_id);
        if (vector.retry !== undefined) expect(decoder.retry).toBe(vector.retry);
      });
    }
  });
});
