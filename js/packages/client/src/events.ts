/**
 * Typed agent-stream events. Payload types come from `generated/events.ts` (from the schema);
 * this module joins them into one tagged union and parses a frame's `data:` JSON into it.
 */
import { InvalidEventError, truncate } from "./errors.js";
import { EVENT_FIELDS, EVENT_TYPES, type EventDataMap, type JSONValue } from "./generated/events.js";

export type * from "./generated/events.js";

/** An event type the schema defines (`token`, `tool_use`, ...). */
export type EventType = (typeof EVENT_TYPES)[number];

type Fields<K extends EventType> = (typeof EVENT_FIELDS)[K]["fields"];
type DefaultedKeys<K extends EventType> = {
  [F in keyof Fields<K>]: Fields<K>[F] extends { readonly default: unknown } ? F : never;
}[keyof Fields<K>];

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

const KNOWN: ReadonlySet<string> = new Set(EVENT_TYPES);

export function isEventType(type: string): type is EventType {
  return KNOWN.has(type);
}

type FieldSpec = { readonly type?: string; readonly enum?: readonly unknown[]; readonly default?: unknown };

function jsonType(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (typeof value === "number") return Number.isInteger(value) ? "integer" : "number";
  return typeof value;
}

function matches(spec: FieldSpec, value: unknown): boolean {
  // the common case first: most fields are strings (token.text on every token)
  if (spec.type === "string" && spec.enum === undefined) return typeof value === "string";
  if (spec.enum !== undefined && !spec.enum.includes(value)) return false;
  if (spec.type === undefined) return true;
  const actual = jsonType(value);
  return actual === spec.type || (spec.type === "number" && actual === "integer");
}

interface CompiledField {
  readonly name: string;
  readonly spec: FieldSpec;
  readonly hasDefault: boolean;
  readonly isRequired: boolean;
  /** A string with no enum, the common case (token.text on every token): one typeof. */
  readonly isPlainString: boolean;
}

interface CompiledType {
  /** The type name as a constant, so events carry one string per type (compared by identity). */
  readonly type: EventType;
  readonly required: readonly string[];
  readonly fields: readonly CompiledField[];
}

// the generated field table as arrays, built once: parseEvent runs for every event
const COMPILED: ReadonlyMap<string, CompiledType> = new Map(
  EVENT_TYPES.map((type) => {
    const { required, fields } = EVENT_FIELDS[type] as { readonly required: readonly string[]; readonly fields: Readonly<Record<string, FieldSpec>> };
    // a required name the table gives no spec for is still checked for presence
    const specs: [string, FieldSpec][] = [...Object.entries(fields), ...required.filter((name) => !(name in fields)).map((name): [string, FieldSpec] => [name, {}])];
    const compiled = specs.map(([name, spec]) => ({
      name,
      spec,
      hasDefault: "default" in spec,
      isRequired: required.includes(name),
      isPlainString: spec.type === "string" && spec.enum === undefined,
    }));
    return [type, { type, required, fields: compiled }];
  }),
);

function cloneDefault(value: unknown): unknown {
  // defaults such as `{}` and `[]` must not be shared between events
  return typeof value === "object" && value !== null ? structuredClone(value) : value;
}

/**
 * Parse a frame into an event: `data` is the `data:` text (JSON) or already-decoded JSON.
 *
 * Unknown types give an {@link UnknownEvent}. Throws {@link InvalidEventError} when a known
 * type's data is not JSON, not an object, lacks a required field or has a field of the wrong type.
 */
export function parseEvent(type: string, data: string | JSONValue): AgentEvent | UnknownEvent {
  // tokens (and thinking) are nearly every event: one typeof per field instead of the table loop
  // (two string compares: cheaper than hashing a fresh type string for a Map lookup)
  if (typeof data === "string") {
    if (type === "token" ? TOKEN_FAST : type === "thinking" && THINKING_FAST) {
      const value = parseTextData(data);
      if (value !== null) return { type: type === "token" ? "token" : "thinking", data: value } as unknown as AgentEvent;
    }
  }
  return parseEventGeneric(type, data);
}

