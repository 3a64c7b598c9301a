/**
 * Parse benchmark: @agent-stream/client's SSE parser against eventsource-parser and
 * @microsoft/fetch-event-source on the shared 100,000-event corpus (bench/corpus.py), in one
 * process, round-robin, median of N rounds, a fresh parser per iteration.
 *
 *   cd js && npm run bench            # builds @agent-stream/client first
 *   node --expose-gc bench/parse.mjs --rounds 9 --markdown
 *
 * The corpus bytes are made once by the Python generator into bench/.out/ (gitignored).
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createParser } from "eventsource-parser";
import { createSSEDecoder, parseEvent, reduce, initialState } from "../packages/client/dist/index.js";
import { SSEParser } from "../packages/client/dist/parser.js";

const require = createRequire(import.meta.url);
/** @type {{ getLines: (onLine: (line: Uint8Array, fieldLength: number) => void) => (chunk: Uint8Array) => void, getMessages: (onId: (id: string) => void, onRetry: (ms: number) => void, onMessage: (m: { data: string, event: string, id: string }) => void) => (line: Uint8Array, fieldLength: number) => void }} */
const fes = require("@microsoft/fetch-event-source/lib/cjs/parse.js");

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const args = process.argv.slice(2);
const ROUNDS = Number(args[args.indexOf("--rounds") + 1] || 7) || 7;
const MARKDOWN = args.includes("--markdown");
const EVENTS = 100_000;

function corpus() {
  const file = path.join(root, "bench/.out/corpus-100000.sse");
  if (!existsSync(file)) {
    mkdirSync(path.dirname(file), { recursive: true });
    const python = path.join(root, ".venv/bin/python");
    const code = 'import sys; sys.path.insert(0, "bench"); from corpus import corpus_sse_bytes; sys.stdout.buffer.write(corpus_sse_bytes(100_000))';
    writeFileSync(file, execFileSync(python, ["-c", code], { cwd: root, maxBuffer: 1 << 30 }));
  }
  return new Uint8Array(readFileSync(file));
}

/** Cut `bytes` into chunks of `size` bytes, or of seeded random sizes 1..7 when size is 0. */
function chunk(bytes, size) {
  const out = [];
  let state = 20240917;
  for (let at = 0; at < bytes.length; ) {
    let n = size;
    if (n === 0) {
      state = (Math.imul(state, 1103515245) + 12345) >>> 0;
      n = 1 + ((state >>> 16) % 7);
    }
    out.push(bytes.subarray(at, at + n));
    at += n;
  }
  return out;
}

/** The same chunks decoded to strings (a streaming TextDecoder: code points cut at edges are kept whole). */
function texts(chunks) {
  const decoder = new TextDecoder("utf-8", { ignoreBOM: true });
  const out = chunks.map((c) => decoder.decode(c, { stream: true }));
  out.push(decoder.decode());
  return out;
}

// --- contenders: each takes the chunks and returns how many events it produced ----------------

const parseOnly = {
  "agent-stream createSSEDecoder (bytes)": (chunks) => {
    const decoder = createSSEDecoder({ maxEventSize: 1 << 20 });
    let n = 0;
    for (const c of chunks) n += decoder.feed(c).length;
    return n + decoder.close().length;
  },
  "eventsource-parser + TextDecoder (bytes)": (chunks) => {
    let n = 0;
    const text = new TextDecoder();
    const parser = createParser({ onEvent: () => void (n += 1) });
    for (const c of chunks) parser.feed(text.decode(c, { stream: true }));
    parser.feed(text.decode());
    return n;
  },
  "fetch-event-source getLines/getMessages (bytes)": (chunks) => {
    let n = 0;
    const onChunk = fes.getLines(fes.getMessages(() => {}, () => {}, () => void (n += 1)));
    for (const c of chunks) onChunk(c);
    return n;
  },
};

