/**
 * The SSE layer: bytes in, messages out (h11-shaped, no I/O). {@link createSSEDecoder} decodes
 * UTF-8 across chunk edges and hands the text to {@link SSEParser} (`parser.ts`).
 *
 * Nothing is lost to an error, as in Python's `SSEDecoder`: when a chunk completes events
 * before its bad input, `feed()` returns those events and the error is thrown by the next
 * `feed()` or `close()`; when it completes none, the error is thrown at once. After an error
 * every call throws it again.
 */
import { ProtocolError, UsageError } from "./errors.js";
import { type SSEMessage, SSEParser } from "./parser.js";

export type { SSEMessage };

export interface SSEDecoderOptions {
  /** Largest line or event data, in UTF-16 code units (default 1 MiB); beyond it: `event-too-large`. */
  maxEventSize?: number | undefined;
  /**
   * How bytes become text; default WHATWG UTF-8 decoding (bad bytes read as U+FFFD). Pass
   * `strictUtf8` from `@agent-stream/client/strict-utf8` to throw ProtocolError `invalid-utf8` instead.
   */
  utf8?: (() => Utf8Decoder) | undefined;
  /** Called for each comment line (`: ping`), without the colon and one leading space. */
  onComment?: ((comment: string) => void) | undefined;
}

/** Incremental decoder: `feed(bytes)` returns what completed and keeps the rest. */
export interface SSEDecoder {
  feed(chunk: Uint8Array | string): SSEMessage[];
  /** End of stream: flush the decoder; an unterminated block is discarded (WHATWG). */
  close(): SSEMessage[];
  /** The last event ID in force. */
  readonly lastEventId: string;
  /** The reconnection time in force, from the last valid `retry:` field. */
  readonly retry: number | null;
  /** The limit on a line or an event's data; settable, for the input not parsed yet. */
  maxEventSize: number;
  /** The error that stopped decoding (the next call throws it), or null. */
  readonly error: Error | null;
}

/** UTF-8 decoding across chunk edges, one per stream (see {@link SSEDecoderOptions.utf8}). */
export interface Utf8Decoder {
  /**
   * Decode `chunk` (`final`: the stream ended) and hand its text to `feed`; on bad input, hand on
   * the text before it, then throw (so the events it completes are kept).
   */
  decode(chunk: Uint8Array, final: boolean, feed: (text: string) => void): void;
}

// one options object for every chunk, not one per feed()
const STREAM: TextDecodeOptions = Object.freeze({ stream: true });

export function createSSEDecoder(options: SSEDecoderOptions = {}): SSEDecoder {
  const max = options.maxEventSize ?? 1 << 20;
  if (!Number.isInteger(max) || max < 1) {
    throw new UsageError(`maxEventSize must be a positive integer, got ${String(max)}`, { code: "invalid-option" });
  }
  const parser = new SSEParser(max, options.onComment);
  // the parser strips the BOM itself (one, at the start only), so TextDecoder must keep it
  const text = new TextDecoder("utf-8", { ignoreBOM: true });
  const utf8 = options.utf8?.();
  let failure: Error | null = null;
  let closed = false;

  /** What `out` holds, and the parser's error deferred while `out` has events (see above). */
  function settle(out: SSEMessage[], error: unknown): SSEMessage[] {
    if (!(error instanceof ProtocolError)) throw error;
    failure = error;
    if (out.length === 0) throw error;
    return out;
  }

  return {
    feed(chunk) {
      if (failure !== null) throw failure;
      const out: SSEMessage[] = [];
      try {
        if (typeof chunk === "string") parser.feed(chunk, out);
        else if (utf8) utf8.decode(chunk, false, (decoded) => parser.feed(decoded, out));
        else parser.feed(text.decode(chunk, STREAM), out);
      } catch (error) {
        return settle(out, error);
      }
      return out;
    },
    close() {
      if (closed) return [];
      closed = true;
      if (failure !== null) throw failure;
      const out: SSEMessage[] = [];
      try {
        if (utf8) utf8.decode(new Uint8Array(0), true, (decoded) => parser.feed(decoded, out));
        else parser.feed(text.decode(), out);
        parser.end();
      } catch (error) {
        return settle(out, error);
      }
      failure = new UsageError("SSEDecoder.feed() called after close(); make a new decoder per stream", { code: "decoder-closed" });
      return out;
    },
    get lastEventId() {
      return parser.lastEventId;
    },
    get retry() {
      return parser.retry;
    },
    get maxEventSize() {
      return parser.max;
    },
    set maxEventSize(value) {
      parser.max = value;
    },
    get error() {
      return failure;
    },
  };
}
