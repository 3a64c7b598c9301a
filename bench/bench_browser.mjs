// Browser bench: React commits per second of the streamed-text component at 30, 80 and 200
// tokens/s, for the client's fixed (50 ms), adaptive and per-animation-frame batching.
//
//   node bench/bench_browser.mjs [--seconds 5] [--json]
//
// Needs `npm ci && npm run build` in js/ (the demo page) and .venv (the Python demo server).
// Drives Debian's Chromium through playwright-core; the page counts commits with <Profiler>.
import { execFileSync } from "node:child_process";
import os from "node:os";
import { readFileSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import {
  CHROMIUM,
  assertPageBuilt,
  installWatch,
  launchBrowser,
  pageUrl,
  readWatch,
  repoRoot,
  startDemoServer,
  waitForStatus,
} from "../js/e2e/fixtures/index.mjs";

const { values } = parseArgs({ options: { seconds: { type: "string", default: "5" }, json: { type: "boolean", default: false } } });
const SECONDS = Number(values.seconds);
const RATES = [30, 80, 200];
const MODES = ["fixed", "adaptive", "frame"];

assertPageBuilt();
const server = await startDemoServer();
const browser = await launchBrowser();
const rows = [];
try {
  for (const rate of RATES) {
    for (const batching of MODES) {
      const tokens = Math.round(rate * SECONDS);
      const page = await browser.newPage();
      await page.addInitScript(installWatch);
      await page.goto(pageUrl(server.url, { tokens, token_delay_ms: 1000 / rate, tools: 0, batching, autostart: 1 }));
      await waitForStatus(page, ["streaming"], 10_000);
      await page.evaluate(() => window.__agentStreamCommits.reset());
      const final = await waitForStatus(page, ["done", "error"], SECONDS * 4_000 + 10_000);
      if (final !== "done") throw new Error(`${batching} @ ${rate}/s ended with ${final}`);
      const commits = await page.evaluate(() => window.__agentStreamCommits.times.length);
      const watch = await readWatch(page);
      const firstAt = watch.text.find((s) => s.length > 0).t;
      const doneAt = watch.status.find((s) => s.value === "done").t;
      const seconds = (doneAt - firstAt) / 1000;
      rows.push({
        rate,
        batching,
        tokens,
        seconds: Number(seconds.toFixed(2)),
        achievedTokensPerSecond: Number((tokens / seconds).toFixed(1)),
        commits,
        commitsPerSecond: Number((commits / seconds).toFixed(1)),
        tokensPerCommit: Number((tokens / commits).toFixed(1)),
      });
      console.error(`${String(rate).padStart(3)} tok/s  ${batching.padEnd(8)}  ${(commits / seconds).toFixed(1).padStart(5)} commits/s`);
      await page.close();
    }
  }
} finally {
  await browser.close();
  await server.stop();
}

const version = (name) => {
  try {
    return JSON.parse(readFileSync(path.join(repoRoot, "js", "node_modules", name, "package.json"), "utf8")).version;
  } catch {
    return "?";
  }
};
const machine = `${os.cpus()[0]?.model ?? "cpu"} × ${os.cpus().length}, ${os.platform()} ${os.release()}, Node ${process.version}, ${execFileSync(CHROMIUM, ["--version"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim().split(" built")[0]}, React ${version("react")}`;
if (values.json) {
  console.log(JSON.stringify({ machine, seconds: SECONDS, rows }, null, 2));
} else {
  console.log(`Machine: ${machine}; ${SECONDS} s of tokens per cell.\n`);
  console.log("| tokens/s | fixed (50 ms) | adaptive | per frame |");
  console.log("| ---: | ---: | ---: | ---: |");
  for (const rate of RATES) {
    const cell = (mode) => {
      const row = rows.find((r) => r.rate === rate && r.batching === mode);
      return `${row.commitsPerSecond} (${row.tokensPerCommit} tok/commit)`;
    };
    console.log(`| ${rate} | ${MODES.map(cell).join(" | ")} |`);
  }
}
