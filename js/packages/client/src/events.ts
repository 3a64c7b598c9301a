/**
 * Typed agent-stream events. Payload types come from `generated/events.ts` (from the schema);
 * this module joins them into one tagged union and parses a frame's `data:` JSON into it.
 */
import { InvalidEventError, truncate } from "./errors.js";
import { EVENT_FIELDS, EVENT_TYPES, type EventDataMap, type JSONValue } from "./generated/events.js";

export type * from "./generated/events.js";

/** An event type the schema defines (`token`, `tool_use`, ...). */
export type EventType = (typeof EVENT_TYPES)[number];

type Field<K extends EventType> = (typeof EVENT_FIELDS)[K][number];
// a field's tuple has a fourth element exactly when the schema gives it a default
type DefaultedKeys<K extends EventType> = Extract<Field<K>, { readonly length: 4 }>[0];

/** The data of a `K` event after parsing: fields with a schema default are always present. */
export type EventData<K extends EventType> = EventDataMap[K] &
  Required<Pick<EventDataMap[K], DefaultedKeys<K> & keyof EventDataMap[K]>>;

/** One parsed event of a known type, tagged by `type`. */
export type AgentEvent = { [K in EventType]: { readonly type: K; readonly data: EventData<K> } }[EventType];

/** The event of type `K`. */
export type EventOf<K extends EventType> = Extract<AgentEvent, { type: K }>;

/** An event whose type this client does not know; kept as raw JSON, ignored by the reducer. */
export interface UnknownEvent {
  readonly type: string;
  readonly data: JSONValue;
  readonly unknown: true;
}

// each type name to itself: events carry the table's one string per type (compared by identity);
// read from the table's keys (schema order), so the bundle holds no second list of the names
// (made by a call marked pure, so that an entry point that never parses events, such as
// /tabs, leaves it and the table out of its bundle)
const KNOWN = /* @__PURE__ */ (() => new Map(Object.keys(EVENT_FIELDS).map((type) => [type, type as EventType])))();

export function isEventType(type: string): type is EventType {
  return KNOWN.has(type);
}

/** A field of the generated table: name, JSON type or enum ("" any), 1 if required, default. */
type FieldSpec = readonly [name: string, type: string | readonly unknown[], required: number, fallback?: unknown];

const FIELDS = EVENT_FIELDS as Readonly<Record<string, readonly FieldSpec[]>>;

function jsonType(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  return typeof value;
}

function matches(type: FieldSpec[1], value: unknown): boolean {
  // the common case first: most fields are strings (token.text on every token)
  if (type === "string") return typeof value === "string";
  if (typeof type !== "string") return type.includes(value);
  return type === "" || jsonType(value) === type || (type === "integer" && Number.isInteger(value));
}

/**
 * Parse a frame into an event: `data` is the `data:` text (JSON) or already-decoded JSON.
 *
 * Unknown types give an {@link UnknownEvent}. Throws {@link InvalidEventError} when a known
 * type's data is not JSON, not an object, lacks a required field or has a field of the wrong type.
 */
export function parseEvent(type: string, data: string | JSONValue): AgentEvent | UnknownEvent {
  // tokens (and thinking) are nearly every event: one regex instead of JSON.parse and the table
  // loop (two string compares: cheaper than hashing a fresh type string for a Map lookup); any
  // other shape takes the generic path
  if (typeof data === "string" && (type === "token" || type === "thinking")) {
    const plain = PLAIN_TEXT_DATA.exec(data);
    if (plain !== null) {
      const messageId = plain[2];
      const value = messageId === undefined ? { text: plain[1] } : { text: plain[1], message_id: messageId };
      return { type: type === "token" ? "token" : "thinking", data: value } as AgentEvent;
    }
  }
  return parseEventGeneric(type, data);
}

// The shortcut assumes the schema gives token and thinking exactly `{text: string,
// message_id?: string}`; test/events.test.ts fails when a schema change breaks that.

/**
 * Compact token/thinking data whose strings have nothing to unescape: `{"text":"<s>"}` or
 * `{"text":"<s>","message_id":"<m>"}`, where <s> and <m> contain no `"`, no `\` and no control
 * character U+0000-U+001F. A JSON string with no backslash is its own content (JSON forbids raw
 * controls and every other code unit, lone surrogates included, stands for itself), so the
 * captures are exactly what JSON.parse would give; any other shape (escapes, whitespace, other
 * keys or order, invalid JSON) does not match and takes JSON.parse. Linear: the classes exclude
 * the `"` that ends each group, so there is no backtracking.
 */
const PLAIN_TEXT_DATA = /^\{"text":"([^"\\\u0000-\u001f]*)"(?:,"message_id":"([^"\\\u0000-\u001f]*)")?\}$/;

