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
}

// the generated field table as arrays, built once: parseEvent runs for every event
const COMPILED: ReadonlyMap<string, { readonly required: readonly string[]; readonly fields: readonly CompiledField[] }> = new Map(
  Object.entries(EVENT_FIELDS).map(([type, table]) => {
    const { required, fields } = table as { readonly required: readonly string[]; readonly fields: Readonly<Record<string, FieldSpec>> };
    return [type, { required, fields: Object.entries(fields).map(([name, spec]) => ({ name, spec, hasDefault: "default" in spec })) }];
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
  let value: unknown = data;
  if (typeof data === "string") {
    try {
      value = JSON.parse(data);
    } catch (cause) {
      if (!isEventType(type)) return { type, data, unknown: true };
      throw new InvalidEventError(`${type} event data is not JSON: ${truncate(data)}`, {
        eventType: type,
        field: "$",
        code: "invalid-json",
        cause,
      });
    }
  }
  if (!isEventType(type)) return { type, data: value as JSONValue, unknown: true };
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new InvalidEventError(`${type} event data must be a JSON object, got ${truncate(value)}`, {
      eventType: type,
      field: "$",
    });
  }
  const record = value as Record<string, unknown>;
  const { required, fields } = COMPILED.get(type) as { readonly required: readonly string[]; readonly fields: readonly CompiledField[] };
  for (const name of required) {
    if (record[name] === undefined) {
      throw new InvalidEventError(`${type} event lacks required field ${JSON.stringify(name)}: ${truncate(record)}`, {
        eventType: type,
        field: `$.${name}`,
      });
    }
  }
  // an object JSON.parse just made is ours to fill in; one the caller passed is copied
  const out: Record<string, unknown> = typeof data === "string" ? record : { ...record };
  for (const { name, spec, hasDefault } of fields) {
    const field = record[name];
    if (field !== undefined) {
      if (!matches(spec, field)) {
        const expected = spec.enum !== undefined ? `one of ${JSON.stringify(spec.enum)}` : `a JSON ${spec.type}`;
        throw new InvalidEventError(`${type} event field ${JSON.stringify(name)} must be ${expected}, got ${truncate(field)}`, {
          eventType: type,
          field: `$.${name}`,
        });
      }
    } else if (hasDefault) {
      out[name] = cloneDefault(spec.default);
    }
  }
  // validated against the generated field table just above
  return { type, data: out } as unknown as AgentEvent;
}

/** Build a known event in code (fills schema defaults, validates like {@link parseEvent}). */
export function makeEvent<K extends EventType>(type: K, data: EventDataMap[K]): EventOf<K> {
  return parseEvent(type, data as unknown as JSONValue) as EventOf<K>;
}

/** The seq of an agent-stream id `<stream_id>:<seq>`, or null for an id of another shape. */
export function parseEventId(id: string): { streamId: string; seq: number } | null {
  const colon = id.lastIndexOf(":");
  if (colon <= 0) return null;
  const seqText = id.slice(colon + 1);
  if (!/^\d{1,15}$/.test(seqText)) return null;
  return { streamId: id.slice(0, colon), seq: Number(seqText) };
}
