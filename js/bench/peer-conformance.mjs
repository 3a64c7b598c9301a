/**
 * Runs spec/conformance/sse through eventsource-parser (the devDependency's version), wrapped as
 * well as its public API allows, with the same splits as our vitest runner: as given, whole, byte
 * by byte, four seeded random splits, and an unfinished block after inputs that end on a line
 * end. Prints the vectors it fails and why; exits 0 either way (a report, not a test).
 *
 *   cd js && node bench/peer-conformance.mjs [--verbose]
 *
 * The wrapper gives eventsource-parser everything it lacks and a wrapper can add: UTF-8 decoding
 * across chunks (TextDecoder, `fatal` for strict_utf8), the last event id carried across blocks
 * (its `onId`), each event's own `retry` (its `onRetry`), the size limit for what arrives in one
 * chunk (its `maxBufferSize` bounds only what it buffers), and a CR ending the stream.
 */
import { readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createParser } from "eventsource-parser";

const require = createRequire(import.meta.url);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const VERBOSE = process.argv.includes("--verbose");
const TRAILER = new TextEncoder().encode("data: never dispatched\nevent: nope\n: no blank line follows\nid: 99");

class Failure extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

/** The length of the longest prefix of `bytes` that is valid UTF-8 (a cut code point at the end counts as valid). */
function validPrefix(bytes) {
  let lo = 0;
  let hi = bytes.length;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    try {
      new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes.subarray(0, mid), { stream: true });
      lo = mid;
    } catch {
      hi = mid - 1;
    }
  }
  return lo;
}