/** {@link parseEvent} by the generated field table alone (the reference the fast paths must agree with). */
export function parseEventGeneric(type: string, data: string | JSONValue): AgentEvent | UnknownEvent {
  const known = KNOWN.get(type);
  const fields = known && FIELDS[known];
  let value: unknown = data;
  if (typeof data === "string") {
    try {
      value = JSON.parse(data);
    } catch (cause) {
      if (fields === undefined) return { type, data, unknown: true };
      throw fail(type, data, `data is not JSON: ${truncate(data)}`, "$", cause);
    }
  }
  if (fields === undefined) return { type, data: value as JSONValue, unknown: true };
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw fail(type, data, `data must be a JSON object, got ${truncate(value)}`, "$");
  }
  const record = value as Record<string, unknown>;
  // an object JSON.parse just made is ours to fill in; one the caller passed is copied
  const out: Record<string, unknown> = typeof data === "string" ? record : { ...record };
  // one pass: each field read once, defaults filled in; a missing required field is reported
  // before a field of the wrong type
  let wrong: FieldSpec | undefined;
  for (const spec of fields) {
    const name = spec[0];
    const field = record[name];
    if (field === undefined) {
      if (spec[2]) throw fail(type, data, `lacks required field ${JSON.stringify(name)}: ${truncate(record)}`, `$.${name}`);
      // defaults such as `{}` and `[]` must not be shared between events
      if (spec.length > 3) out[name] = typeof spec[3] === "object" ? structuredClone(spec[3]) : spec[3];
    } else if (!matches(spec[1], field)) {
      wrong ??= spec;
    }
  }
  if (wrong !== undefined) {
    const [name, kind] = wrong;
    const expected = typeof kind === "string" ? `a JSON ${kind}` : `one of ${JSON.stringify(kind)}`;
    throw fail(type, data, `field ${JSON.stringify(name)} must be ${expected}, got ${truncate(record[name])}`, `$.${name}`);
  }
  // validated against the generated field table just above
  return { type: known, data: out } as unknown as AgentEvent;
}

/**
 * An {@link InvalidEventError} for a `type` event: `line` holds data that came as text (cut to
 * 200 characters); a `cause` is JSON.parse's error (code `invalid-json`).
 */
function fail(type: string, data: unknown, message: string, field: string, cause?: unknown): InvalidEventError {
  const line = typeof data === "string" ? data.slice(0, 200) : null;
  return new InvalidEventError(`${type} event ${message}`, { eventType: type, field, line, ...(cause !== undefined && { cause, code: "invalid-json" }) });
}

/** Build a known event in code (fills schema defaults, validates like {@link parseEvent}). */
export function makeEvent<K extends EventType>(type: K, data: EventDataMap[K]): EventOf<K> {
  return parseEvent(type, data as unknown as JSONValue) as EventOf<K>;
}

// The server's rule: a seq is 0 or 1-18 ASCII digits with no leading zero (seqs past 2^53 lose
// precision as numbers but keep their order, so dedupe still holds), a stream id 1-128 of
// [A-Za-z0-9_-] (`\w` and `\d` are ASCII-only without the `u` flag).
const EVENT_ID = /^([\w-]{1,128}):(0|[1-9]\d{0,17})$/;
// 15 digits stay below Number.MAX_SAFE_INTEGER: read in place; longer seqs take the slow path
const SEQ_DIGITS_EXACT = 15;

/** The seq of an agent-stream id `<stream_id>:<seq>`, or null for an id of another shape. */
export function parseEventId(id: string): { streamId: string; seq: number } | null {
  const match = EVENT_ID.exec(id);
  return match === null ? null : { streamId: match[1] as string, seq: Number(match[2]) };
}

/** Whether `value` is a stream id by the server's rule: 1-128 characters of [A-Za-z0-9_-]. */
export function isStreamId(value: string): boolean {
  return /^[\w-]{1,128}$/.test(value);
}

/** What {@link EventIdTracker.check} found: a new event, one seen before, another stream's id, or an id of another shape. */
export const ID_NEW = 0;
export const ID_SEEN = 1;
export const ID_FOREIGN = 2;
export const ID_OPAQUE = 3;
export type IdVerdict = typeof ID_NEW | typeof ID_SEEN | typeof ID_FOREIGN | typeof ID_OPAQUE;

/**
 * Dedupe by seq for one run: the stream id (adopted from the first id or a header) and the
 * highest seq seen. The common case, an id of the same stream, is one `startsWith` of the
 * known `<stream_id>:` prefix and a read of the digits after it; any other id is read in full
 * (another stream, another shape), so a foreign id is still always caught.
 *
 * (Comparing with a prebuilt expected id `<stream_id>:<seq + 1>` measured slower: the
 * concatenation allocates a string per event that V8 flattens again to compare.)
 */
export class EventIdTracker {
  #streamId: string | null = null;
  #maxSeq = -1;
  // `<stream_id>:`; "" while unknown
  #prefix = "";

  get streamId(): string | null {
    return this.#streamId;
  }

  /** The highest seq seen (-1 before any). */
  get maxSeq(): number {
    return this.#maxSeq;
  }

  /** Take the stream id (and, if given, a seq already delivered) from elsewhere, e.g. a response header. */
  adopt(streamId: string, maxSeq: number = this.#maxSeq): void {
    this.#streamId = streamId;
    this.#prefix = `${streamId}:`;
    this.#maxSeq = maxSeq;
  }

  /** Check a non-empty event id; on {@link ID_NEW} its seq is the new {@link maxSeq}. */
  check(id: string): IdVerdict {
    const prefix = this.#prefix;
    const start = prefix.length;
    const length = id.length;
    if (start !== 0 && length > start && length <= start + SEQ_DIGITS_EXACT && id.startsWith(prefix)) {
      let seq = 0;
      let i = start;
      for (; i < length; i += 1) {
        const digit = id.charCodeAt(i) - 48;
        if (digit < 0 || digit > 9) break;
        seq = seq * 10 + digit;
      }
      // a leading zero makes the id opaque: the slow path says so
      if (i === length && (id.charCodeAt(start) !== 48 || length === start + 1)) return this.#take(seq);
    }
    return this.#checkSlow(id);
  }

  #checkSlow(id: string): IdVerdict {
    const parsed = parseEventId(id);
    if (parsed === null) return ID_OPAQUE;
    if (this.#streamId === null) this.adopt(parsed.streamId);
    else if (parsed.streamId !== this.#streamId) return ID_FOREIGN;
    return this.#take(parsed.seq);
  }

  #take(seq: number): IdVerdict {
    if (seq <= this.#maxSeq) return ID_SEEN;
    this.#maxSeq = seq;
    return ID_NEW;
  }
}
