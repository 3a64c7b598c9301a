/**
 * Parse benchmark: @agent-stream/client's SSE parser against eventsource-parser and
 * @microsoft/fetch-event-source on the shared 100,000-event corpus (bench/corpus.py), and the
 * client's full pipeline (parse + JSON.parse + checks + reduce) against eventsource-parser +
 * JSON.parse. Each case (what x chunk size) runs in a fresh process; its contenders run
 * round-robin, median of N rounds, a fresh parser per iteration.
 *
 *   cd js && npm run bench            # builds @agent-stream/client first
 *   node --expose-gc bench/parse.mjs --rounds 9 --markdown
 *   node --expose-gc bench/parse.mjs --only pipeline     # or --only parse, parse-bytes, parse-text
 *   node --expose-gc --cpu-prof bench/parse.mjs --case "pipeline 16 KiB"   # one case, to profile
 *
 * BENCH_FILTER=<substring> runs only the contenders whose name holds it (profiling);
 * BENCH_SAMPLES=1 prints every round's rate (k events/s).
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
import { createSSEDecoder, initialState, parseEvent, reduce, reduceMany } from "../packages/client/dist/core.js";
import { EventIdTracker, ID_FOREIGN, ID_NEW, ID_OPAQUE } from "../packages/client/dist/events.js";
import { SSEParser } from "../packages/client/dist/parser.js";
import { withLastEventId } from "../packages/client/dist/reducer.js";

const require = createRequire(import.meta.url);
/** @type {{ getLines: (onLine: (line: Uint8Array, fieldLength: number) => void) => (chunk: Uint8Array) => void, getMessages: (onId: (id: string) => void, onRetry: (ms: number) => void, onMessage: (m: { data: string, event: string, id: string }) => void) => (line: Uint8Array, fieldLength: number) => void }} */
const fes = require("@microsoft/fetch-event-source/lib/cjs/parse.js");

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const args = process.argv.slice(2);
const ROUNDS = Number(args[args.indexOf("--rounds") + 1] || 7) || 7;
const MARKDOWN = args.includes("--markdown");
// --only parse | pipeline: run one half; the default runs both
const ONLY = args.includes("--only") ? args[args.indexOf("--only") + 1] : null;
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
  // What AgentStreamClient does with a response, minus I/O, timers and callbacks: Run.#process
  // (dedupe by the id's seq, parseEvent) and the client's #receive / #flushPending (tokens wait
  // in a batch folded by one reduceMany; any other event flushes the batch and is reduced at
  // once). The client flushes its batch on a 50 ms timer; here at the end of every chunk, i.e.
  // batches no larger than the client's (16 KiB ~ 140 events, 1 KiB ~ 9).
  "agent-stream decode + parseEvent + reduceMany": (chunks) => {
    const decoder = createSSEDecoder({ maxEventSize: 1 << 20 });
    let state = initialState;
    const ids = new EventIdTracker();
    let pending = [];
    let pendingId = null;
    let n = 0;
    const flush = () => {
      if (pending.length === 0) return;
      state = withLastEventId(reduceMany(state, pending), pendingId ?? state.lastEventId);
      pending = [];
      pendingId = null;
    };
    for (const c of chunks) {
      for (const m of decoder.feed(c)) {
        n += 1;
        if (m.hasOwnId && m.id !== "") {
          // Run.#process: the next seq is one string compare, anything else read in full
          const verdict = ids.check(m.id);
          if (verdict === ID_FOREIGN) throw new Error("foreign id");
          if (verdict !== ID_NEW && verdict !== ID_OPAQUE) continue;
        }
        const event = parseEvent(m.event, m.data);
        if ("unknown" in event) continue;
        const id = m.id === "" ? null : m.id;
        if (event.type === "token" || event.type === "thinking") {
          pending.push(event);
          if (id !== null) pendingId = id;
        } else {
          flush();
          state = withLastEventId(reduce(state, event), id ?? state.lastEventId);
        }
      }
      flush();
    }
    decoder.close();
    if (!state.isDone || state.text.length === 0) throw new Error("the corpus ends with done");
    return n;
  },
  // the same, with every token reduced on its own (the client before reduceMany): what the
  // batch fold buys
  "agent-stream decode + parseEvent + reduce per event": (chunks) => {
    const decoder = createSSEDecoder({ maxEventSize: 1 << 20 });
    let state = initialState;
    const ids = new EventIdTracker();
    let n = 0;
    for (const c of chunks) {
      for (const m of decoder.feed(c)) {
        n += 1;
        if (m.hasOwnId && m.id !== "") {
          // Run.#process: the next seq is one string compare, anything else read in full
          const verdict = ids.check(m.id);
          if (verdict === ID_FOREIGN) throw new Error("foreign id");
          if (verdict !== ID_NEW && verdict !== ID_OPAQUE) continue;
        }
        const event = parseEvent(m.event, m.data);
        if ("unknown" in event) continue;
        state = withLastEventId(reduce(state, event), m.id === "" ? state.lastEventId : m.id);
      }
    }
    decoder.close();
    if (!state.isDone || state.text.length === 0) throw new Error("the corpus ends with done");
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
  const names = Object.keys(contenders).filter((name) => !process.env.BENCH_FILTER || name.includes(process.env.BENCH_FILTER));
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
  if (process.env.BENCH_SAMPLES) for (const name of names) console.log(name, rates[name].map((r) => Math.round(r / 1000)).join(" "));
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

const sizes = {
  "16 KiB": 16 << 10,
  "1 KiB": 1 << 10,
  "1-7 B": 0,
};
// Each case runs in a fresh process: one case's code paths (eventsource-parser's callbacks,
// ours) would otherwise shape the JIT's type feedback for the next, which moved the pipeline
// peer's rate by up to 2x depending on what ran before it.
const cases = [
  ...Object.keys(sizes).flatMap((size) => [`parse-bytes ${size}`, `parse-text ${size}`]),
  "pipeline 16 KiB",
  "pipeline 1 KiB",
];

function runCase(name) {
  const [kind, ...rest] = name.split(" ");
  const label = rest.join(" ");
  const chunks = chunk(corpus(), sizes[label]);
  if (kind === "parse-bytes") {
    report(`parse, bytes in, ${label} chunks`, measure(parseOnly, chunks), "eventsource-parser + TextDecoder (bytes)");
  } else if (kind === "parse-text") {
    report(`parse, text in, ${label} chunks`, measure(parseText, texts(chunks)), "eventsource-parser createParser (text)");
  } else {
    report(`full pipeline, ${label} chunks`, measure(pipeline, chunks), "eventsource-parser + JSON.parse");
  }
}

if (args.includes("--case")) {
  runCase(args[args.indexOf("--case") + 1]);
} else {
  const bytes = corpus();
  const versions = ["eventsource-parser", "@microsoft/fetch-event-source"].map(
    (name) => `${name} ${JSON.parse(readFileSync(require.resolve(`${name}/package.json`), "utf8")).version}`,
  );
  console.log(
    `${EVENTS.toLocaleString("en-US")} events, ${bytes.length.toLocaleString("en-US")} bytes; node ${process.version}; ${versions.join(", ")}; ` +
      `${os.cpus()[0]?.model ?? "?"} x${os.cpus().length}; load ${os.loadavg()[0].toFixed(2)}; median of ${ROUNDS}${globalThis.gc ? ", GC between runs" : ""}; a process per case`,
  );
  for (const name of cases) {
    if (ONLY !== null && !name.startsWith(ONLY)) continue;
    execFileSync(process.execPath, ["--expose-gc", fileURLToPath(import.meta.url), "--case", name, ...args], { stdio: "inherit" });
  }
  console.log(`\nload ${os.loadavg().map((l) => l.toFixed(2)).join(" ")} at the end`);
}
