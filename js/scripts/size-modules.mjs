// Where the bytes of one entry point come from: the entry bundled and minified as size.mjs does,
// with a source map; each minified character is counted for the source module it maps to, and
// each module's characters are gzipped together (a rough share: gzip works across modules).
//   node scripts/size-modules.mjs [packages/client/dist/index.js]
import { gzipSync } from "node:zlib";
import { build } from "rolldown";

const input = process.argv[2] ?? "packages/client/dist/index.js";
const result = await build({ input, write: false, logLevel: "silent", output: { format: "esm", minify: true, sourcemap: true } });
const { code, map } = result.output[0];
const sources = map.sources;

const BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
/** The numbers of one source-map segment (base64 VLQ, source map v3). */
function decodeSegment(text) {
  const values = [];
  let value = 0;
  let shift = 0;
  for (const char of text) {
    const digit = BASE64.indexOf(char);
    value += (digit & 31) << shift;
    if (digit & 32) {
      shift += 5;
    } else {
      values.push(value & 1 ? -(value >>> 1) : value >>> 1);
      value = 0;
      shift = 0;
    }
  }
  return values;
}

const lines = code.split("\n");
const parts = new Map(); // source -> minified text mapped to it
const pieces = []; // [source, text] in bundle order
let source = 0;
map.mappings.split(";").forEach((group, lineIndex) => {
  const line = lines[lineIndex] ?? "";
  let column = 0;
  const starts = [];
  for (const segment of group.split(",").filter(Boolean)) {
    const [dColumn, dSource] = decodeSegment(segment);
    column += dColumn;
    if (dSource !== undefined) source += dSource;
    starts.push([column, dSource === undefined ? -1 : source]);
  }
  starts.forEach(([start, src], i) => {
    const text = line.slice(start, starts[i + 1]?.[0] ?? line.length);
    const name = src === -1 ? "(unmapped)" : sources[src].replace(/^.*\/dist\//, "");
    parts.set(name, (parts.get(name) ?? "") + text);
    pieces.push([name, text]);
  });
});

const total = gzipSync(code, { level: 9 }).length;
console.log(`${input}: ${code.length} B min, ${total} B min+gzip`);
// "saved if cut": the bundle's gzip size minus that of the bundle without this module's text
// (what removing the module would save, gzip context included)
for (const [name, text] of [...parts].sort((a, b) => b[1].length - a[1].length)) {
  const without = pieces.map(([source, piece]) => (source === name ? "" : piece)).join("");
  const saved = total - gzipSync(without, { level: 9 }).length;
  console.log(`${name.padEnd(28)} ${String(text.length).padStart(7)} B min ${String(gzipSync(text, { level: 9 }).length).padStart(6)} B gzip alone ${String(saved).padStart(6)} B saved if cut`);
}
