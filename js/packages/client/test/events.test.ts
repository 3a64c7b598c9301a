import fc from "fast-check";
import { describe, expect, test, vi } from "vitest";
import { EventIdTracker, ID_FOREIGN, ID_NEW, ID_OPAQUE, ID_SEEN } from "../src/events";
import { parseEventGeneric } from "../src/events";
import { parseEvent, parseEventId } from "../src/core";
import { EVENT_FIELDS } from "../src/generated/events";

/** The rule as a regex: the reference the in-place readers must agree with. */
function reference(id: string): { streamId: string; seq: number } | null {
  const match = /^([A-Za-z0-9_-]{1,128}):(0|[1-9]\d{0,17})$/.exec(id);
  return match === null ? null : { streamId: match[1] as string, seq: Number(match[2]) };
}

describe("event ids", () => {
  test.each([
    ["S:1", { streamId: "S", seq: 1 }],
    ["a:b:7", null],
    ["S:007", null],
    ["S:0", { streamId: "S", seq: 0 }],
    ["a_b-C9:7", { streamId: "a_b-C9", seq: 7 }],
    ["a.b:7", null],
    ["S:999999999999999", { streamId: "S", seq: 999999999999999 }],
    ["S:1000000000000000", { streamId: "S", seq: 1000000000000000 }],
    ["S:100000000000000000", { streamId: "S", seq: 100000000000000000 }],
    ["S:1000000000000000000", null],
    [":1", null],
    ["S:", null],
    ["S1", null],
    ["S:1x", null],
    ["S:١", null],
    ["", null],
  ])("parseEventId(%j)", (id, expected) => {
    expect(parseEventId(id)).toEqual(expected);
  });
});

describe("EventIdTracker", () => {
  test("the next seq, a repeat, a gap, another stream, another shape", () => {
    const ids = new EventIdTracker();
    expect(ids.check("S:0")).toBe(ID_NEW);
    expect(ids.streamId).toBe("S");
    expect(ids.check("S:1")).toBe(ID_NEW);
    expect(ids.check("S:1")).toBe(ID_SEEN);
    expect(ids.check("S:0")).toBe(ID_SEEN);
    expect(ids.check("S:5")).toBe(ID_NEW);
    expect(ids.maxSeq).toBe(5);
    expect(ids.check("S:005")).toBe(ID_OPAQUE);
    expect(ids.check("T:6")).toBe(ID_FOREIGN);
    expect(ids.check("S:x:6")).toBe(ID_OPAQUE);
    expect(ids.check("S:6x")).toBe(ID_OPAQUE);
    expect(ids.check("S:1000000000000000000")).toBe(ID_OPAQUE);
    expect(ids.maxSeq).toBe(5);
    expect(ids.check("S:1000000000000000")).toBe(ID_NEW);
  });

  test("a stream id adopted from a header", () => {
    const ids = new EventIdTracker();
    ids.adopt("a:b", 0);
    expect(ids.check("a:b:0")).toBe(ID_SEEN);
    expect(ids.check("a:b:1")).toBe(ID_NEW);
    expect(ids.check("a:1")).toBe(ID_FOREIGN);
  });

  test("agrees with the regex reference on any sequence of ids", () => {
    const part = fc.stringMatching(/^[A-Za-z:٣]{0,3}$/);
    const id = fc.oneof(
      fc.string({ maxLength: 6 }),
      fc.tuple(part, fc.constantFrom(":", ""), fc.stringMatching(/^\d{0,16}$/)).map((p) => p.join("")),
      fc.tuple(fc.constantFrom("S", "S:", "a:b", "a_b"), fc.constant(":"), fc.integer({ min: 0, max: 12 })).map((p) => p.join("")),
    );
    fc.assert(
      fc.property(fc.option(fc.constantFrom("S", "a_b"), { nil: null }), fc.array(id.filter((text) => text !== ""), { maxLength: 30 }), (header, list) => {
        const ids = new EventIdTracker();
        let streamId: string | null = null;
        let maxSeq = -1;
        if (header !== null) {
          ids.adopt(header, 0);
          streamId = header;
          maxSeq = 0;
        }
        for (const text of list) {
          const parsed = reference(text);
          let expected;
          if (parsed === null) expected = ID_OPAQUE;
          else if (streamId !== null && parsed.streamId !== streamId) expected = ID_FOREIGN;
          else {
            streamId = parsed.streamId;
            if (parsed.seq <= maxSeq) expected = ID_SEEN;
            else {
              maxSeq = parsed.seq;
              expected = ID_NEW;
            }
          }
          expect(ids.check(text)).toBe(expected);
          expect(ids.streamId).toBe(streamId);
          expect(ids.maxSeq).toBe(maxSeq);
        }
      }),
      { numRuns: 3000 },
    );
  });
});

describe("parseEvent", () => {
  test("a missing required field is reported before a field of the wrong type", () => {
    expect(() => parseEvent("tool_use", '{"tool_name":1}')).toThrow(expect.objectContaining({ field: "$.tool_use_id" }));
    expect(() => parseEvent("tool_use", '{"tool_name":1,"tool_use_id":"u"}')).toThrow(expect.objectContaining({ field: "$.tool_name" }));
  });

  test("defaults are filled and the type is the schema's own string", () => {
    const event = parseEvent("tool_use", '{"tool_name":"t","tool_use_id":"u"}');
    expect(event).toEqual({ type: "tool_use", data: { tool_name: "t", tool_use_id: "u", input_summary: "", status: "running" } });
  });
});

