/**
 * The parsing layer. Every case runs whole, byte by byte and split at random (h11's `tr()`),
 * like spec/conformance/sse/*.json in conformance-sse.test.ts (shared with Python).
 */
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { createSSEDecoder, type SSEMessage } from "../src/sse";

interface Expected {
  event: string;
  data: string;
  id?: string;
  retry?: number | null;
}

function decode(chunks: readonly Uint8Array[], options: { maxEventSize?: number } = {}) {
  const decoder = createSSEDecoder(options);
  const events: SSEMessage[] = [];
  for (const chunk of chunks) events.push(...decoder.feed(chunk));
  events.push(...decoder.close());
  return { events, lastEventId: decoder.lastEventId };
}

/** The same bytes whole, one byte at a time, and cut at seeded random points. */
function splits(bytes: Uint8Array, seed: number): [string, Uint8Array[]][] {
  const random: Uint8Array[] = [];
  let state = seed;
  for (let at = 0; at < bytes.length; ) {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    const size = 1 + (state % 7);
    random.push(bytes.slice(at, at + size));
    at += size;
  }
  return [
    ["whole", [bytes]],
    ["byte by byte", [...bytes].map((b) => Uint8Array.of(b))],
    ["random splits", random],
  ];
}

function view(events: readonly SSEMessage[], withRetry: boolean): Expected[] {
  return events.map((e) => (withRetry ? { event: e.event, data: e.data, id: e.id, retry: e.retry } : { event: e.event, data: e.data, id: e.id }));
}

const enc = (text: string) => new TextEncoder().encode(text);

describe("createSSEDecoder", () => {
  const cases: [string, string, Expected[], string?][] = [
    ["an agent-stream frame", 'id: s:1\nevent: token\ndata: {"text":"hi"}\n\n', [{ event: "token", data: '{"text":"hi"}', id: "s:1" }]],
    ["CRLF and CR line ends", "data: a\r\n\r\ndata: b\r\rdata: c\n\n", [
      { event: "message", data: "a", id: "" },
      { event: "message", data: "b", id: "" },
      { event: "message", data: "c", id: "" },
    ]],
    ["the last event id persists to later blocks", "id: 7\ndata: a\n\ndata: b\n\n", [
      { event: "message", data: "a", id: "7" },
      { event: "message", data: "b", id: "7" },
    ], "7"],
    ["multi-line data and comments", ": ping\ndata: a\ndata:b\n\n", [{ event: "message", data: "a\nb", id: "" }]],
    ["one BOM dropped at the start", "\uFEFFdata: x\n\n", [{ event: "message", data: "x", id: "" }]],
    ["an unterminated block is discarded at EOF", "data: a\n\ndata: b", [{ event: "message", data: "a", id: "" }]],
    ["a CR ending the stream ends the line", "data: a\r\r", [{ event: "message", data: "a", id: "" }]],
    ["emoji and U+2028 survive any split", 'data: {"t":"😀\u2028é"}\n\n', [{ event: "message", data: '{"t":"😀\u2028é"}', id: "" }]],
  ];
  for (const [name, text, expected, lastId] of cases) {
    for (const [how, chunks] of splits(enc(text), name.length)) {
      test(`${name} (${how})`, () => {
        const { events, lastEventId } = decode(chunks);
        expect(view(events, false)).toEqual(expected);
        if (lastId !== undefined) expect(lastEventId).toBe(lastId);
      });
    }
  }

  test("retry: belongs to its own block and is the value in force", () => {
    const decoder = createSSEDecoder();
    const events = decoder.feed(enc("retry: 3000\ndata: a\n\ndata: b\n\n"));
    expect(events.map((e) => e.retry)).toEqual([3000, null]);
    expect(decoder.retry).toBe(3000);
  });

  test("an oversize event is a ProtocolError", () => {
    expect(() => decode([enc(`data: ${"x".repeat(100)}\n\n`)], { maxEventSize: 50 })).toThrow(/exceeds maxEventSize=50/);
  });

  test("a 2 MiB line fed in 7-character slices is parsed once (linear, not quadratic)", () => {
    const decoder = createSSEDecoder({ maxEventSize: 4 << 20 });
    const line = `data: ${"x".repeat(2 << 20)}`;
    const events: SSEMessage[] = [];
    for (let at = 0; at < line.length; at += 7) events.push(...decoder.feed(line.slice(at, at + 7)));
    events.push(...decoder.feed("\r"), ...decoder.feed("\n\r\n"), ...decoder.close());
    expect(events.map((e) => e.data.length)).toEqual([2 << 20]);
  });

  test("an endless line fails as soon as it passes the limit", () => {
    const decoder = createSSEDecoder({ maxEventSize: 64 });
    expect(decoder.feed(enc(`data: a\n\ndata: ${"x".repeat(40)}`)).map((e) => e.data)).toEqual(["a"]);
    expect(() => decoder.feed(enc("x".repeat(40)))).toThrow(expect.objectContaining({ code: "event-too-large" }));
  });

  test("comments reach onComment without the colon and one space", () => {
    const comments: string[] = [];
    const decoder = createSSEDecoder({ onComment: (c) => comments.push(c) });
    decoder.feed(enc(": ping\n:  two\n:\n\n"));
    expect(comments).toEqual(["ping", " two", ""]);
  });

  test("close() twice returns nothing; feed() after close() is a UsageError", () => {
    const decoder = createSSEDecoder();
    expect(decoder.feed(enc("data: a\n\n"))).toHaveLength(1);
    expect(decoder.close()).toEqual([]);
    expect(decoder.close()).toEqual([]);
    expect(() => decoder.feed(enc("data: b\n\n"))).toThrow(expect.objectContaining({ code: "decoder-closed" }));
  });

  test("any split of an encoded stream decodes to the same events (fast-check)", () => {
    const text = fc.string({ unit: "grapheme", maxLength: 20 }).map((s) => s.replace(/[\r\n]/g, " "));
    fc.assert(
      fc.property(fc.array(text, { maxLength: 6 }), fc.array(fc.nat(), { maxLength: 8 }), (datas, cuts) => {
        const bytes = enc(datas.map((d, i) => `id: s:${i + 1}\nevent: token\ndata: ${d}\n\n`).join(""));
        const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
        const chunks: Uint8Array[] = [];
        let at = 0;
        for (const p of points) {
          chunks.push(bytes.slice(at, p));
          at = p;
        }
        chunks.push(bytes.slice(at));
        const { events } = decode(chunks);
        expect(events.map((e) => e.data)).toEqual(datas);
        expect(events.map((e) => e.id)).toEqual(datas.map((_, i) => `s:${i + 1}`));
      }),
      { numRuns: 200 },
    );
  });
});
