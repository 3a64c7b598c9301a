/**
 * An incremental SSE line parser over decoded text: WHATWG HTML, "Interpreting an event stream".
 *
 * Text in, messages out; no I/O, no UTF-8 (see `sse.ts` for bytes). Compared with
 * eventsource-parser (4.1.3: `js/bench/peer-conformance.mjs`), a block holding only `retry:`
 * does not lend its retry to the next event, and every line and every event's data is bounded,
 * also when it arrives in one chunk or is a field nobody reads.
 */
import { ProtocolError, truncate } from "./errors.js";

/** Where {@link SSEParser.feed} puts the messages it completes: an array, or a sink taking each as it completes. */
export interface SSESink {
  push(message: SSEMessage): unknown;
}

/** One dispatched SSE message. */
export interface SSEMessage {
  /** The event type; `"message"` when the block named none. */
  readonly event: string;
  readonly data: string;
  /** The last event ID in force after this block (`""` when none was ever set). */
  readonly id: string;
  /** True when this block carried a (valid) `id:` line of its own. */
  readonly hasOwnId: boolean;
  /** The `retry:` value given in this block, if any. */
  readonly retry: number | null;
}

const LF = 10;
const CR = 13;
const SPACE = 32;
const COLON = 58;
const BOM = 0xfeff;
// A valid retry: ASCII digits only, no sign, space, decimal point or other scripts' digits
// (WHATWG; `\d` is ASCII-only without the `u` flag), at most 18 after the leading zeros (more
// than ~31 years of ms cannot be meant; Python's SSEDecoder agrees). The lookahead takes the
// zeros atomically, so a long line fails in linear time without backtracking into them.
const RETRY = /^(?=\d)(?=(0*))\1\d{0,18}$/;

export class SSEParser {
  /** The last event ID in force (set at each dispatch, like `EventSource.lastEventId`). */
  lastEventId = "";
  /** The reconnection time from the last valid `retry:` line, or null. */
  retry: number | null = null;

  /** Bounds a line and the data of one event, in UTF-16 code units; settable between feeds. */
  max: number;
  readonly #onComment: ((comment: string) => void) | undefined;
  // an unterminated line, kept as fragments and joined once: a huge line fed in tiny slices
  // stays linear instead of O(n^2)
  #pending: string[] = [];
  #pendingLength = 0;
  #atStart = true;
  #skipLF = false;
  #data = "";
  #dataLines = 0;
  #event = "";
  #id = "";
  #hasOwnId = false;
  #blockRetry: number | null = null;

  /** `maxEventSize` bounds a line and the data of one event, in UTF-16 code units. */
  constructor(maxEventSize = 1 << 20, onComment?: (comment: string) => void) {
    this.max = maxEventSize;
    this.#onComment = onComment;
  }

  /**
   * Parse `text`, appending the messages it completes to `out`. Throws ProtocolError
   * `event-too-large` (after appending what came before the oversize line).
   */
  feed(text: string, out: SSESink): void {
    const length = text.length;
    if (length === 0) return;
    let pos = 0;
    if (this.#atStart) {
      this.#atStart = false;
      // WHATWG: one U+FEFF is skipped at the start of the stream, and only there
      if (text.charCodeAt(0) === BOM) pos = 1;
    }
    if (this.#skipLF) {
      // the previous chunk ended with CR: a LF here is the second half of that CRLF
      this.#skipLF = false;
      if (text.charCodeAt(pos) === LF) pos += 1;
    }
    let lf = text.indexOf("\n", pos);
    let cr = text.indexOf("\r", pos);
    // a line begun in an earlier chunk ends at the first line end of this one
    let pending = this.#pending.length > 0;
    // lf and cr hold the next LF / CR at or after pos (-1: none left); each search resumes
    // past the last, so a chunk is scanned once whatever its mix of line ends
    while (pos < length) {
      let end: number;
      if (cr === -1) {
        if (lf === -1) break;
        end = lf;
      } else if (lf === -1 || cr < lf) {
        end = cr;
      } else {
        end = lf;
      }
      if (pending) {
        pending = false;
        this.#pending.push(text.slice(pos, end));
        const line = this.#pending.join("");
        this.#pending = [];
        this.#pendingLength = 0;
        this.#line(line, 0, line.length, out);
      } else {
        this.#line(text, pos, end, out);
      }
      pos = this.#next(text, end);
      if (lf !== -1 && lf < pos) lf = text.indexOf("\n", pos);
      if (cr !== -1 && cr < pos) cr = text.indexOf("\r", pos);
    }
    if (pos < length) this.#park(text, pos);
  }

