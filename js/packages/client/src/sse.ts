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
  /** Throw ProtocolError `invalid-utf8` on bytes that are not UTF-8, instead of reading U+FFFD. */
  strictUtf8?: boolean | undefined;
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
  const strict = options.strictUtf8 === true ? new StrictUtf8() : null;
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
        else if (strict !== null) strict.decode(chunk, false, parser, out);
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
        if (strict !== null) strict.decode(new Uint8Array(0), true, parser, out);
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
  };
}

/**
 * UTF-8 decoding that stops at the first invalid byte (WHATWG Encoding, the UTF-8 decoder's
 * byte ranges), so the text before it is still parsed: the events it completes are kept.
 */
class StrictUtf8 {
  #carry: Uint8Array = new Uint8Array(0);
  readonly #text = new TextDecoder("utf-8", { ignoreBOM: true });

  decode(chunk: Uint8Array, final: boolean, parser: SSEParser, out: SSEMessage[]): void {
    let bytes = chunk;
    if (this.#carry.length > 0) {
      bytes = new Uint8Array(this.#carry.length + chunk.length);
      bytes.set(this.#carry);
      bytes.set(chunk, this.#carry.length);
    }
    const { valid, bad } = scanUtf8(bytes);
    parser.feed(this.#text.decode(bytes.subarray(0, valid)), out);
    this.#carry = bytes.slice(valid);
    if (bad || (final && this.#carry.length > 0)) {
      const at = Array.from(bytes.subarray(valid, valid + 4), (b) => b.toString(16).padStart(2, "0")).join(" ");
      throw new ProtocolError(
        `invalid UTF-8 (bytes ${at}) in the event stream at byte ${valid} of a chunk; SSE is UTF-8 only (WHATWG), or turn strictUtf8 off to read bad bytes as U+FFFD`,
        { code: "invalid-utf8", line: at },
      );
    }
  }
}

/** How many bytes form whole valid code points, and whether an invalid sequence follows them. */
function scanUtf8(bytes: Uint8Array): { valid: number; bad: boolean } {
  const n = bytes.length;
  let i = 0;
  while (i < n) {
    const b = bytes[i] as number;
    if (b < 0x80) {
      i += 1;
      continue;
    }
    let need: number;
    let low = 0x80;
    let high = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) need = 1;
    else if (b >= 0xe0 && b <= 0xef) {
      need = 2;
      if (b === 0xe0) low = 0xa0;
      else if (b === 0xed) high = 0x9f;
    } else if (b >= 0xf0 && b <= 0xf4) {
      need = 3;
      if (b === 0xf0) low = 0x90;
      else if (b === 0xf4) high = 0x8f;
    } else return { valid: i, bad: true };
    for (let k = 1; k <= need; k += 1) {
      if (i + k >= n) return { valid: i, bad: false }; // incomplete: wait for the next chunk
      const c = bytes[i + k] as number;
      if (c < low || c > high) return { valid: i, bad: true };
      low = 0x80;
      high = 0xbf;
    }
    i += need + 1;
  }
  return { valid: n, bad: false };
}