/**
 * Whether the schema gives `type` exactly `{text: string, message_id?: string}` (token,
 * thinking): derived from the field table, so a schema change that gives them another field
 * drops them back to the table loop.
 */
function isTextType(type: EventType): boolean {
  const compiled = COMPILED.get(type);
  if (compiled === undefined) return false;
  const { required, fields } = compiled;
  if (required.length !== 1 || required[0] !== "text" || fields.length !== 2) return false;
  const [first, second] = fields as [CompiledField, CompiledField];
  const plain = (field: CompiledField, name: string) => field.name === name && field.isPlainString && !field.hasDefault;
  return plain(first, "text") && plain(second, "message_id");
}
const TOKEN_FAST = isTextType("token");
const THINKING_FAST = isTextType("thinking");

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

/** `data` parsed when it is a valid token/thinking payload, else null (the generic path explains why). */
function parseTextData(data: string): Record<string, unknown> | null {
  // the dominant frames: one regex instead of JSON.parse (same value, see PLAIN_TEXT_DATA)
  const plain = PLAIN_TEXT_DATA.exec(data);
  if (plain !== null) {
    const messageId = plain[2];
    return messageId === undefined ? { text: plain[1] } : { text: plain[1], message_id: messageId };
  }
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    return null;
  }
  if (typeof value !== "object" || value === null) return null;
  // a JSON array has no "text" property, so this also rules arrays out
  const record = value as { text?: unknown; message_id?: unknown };
  if (typeof record.text !== "string") return null;
  const messageId = record.message_id;
  return messageId === undefined || typeof messageId === "string" ? (record as Record<string, unknown>) : null;
}

/** {@link parseEvent} by the generated field table alone (the reference the fast paths must agree with). */
export function parseEventGeneric(type: string, data: string | JSONValue): AgentEvent | UnknownEvent {
  const compiled = COMPILED.get(type);
  let value: unknown = data;
  if (typeof data === "string") {
    try {
      value = JSON.parse(data);
    } catch (cause) {
      if (compiled === undefined) return { type, data, unknown: true };
      throw new InvalidEventError(`${type} event data is not JSON: ${truncate(data)}`, {
        eventType: type,
        field: "$",
        code: "invalid-json",
        cause,
      });
    }
  }
  if (compiled === undefined) return { type, data: value as JSONValue, unknown: true };
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new InvalidEventError(`${type} event data must be a JSON object, got ${truncate(value)}`, {
      eventType: type,
      field: "$",
    });
  }
  const record = value as Record<string, unknown>;
  // an object JSON.parse just made is ours to fill in; one the caller passed is copied
  const out: Record<string, unknown> = typeof data === "string" ? record : { ...record };
  // one pass: each field read once, defaults filled in; any problem is explained by invalid()
  const { fields } = compiled;
  for (let i = 0; i < fields.length; i += 1) {
    const { name, spec, hasDefault, isRequired, isPlainString } = fields[i] as CompiledField;
    const field = record[name];
    if (field === undefined) {
      if (isRequired) throw invalid(compiled, record);
      if (hasDefault) out[name] = cloneDefault(spec.default);
    } else if (isPlainString ? typeof field !== "string" : !matches(spec, field)) {
      throw invalid(compiled, record);
    }
  }
  // validated against the generated field table just above
  return { type: compiled.type, data: out } as unknown as AgentEvent;
}

/** The error for data that failed the check in parseEvent: a missing required field first. */
function invalid({ type, required, fields }: CompiledType, record: Record<string, unknown>): InvalidEventError {
  for (const name of required) {
    if (record[name] === undefined) {
      return new InvalidEventError(`${type} event lacks required field ${JSON.stringify(name)}: ${truncate(record)}`, {
        eventType: type,
        field: `$.${name}`,
      });
    }
  }
  for (const { name, spec } of fields) {
    const field = record[name];
    if (field !== undefined && !matches(spec, field)) {
      const expected = spec.enum !== undefined ? `one of ${JSON.stringify(spec.enum)}` : `a JSON ${spec.type}`;
      return new InvalidEventError(`${type} event field ${JSON.stringify(name)} must be ${expected}, got ${truncate(field)}`, {
        eventType: type,
        field: `$.${name}`,
      });
    }
  }
  throw new TypeError(`invalid() found nothing wrong with ${type} data ${truncate(record)}`);
}