  /** End of stream: an unterminated line and an undispatched block are discarded (WHATWG). */
  end(): void {
    this.#pending = [];
    this.#pendingLength = 0;
    this.#resetBlock();
  }

  /** The index after the line end at `end`; a CR ending the text may be half of a CRLF. */
  #next(text: string, end: number): number {
    if (text.charCodeAt(end) === CR) {
      if (end + 1 === text.length) {
        this.#skipLF = true;
        return end + 1;
      }
      if (text.charCodeAt(end + 1) === LF) return end + 2;
    }
    return end + 1;
  }

  #park(text: string, pos: number): void {
    if (pos >= text.length) return;
    const rest = pos === 0 ? text : text.slice(pos);
    this.#pending.push(rest);
    this.#pendingLength += rest.length;
    if (this.#pendingLength > this.max) {
      const line = this.#pending.join("");
      this.#pending = [];
      this.#pendingLength = 0;
      this.#tooLarge("a line", line);
    }
  }

  /** One line `text[start:end]` (line end excluded), by the WHATWG steps. */
  #line(text: string, start: number, end: number, out: SSESink): void {
    if (start === end) {
      this.#dispatch(out);
      return;
    }
    if (end - start > this.max) this.#tooLarge("a line", text.slice(start, end));
    const first = text.charCodeAt(start);
    // the three fields of every agent-stream frame are recognised without slicing the name
    let colon: number;
    let name: string;
    if (first === 100 && text.charCodeAt(start + 4) === COLON && text.startsWith("ata", start + 1)) {
      colon = start + 4;
      name = "data";
    } else if (first === 105 && text.charCodeAt(start + 1) === 100 && text.charCodeAt(start + 2) === COLON) {
      colon = start + 2;
      name = "id";
    } else if (first === 101 && text.charCodeAt(start + 5) === COLON && text.startsWith("vent", start + 1)) {
      colon = start + 5;
      name = "event";
    } else {
      colon = text.indexOf(":", start);
      // a line without a colon is a field name with an empty value; a comment's name is ""
      if (colon === -1 || colon > end) colon = end;
      name = text.slice(start, colon);
    }
    // one space after the colon is not part of the value (slice past `end` gives "")
    const value = text.slice(text.charCodeAt(colon + 1) === SPACE ? colon + 2 : colon + 1, end);
    switch (name) {
      case "data":
        this.#addData(value);
        break;
      case "event":
        this.#event = value;
        break;
      case "id":
        this.#setId(value);
        break;
      case "":
        this.#onComment?.(value);
        break;
      case "retry":
        this.#setRetry(value);
        break;
      default:
      // any other field is ignored (WHATWG)
    }
  }

  #addData(value: string): void {
    if (this.#dataLines === 0) {
      if (value.length > this.max) this.#tooLarge("an event's data", value);
      this.#data = value;
    } else {
      if (this.#data.length + 1 + value.length > this.max) this.#tooLarge("an event's data", `${this.#data}\n${value}`);
      this.#data = `${this.#data}\n${value}`;
    }
    this.#dataLines += 1;
  }

  #setId(value: string): void {
    // an id holding NUL is ignored (WHATWG): it could not be sent back as a header
    if (value.indexOf("\0") !== -1) return;
    this.#id = value;
    this.#hasOwnId = true;
  }

  #setRetry(value: string): void {
    if (!RETRY.test(value)) return;
    const ms = Number(value);
    this.retry = ms;
    this.#blockRetry = ms;
  }

  #dispatch(out: SSESink): void {
    // WHATWG dispatch, step 1: the last event ID is set even when nothing is dispatched
    this.lastEventId = this.#id;
    if (this.#dataLines > 0) {
      out.push({
        event: this.#event === "" ? "message" : this.#event,
        data: this.#data,
        id: this.#id,
        hasOwnId: this.#hasOwnId,
        retry: this.#blockRetry,
      });
    }
    this.#resetBlock();
  }

  #resetBlock(): void {
    this.#data = "";
    this.#dataLines = 0;
    this.#event = "";
    this.#hasOwnId = false;
    this.#blockRetry = null;
  }

  #tooLarge(what: string, text: string): never {
    throw new ProtocolError(
      `${what} of ${text.length} characters exceeds maxEventSize=${this.max}`,
      { code: "event-too-large", line: truncate(text.slice(0, 100)) },
    );
  }
}