function createPeerDecoder({ maxEventBytes = 1 << 20, strictUtf8 = false } = {}) {
  // ignoreBOM: eventsource-parser strips the one BOM itself; TextDecoder would strip a second
  const text = new TextDecoder("utf-8", { ignoreBOM: true });
  let carry = new Uint8Array(0); // strict mode: bytes not yet known to be valid
  let out = [];
  let lastEventId = "";
  let retry = null;
  let blockRetry = null;
  let failure = null;
  let endsWithCR = false;
  const tooLarge = (n) => new Failure("event-too-large", `${n} characters over ${maxEventBytes}`);
  const parser = createParser({
    maxBufferSize: maxEventBytes,
    onId(id) {
      lastEventId = id; // called at every block end that had an id line, data or not
    },
    onEvent(message) {
      if (failure !== null) return;
      if (message.data.length > maxEventBytes) {
        failure = tooLarge(message.data.length);
        return;
      }
      out.push({ event: message.event ?? "message", data: message.data, id: lastEventId, retry: blockRetry });
      blockRetry = null;
    },
    onRetry(ms) {
      retry = ms;
      blockRetry = ms; // no callback says where a retry-only block ends
    },
    // with an onComment, comment lines are buffered (and bounded) rather than skipped
    onComment() {},
    onError(error) {
      if (error.type === "max-buffer-size-exceeded") failure ??= tooLarge("more than");
    },
  });
  function push(chunk) {
    if (chunk !== "") {
      // a line that arrives whole in one chunk is not buffered, so maxBufferSize never sees
      // it: feed up to the first oversize line, then fail
      let at = 0;
      for (const match of chunk.matchAll(/[^\r\n]*(?:\r\n|\r|\n|$)/g)) {
        if (match[0].replace(/[\r\n]+$/, "").length > maxEventBytes) {
          parser.feed(chunk.slice(0, match.index));
          failure ??= tooLarge(match[0].length);
          at = -1;
          break;
        }
        if (match[0] === "") break;
      }
      if (at === 0 && failure === null) parser.feed(chunk);
      endsWithCR = chunk.endsWith("\r");
    }
    const done = out;
    out = [];
    if (failure !== null && done.length === 0) throw failure;
    return done;
  }
  function decode(bytes, stream) {
    if (!strictUtf8) return text.decode(bytes, { stream });
    const all = concat([carry, bytes ?? new Uint8Array(0)]);
    const valid = validPrefix(all);
    let good = all.subarray(0, valid);
    // hold back a code point cut at the end (it may complete with the next chunk)
    let cut = 0;
    while (cut < 3 && cut < good.length && (good[good.length - 1 - cut] & 0xc0) === 0x80) cut += 1;
    cut = cut < good.length && good[good.length - 1 - cut] >= 0xc0 ? cut + 1 : 0;
    if (valid < all.length) cut = 0;
    carry = all.slice(good.length - cut);
    good = good.subarray(0, good.length - cut);
    const decoded = new TextDecoder("utf-8", { ignoreBOM: true }).decode(good);
    if (valid < all.length || (!stream && carry.length > 0)) {
      const events = push(decoded);
      failure ??= new Failure("invalid-utf8", "invalid UTF-8");
      out.unshift(...events);
      return "";
    }
    return decoded;
  }
  return {
    feed: (bytes) => push(decode(bytes, true)),
    close() {
      const events = push(decode(undefined, false));
      if (endsWithCR) events.push(...push("\n"));
      if (failure !== null && events.length === 0) throw failure;
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

// --- the same splits as js/packages/client/test/conformance-sse.test.ts ----------------------

function concat(chunks) {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}

function seeded(text) {
  let state = [...text].reduce((h, c) => Math.imul(h ^ c.charCodeAt(0), 16777619) >>> 0, 2166136261);
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function splits(chunks, seed) {
  const whole = concat(chunks);
  const out = [
    ["as given", chunks],
    ["whole", [whole]],
    ["byte by byte", [...whole].map((b) => Uint8Array.of(b))],
  ];
  const random = seeded(seed);
  for (let n = 0; n < 4; n += 1) {
    const cuts = new Set();
    const count = 1 + Math.floor(random() * 6);
    for (let i = 0; i < count; i += 1) cuts.add(Math.floor(random() * (whole.length + 1)));
    const pieces = [];
    let at = 0;
    for (const p of [...cuts].sort((a, b) => a - b)) {
      pieces.push(whole.slice(at, p));
      at = p;
    }
    pieces.push(whole.slice(at));
    out.push([`random split ${n}`, pieces]);
  }
  return out;
}

function run(vector, pieces) {
  const decoder = createPeerDecoder({ maxEventBytes: vector.options?.max_event_bytes, strictUtf8: vector.options?.strict_utf8 });
  const events = [];
  try {
    for (const piece of pieces) events.push(...decoder.feed(piece));
    events.push(...decoder.close());
  } catch (error) {
    return { events, error, decoder };
  }
  return { events, error: null, decoder };
}

function check(vector, pieces) {
  const { events, error, decoder } = run(vector, pieces);
  const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
  if (vector.error !== undefined) {
    if (error?.code !== vector.error.code) return `expected error ${vector.error.code}, got ${error?.code ?? "none"}`;
    if (!same(events, vector.events_before_error)) return `events before the error: ${JSON.stringify(events)}`;
    return null;
  }
  if (error !== null) return `raised ${error.code ?? error}`;
  if (!same(events, vector.events)) return `events ${JSON.stringify(events)}`;
  if (vector.last_event_id !== undefined && decoder.lastEventId !== vector.last_event_id) return `last event id ${JSON.stringify(decoder.lastEventId)}`;
  if (vector.retry !== undefined && decoder.retry !== vector.retry) return `retry ${decoder.retry}`;
  return null;
}

const dir = path.join(root, "spec/conformance/sse");
const version = JSON.parse(readFileSync(require.resolve("eventsource-parser/package.json"), "utf8")).version;
let vectors = 0;
let cases = 0;
const failed = [];
let failedCases = 0;
for (const file of readdirSync(dir).filter((n) => n.endsWith(".json")).sort()) {
  for (const vector of JSON.parse(readFileSync(path.join(dir, file), "utf8")).vectors) {
    vectors += 1;
    const chunks = vector.chunks_base64 !== undefined ? vector.chunks_base64.map((b) => Uint8Array.from(Buffer.from(b, "base64"))) : vector.chunks.map((c) => new TextEncoder().encode(c));
    const runs = splits(chunks, vector.name);
    const whole = concat(chunks);
    const last = whole[whole.length - 1];
    if (vector.error === undefined && vector.options === undefined && (last === undefined || last === 10 || last === 13)) {
      runs.push(...splits([...chunks, TRAILER], `${vector.name}/trailer`).map(([how, p]) => [`${how} + unfinished block`, p]));
    }
    const problems = [];
    for (const [how, pieces] of runs) {
      cases += 1;
      const problem = check(vector, pieces);
      if (problem !== null) problems.push(`${how}: ${problem}`);
    }
    if (problems.length > 0) {
      failedCases += problems.length;
      failed.push(`${file}: ${vector.name} (${problems.length}/${runs.length} cases) - ${VERBOSE ? problems.join("; ") : problems[0]}`);
    }
  }
}
console.log(`eventsource-parser ${version} behind the wrapper: ${vectors - failed.length}/${vectors} vectors pass, ${cases - failedCases}/${cases} cases`);
for (const line of failed) console.log(`  FAIL ${line}`);