describe("the token/thinking fast path", () => {
  /** The result, or the error's class, message and field: what a caller can see. */
  function outcome(parse: typeof parseEvent, type: string, data: string): unknown {
    try {
      return { ok: parse(type, data) };
    } catch (error) {
      const { name, message, field } = error as { name: string; message: string; field?: string };
      return { name, message, field };
    }
  }

  test("the schema gives token and thinking the one shape the shortcut reads", () => {
    // parseEvent's shortcut builds {text, message_id?} itself: another field needs another shortcut
    const shape = [["text", "string", 1], ["message_id", "string", 0]];
    expect(EVENT_FIELDS.token).toEqual(shape);
    expect(EVENT_FIELDS.thinking).toEqual(shape);
  });

  test("accepts and rejects exactly what the generic table check does", () => {
    const anyValue = fc.oneof(fc.string(), fc.integer(), fc.constant(null), fc.boolean(), fc.array(fc.string(), { maxLength: 2 }), fc.dictionary(fc.string({ maxLength: 3 }), fc.string(), { maxKeys: 2 }));
    const record = fc.record(
      { text: anyValue, message_id: anyValue, other: anyValue },
      { requiredKeys: [] },
    );
    const data = fc.oneof(
      record.map((r) => JSON.stringify(r)),
      fc.json(),
      fc.string({ maxLength: 12 }),
      fc.constantFrom('{"text":"a"', "[]", "null", '["text"]', '{"text":"a","message_id":null}', '{"text":"a","message_id":"m","x":1}'),
    );
    fc.assert(
      fc.property(fc.constantFrom("token", "thinking"), data, (type, text) => {
        const fast = outcome(parseEvent, type, text);
        expect(fast).toEqual(outcome(parseEventGeneric, type, text));
        const ok = (fast as { ok?: { type: string } }).ok;
        if (ok !== undefined) expect(ok.type).toBe(type);
      }),
      { numRuns: 5000 },
    );
  });

  // strings that stress the escape-free shortcut: quotes, backslashes, controls, lone surrogates, emoji
  const tricky = fc.oneof(
    fc.string({ unit: "binary", maxLength: 12 }),
    fc.string({ unit: fc.constantFrom("a", " ", '"', "\\", "\n", "\u0000", "\u001f", "\u007f", "\u2028", "\ud800", "\udfff", "😀", "é", "}", ",", ":", "u"), maxLength: 12 }),
  );
  // the frames built the way a server writes them (escaped) and raw (the string pasted in unescaped,
  // often invalid JSON), plus the near misses of the shortcut's shape
  const frame = fc.oneof(
    fc.tuple(tricky, fc.option(tricky, { nil: undefined })).map(([text, id]) => JSON.stringify(id === undefined ? { text } : { text, message_id: id })),
    fc.tuple(tricky, fc.option(tricky, { nil: undefined })).map(([text, id]) => (id === undefined ? `{"text":"${text}"}` : `{"text":"${text}","message_id":"${id}"}`)),
    fc.tuple(tricky, tricky).map(([id, text]) => JSON.stringify({ message_id: id, text })),
    fc.tuple(tricky, fc.constantFrom('{"text":"', '{"text":"a",', '{"text":"a","message_id":"', '{ "text":"', '{"text" :"'), fc.constantFrom('"}', '"} ', '" }', "}", '","x":"y"}', '","message_id":1}')).map(([text, head, tail]) => head + text + tail),
    fc.constantFrom('{"text":"}', '{"text":""}', '{"text":"a","message_id":"}', '{"text":"a","message_id":""}', '{"text":"a"}\n', '{"text":"a","message_id":"m"}}', '{"text":"a","text":"b"}'),
  );

  test("the escape-free shortcut gives what JSON.parse + validation gives, or the same error", () => {
    fc.assert(
      fc.property(fc.constantFrom("token", "thinking"), frame, (type, data) => {
        const fast = outcome(parseEvent, type, data);
        const generic = outcome(parseEventGeneric, type, data);
        expect(fast).toEqual(generic);
        // same keys in the same order, too
        expect(JSON.stringify(fast)).toBe(JSON.stringify(generic));
      }),
      { numRuns: 20000 },
    );
  });

  test("escape-free frames skip JSON.parse; the rest still take it", () => {
    const spy = vi.spyOn(JSON, "parse");
    try {
      expect(parseEvent("token", '{"text":"h\u00e9 😀 \ud800","message_id":"m1"}')).toEqual({
        type: "token",
        data: { text: "hé 😀 \ud800", message_id: "m1" },
      });
      expect(parseEvent("thinking", '{"text":""}')).toEqual({ type: "thinking", data: { text: "" } });
      expect(spy).not.toHaveBeenCalled();
      expect(parseEvent("token", '{"text":"a\\nb"}')).toEqual({ type: "token", data: { text: "a\nb" } });
      expect(spy).toHaveBeenCalledTimes(1);
    } finally {
      spy.mockRestore();
    }
  });
});
