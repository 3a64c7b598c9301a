/**
 * Strict UTF-8 for the SSE decoder: `createSSEDecoder({ utf8: strictUtf8 })` throws ProtocolError
 * `invalid-utf8` at the first byte that is not UTF-8 instead of reading U+FFFD (its own entry
 * point: the client does not need it, so its bundle does not pay for it).
 */
import { ProtocolError } from "./errors.js";
import type { Utf8Decoder } from "./sse.js";

/** A strict decoder for one stream: pass the function itself as the `utf8` option. */
export function strictUtf8(): Utf8Decoder {
  return new StrictUtf8();
}

/**
 * UTF-8 decoding that stops at the first invalid byte (WHATWG Encoding, the UTF-8 decoder's
 * byte ranges), so the text before it is still parsed: the events it completes are kept.
 */
class StrictUtf8 implements Utf8Decoder {
  #carry: Uint8Array = new Uint8Array(0);
  readonly #text = new TextDecoder("utf-8", { ignoreBOM: true });

  decode(chunk: Uint8Array, final: boolean, feed: (text: string) => void): void {
    let bytes = chunk;
    if (this.#carry.length > 0) {
      bytes = new Uint8Array(this.#carry.length + chunk.length);
      bytes.set(this.#carry);
      bytes.set(chunk, this.#carry.length);
    }
    const { valid, bad } = scanUtf8(bytes);
    feed(this.#text.decode(bytes.subarray(0, valid)));
    this.#carry = bytes.slice(valid);
    if (bad || (final && this.#carry.length > 0)) {
      const at = Array.from(bytes.subarray(valid, valid + 4), (b) => b.toString(16).padStart(2, "0")).join(" ");
      throw new ProtocolError(
        `invalid UTF-8 (bytes ${at}) in the event stream at byte ${valid} of a chunk; SSE is UTF-8 only (WHATWG), or drop the strictUtf8 decoder to read bad bytes as U+FFFD`,
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
