// The size a user's bundle pays for each package: its ESM build bundled alone (dependencies and
// peers left out), minified by rolldown, then gzipped. Fails when a package is over its budget.
//   node scripts/size.mjs [--json]
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { build } from "rolldown";

// Budgets guard against regressions. The client's target is 8 KB (issue 16); at 10.1 KB it misses
// it (bench/RESULTS.md, "Package sizes"), so its budget is today's size plus a little room.
// 11 -> 12 KB with #14's persist/reattach (+0.43 KB; main was at 11.00 KB before it).
const BUDGETS = {
  "@agent-stream/client": 12 * 1024,
  "@agent-stream/react": 2 * 1024,
  "@agent-stream/ag-ui": 8 * 1024,
};

const rows = [];
for (const dir of ["client", "react", "ag-ui"]) {
  const root = new URL(`../packages/${dir}/`, import.meta.url);
  const pkg = JSON.parse(readFileSync(new URL("package.json", root), "utf8"));
  const external = [...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.peerDependencies ?? {})];
  const result = await build({
    input: new URL("dist/index.js", root).pathname,
    external: (id) => external.some((name) => id === name || id.startsWith(`${name}/`)),
    write: false,
    logLevel: "silent",
    output: { format: "esm", minify: true },
  });
  const code = result.output[0].code;
  const gzip = gzipSync(code, { level: 9 }).length;
  rows.push({ name: pkg.name, minified: code.length, gzip, budget: BUDGETS[pkg.name] });
}

if (process.argv.includes("--json")) {
  console.log(JSON.stringify(rows));
} else {
  for (const row of rows) {
    console.log(`${row.name}: ${(row.minified / 1024).toFixed(2)} KB min, ${(row.gzip / 1024).toFixed(2)} KB min+gzip (budget ${(row.budget / 1024).toFixed(0)} KB)`);
  }
}
const over = rows.filter((row) => row.gzip > row.budget);
for (const row of over) console.error(`${row.name} is over its size budget: ${row.gzip} > ${row.budget} bytes`);
process.exit(over.length ? 1 : 0);