/** Build a known event in code (fills schema defaults, validates like {@link parseEvent}). */
export function makeEvent<K extends EventType>(type: K, data: EventDataMap[K]): EventOf<K> {
  return parseEvent(type, data as unknown as JSONValue) as EventOf<K>;
}

/** The seq of an agent-stream id `<stream_id>:<seq>`, or null for an id of another shape. */
export function parseEventId(id: string): { streamId: string; seq: number } | null {
  const colon = seqColon(id);
  return colon === -1 ? null : { streamId: id.slice(0, colon), seq: idSeq(id, colon) };
}

// The server's rule: a seq is 0 or 1-18 ASCII digits with no leading zero (seqs past 2^53 lose
// precision as numbers but keep their order, so dedupe still holds), a stream id 1-128 of
// [A-Za-z0-9_-].
const SEQ_DIGITS_MAX = 18;
// 15 digits stay below Number.MAX_SAFE_INTEGER: read in place; longer seqs take the slow path
const SEQ_DIGITS_EXACT = 15;
const STREAM_ID_MAX = 128;

function isStreamIdChar(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 45 || c === 95;
}

/** Whether `value` is a stream id by the server's rule: 1-128 characters of [A-Za-z0-9_-]. */
export function isStreamId(value: string): boolean {
  if (value.length === 0 || value.length > STREAM_ID_MAX) return false;
  for (let i = 0; i < value.length; i += 1) if (!isStreamIdChar(value.charCodeAt(i))) return false;
  return true;
}

// The transport reads every event's id with the helpers below: they scan it in place, with no
// slice, regex or result object (lastIndexOf and startsWith cost more at this length).

/** Where the colon of `<stream_id>:<seq>` is (the server's rule, see above), else -1. */
export function seqColon(id: string): number {
  const length = id.length;
  for (let i = length - 1; i >= 0; i -= 1) {
    const c = id.charCodeAt(i);
    if (c >= 48 && c <= 57) continue;
    const digits = length - 1 - i;
    if (c !== 58 || i === 0 || i > STREAM_ID_MAX || digits < 1 || digits > SEQ_DIGITS_MAX) return -1;
    if (digits > 1 && id.charCodeAt(i + 1) === 48) return -1; // a leading zero
    for (let k = 0; k < i; k += 1) if (!isStreamIdChar(id.charCodeAt(k))) return -1;
    return i;
  }
  return -1;
}

/** The seq after the colon at `colon` (found by {@link seqColon}). */
export function idSeq(id: string, colon: number): number {
  // past 15 digits a running sum may round differently from the correctly rounded parse
  if (id.length - colon - 1 > SEQ_DIGITS_EXACT) return Number(id.slice(colon + 1));
  let seq = 0;
  for (let i = colon + 1; i < id.length; i += 1) seq = seq * 10 + id.charCodeAt(i) - 48;
  return seq;
}

/** Whether the id with its seq colon at `colon` names stream `streamId`. */
export function isIdOf(id: string, colon: number, streamId: string): boolean {
  if (colon !== streamId.length) return false;
  for (let i = 0; i < colon; i += 1) if (id.charCodeAt(i) !== streamId.charCodeAt(i)) return false;
  return true;
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
    const colon = seqColon(id);
    if (colon === -1) return ID_OPAQUE;
    if (this.#streamId === null) {
      this.#streamId = id.slice(0, colon);
      this.#prefix = id.slice(0, colon + 1);
    } else if (!isIdOf(id, colon, this.#streamId)) {
      return ID_FOREIGN;
    }
    return this.#take(idSeq(id, colon));
  }

  #take(seq: number): IdVerdict {
    if (seq <= this.#maxSeq) return ID_SEEN;
    this.#maxSeq = seq;
    return ID_NEW;
  }
}
