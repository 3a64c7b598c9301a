/**
 * The SSE parsing layer: bytes in, messages out (h11-shaped, no I/O). It wraps
 * `eventsource-parser` behind {@link SSEDecoder} so the parser can be swapped.
 *
 * What the wrapper adds to eventsource-parser (WHATWG HTML, "Interpreting an event stream"):
 * - UTF-8 decoding across chunk edges (a code point may be split between chunks);
 * - the BOM: TextDecoder drops one at stream start (eventsource-parser looks for the BOM's UTF-8
 *   bytes as characters, which a decoded string never holds);
 * - the last event ID persists from block to block (eventsource-parser reports only the id line
 *   of the block itself);
 * - a CR that ends the stream still ends its line at `close()`.
 */
import { type EventSourceMessage, type ParseError, createParser } from "eventsource-parser";
import { ProtocolError } from "./errors";

/** One dispatched SSE message. */
export interface SSEMessage {
  /** The event type; `"message"` when the block named none. */
  readonly event: string;
  readonly data: string;
  /** The last event ID in force after this block (`""` when none was ever set). */
  readonly id: string;
  /** True when this block carried an `id:` line of its own. */
  readonly hasOwnId: boolean;
  /** The `retry:` value given in this block, if any. */
  readonly retry: number | null;
}

export interface SSEDecoderOptions {
  /** Largest event (buffered line + data), in UTF-16 code units; beyond it feed() throws. */
  maxEventSize?: number;
  /** Called for each comment line (`: ping`), without the colon. */
  onComment?: (comment: string) => void;
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

export function createSSEDecoder(options: SSEDecoderOptions = {}): SSEDecoder {
  const text = new TextDecoder("utf-8");
  let out: SSEMessage[] = [];
  let lastEventId = "";
  let retry: number | null = null;
  let blockRetry: number | null = null;
  let failure: ProtocolError | null = null;
  let endsWithCR = false;

  const parser = createParser({
    maxBufferSize: options.maxEventSize,
    onEvent(message: EventSourceMessage) {
      // eventsource-parser bounds only what it buffers between chunks; an event that arrives
      // whole in one chunk is bounded here
      const max = options.maxEventSize;
      if (max !== undefined && message.data.length > max) {
        failure ??= new ProtocolError(`an event of ${message.data.length} characters exceeded the limit of ${max}`, {
          code: "event-too-large",
          line: `${message.data.slice(0, 77)}...`,
        });
        return;
      }
      const hasOwnId = message.id !== undefined;
      if (message.id !== undefined) lastEventId = message.id;
      out.push({
        event: message.event ?? "message",
        data: message.data,
        id: lastEventId,
        hasOwnId,
        retry: blockRetry,
      });
      blockRetry = null;
    },
    onRetry(ms: number) {
      retry = ms;
      blockRetry = ms;
    },
    onComment: options.onComment,
    onError(error: ParseError) {
      // unknown fields and bad retry values are ignored by the spec; only overflow is fatal
      if (error.type === "max-buffer-size-exceeded") {
        failure ??= new ProtocolError(`an event exceeded ${options.maxEventSize} characters; ${error.message}`, {
          code: "event-too-large",
          line: error.line ?? null,
        });
      }
    },
  });

  function push(chunk: string): SSEMessage[] {
    if (chunk !== "") {
      parser.feed(chunk);
      endsWithCR = chunk.endsWith("\r");
    }
    const done = out;
    out = [];
    if (failure !== null) throw failure;
    return done;
  }

  return {
    feed(chunk) {
      return push(typeof chunk === "string" ? chunk : text.decode(chunk, { stream: true }));
    },
    close() {
      const tail = text.decode();
      const events = push(tail);
      // a CR ending the stream ends its line; LF after CR would be one line end, so this adds none
      if (endsWithCR) events.push(...push("\n"));
      return events;
    },
    get lastEventId() {
      return lastEventId;
    },
    get retry() {
      return retry;
    },
  };
}
