// The size a user's bundle pays for each entry point of each package (`exports` of its
// package.json): its ESM build bundled alone (dependencies and peers left out), minified by
// rolldown, then gzipped. Fails when an entry point is over its budget or has none.
//   node scripts/size.mjs [--json]
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { build } from "rolldown";

// Budgets guard against regressions, one per entry point ("<package>" or "<package>/<subpath>").
// The client's target is 8 KB (issue 16): 8.58 KB (8,786 B) after moving persist, respond,
// strict UTF-8 and the sans-I/O values (/core) to their own entry points and trimming
// (bench/RESULTS.md, "Package sizes", has the steps, what was measured and dropped, and what is left).
const BUDGETS = {
  "@agent-stream/client": 8.6 * 1024,
  // the sans-I/O pieces (decoder, parser, reducer, resume core, batching, retry policy)
  "@agent-stream/client/core": 8 * 1024,
  "@agent-stream/client/strict-utf8": 2 * 1024,
  "@agent-stream/client/persist": 1024,
  "@agent-stream/client/respond": 2 * 1024,
  // alone it carries the SSE parser and event ids it shares with the client: 5.4 KB; beside the
  // client it adds 3.2 KB (#14)
  "@agent-stream/client/tabs": 6 * 1024,
  "@agent-stream/react": 2 * 1024,
  "@agent-stream/ag-ui": 8 * 1024,
};

const rows = [];
for (const dir of ["client", "react", "ag-ui"]) {
  const root = new URL(`../packages/${dir}/`, import.meta.url);
  const pkg = JSON.parse(readFileSync(new URL("package.json", root), "utf8"));
  const external = [...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.peerDependencies ?? {})];
  for (const [subpath, target] of Object.entries(pkg.exports)) {
    const file = target?.import?.default;
    if (file === undefined) continue; // ./package.json
    const name = subpath === "." ? pkg.name : `${pkg.name}/${subpath.slice(2)}`;
    const result = await build({
      input: new URL(file, root).pathname,
      external: (id) => external.some((dep) => id === dep || id.startsWith(`${dep}/`)),
      write: false,
      logLevel: "silent",
      output: { format: "esm", minify: true },
    });
    const code = result.output[0].code;
    const gzip = gzipSync(code, { level: 9 }).length;
    rows.push({ name, minified: code.length, gzip, budget: BUDGETS[name] ?? 0 });
  }
}

if (process.argv.includes("--json")) {
  console.log(JSON.stringify(rows));
} else {
  for (const row of rows) {
    console.log(`${row.name}: ${(row.minified / 1024).toFixed(2)} KB min, ${(row.gzip / 1024).toFixed(2)} KB min+gzip (budget ${(row.budget / 1024).toFixed(2)} KB)`);
  }
}
const over = rows.filter((row) => row.gzip > row.budget);
for (const row of over) console.error(`${row.name} is over its size budget (js/scripts/size.mjs BUDGETS): ${row.gzip} > ${row.budget} bytes`);
process.exit(over.length ? 1 : 0);