const parseText = {
  "agent-stream SSEParser (text)": (strings) => {
    const parser = new SSEParser(1 << 20);
    let n = 0;
    const out = [];
    for (const s of strings) {
      parser.feed(s, out);
      if (out.length !== 0) {
        n += out.length;
        out.length = 0;
      }
    }
    return n;
  },
  "eventsource-parser createParser (text)": (strings) => {
    let n = 0;
    const parser = createParser({ onEvent: () => void (n += 1) });
    for (const s of strings) parser.feed(s);
    return n;
  },
};

const pipeline = {
  "agent-stream decode + parseEvent + reduce": (chunks) => {
    const decoder = createSSEDecoder({ maxEventSize: 1 << 20 });
    let state = initialState;
    let n = 0;
    for (const c of chunks) {
      for (const m of decoder.feed(c)) {
        state = reduce(state, parseEvent(m.event, m.data));
        n += 1;
      }
    }
    if (!state.isDone) throw new Error("the corpus ends with done");
    return n;
  },
  "eventsource-parser + JSON.parse": (chunks) => {
    let n = 0;
    let sink = 0;
    const text = new TextDecoder();
    const parser = createParser({
      onEvent: (m) => {
        const data = JSON.parse(m.data);
        if (data !== null) sink += 1;
        n += 1;
      },
    });
    for (const c of chunks) parser.feed(text.decode(c, { stream: true }));
    parser.feed(text.decode());
    if (sink !== n) throw new Error("unreachable");
    return n;
  },
};

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Round-robin: each round runs every contender once, in a rotated order; median events/s. */
function measure(contenders, input) {
  const names = Object.keys(contenders);
  const rates = Object.fromEntries(names.map((n) => [n, []]));
  for (const name of names) contenders[name](input); // warm-up
  for (let round = 0; round < ROUNDS; round += 1) {
    for (let i = 0; i < names.length; i += 1) {
      const name = names[(i + round) % names.length];
      globalThis.gc?.();
      const start = process.hrtime.bigint();
      const n = contenders[name](input);
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      if (n !== EVENTS) throw new Error(`${name} produced ${n} events, expected ${EVENTS}`);
      rates[name].push(n / seconds);
    }
  }
  return names.map((name) => ({ name, rate: median(rates[name]) }));
}

function report(title, rows, baseline) {
  const base = rows.find((r) => r.name === baseline)?.rate ?? 1;
  if (MARKDOWN) {
    console.log(`\n| ${title} | events/s | vs ${baseline} |\n| --- | ---: | ---: |`);
    for (const r of rows) console.log(`| ${r.name} | ${Math.round(r.rate).toLocaleString("en-US")} | ${(r.rate / base).toFixed(2)}x |`);
  } else {
    console.log(`\n${title}`);
    for (const r of rows) console.log(`  ${r.name.padEnd(50)} ${Math.round(r.rate).toLocaleString("en-US").padStart(12)} ev/s  ${(r.rate / base).toFixed(2)}x`);
  }
}

const bytes = corpus();
const versions = ["eventsource-parser", "@microsoft/fetch-event-source"].map(
  (name) => `${name} ${JSON.parse(readFileSync(require.resolve(`${name}/package.json`), "utf8")).version}`,
);
console.log(
  `${EVENTS.toLocaleString("en-US")} events, ${bytes.length.toLocaleString("en-US")} bytes; node ${process.version}; ${versions.join(", ")}; ` +
    `${os.cpus()[0]?.model ?? "?"} x${os.cpus().length}; load ${os.loadavg()[0].toFixed(2)}; median of ${ROUNDS}${globalThis.gc ? ", GC between runs" : ""}`,
);
const sizes = [
  ["16 KiB", 16 << 10],
  ["1 KiB", 1 << 10],
  ["1-7 B", 0],
];
for (const [label, size] of sizes) {
  const chunks = chunk(bytes, size);
  report(`parse, bytes in, ${label} chunks`, measure(parseOnly, chunks), "eventsource-parser + TextDecoder (bytes)");
  report(`parse, text in, ${label} chunks`, measure(parseText, texts(chunks)), "eventsource-parser createParser (text)");
}
for (const [label, size] of sizes.slice(0, 2)) {
  report(`full pipeline, ${label} chunks`, measure(pipeline, chunk(bytes, size)), "eventsource-parser + JSON.parse");
}
