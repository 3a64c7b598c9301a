// `agent-stream report` opened in Chromium: the timelines render, nothing is fetched, no errors.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { after, before, describe, test } from "node:test";
import { launchBrowser, repoRoot, startDemoServer } from "./fixtures/index.mjs";

const run = promisify(execFile);
const cli = path.join(repoRoot, ".venv", "bin", "agent-stream");

/** One demo run over HTTP, read to its end. */
async function demoRun(server, knobs) {
  const response = await fetch(`${server.url}/api/chat`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(knobs),
    signal: AbortSignal.timeout(15_000),
  });
  assert.equal(response.status, 200);
  const text = await response.text();
  assert.match(text, /event: done/);
}

describe("the HTML report", () => {
  let dir;
  let browser;
  let reportFile;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "agent-stream-report-"));
    const recording = path.join(dir, "runs.jsonl");
    const server = await startDemoServer(["--record", recording]);
    try {
      await demoRun(server, { tokens: 40, token_delay_ms: 2, tools: 3 });
      await demoRun(server, { tokens: 20, token_delay_ms: 1, tools: 1, fail_after: 14 });
      await demoRun(server, { tokens: 10, token_delay_ms: 0, tools: 0, thinking: false });
    } finally {
      await server.stop(); // SIGTERM: the app closes its recorder, so the file is complete
    }
    const files = (await readdir(dir)).filter((f) => f.endsWith(".jsonl")).map((f) => path.join(dir, f));
    reportFile = path.join(dir, "report.html");
    await run(cli, ["report", ...files, "-o", reportFile], { cwd: repoRoot, timeout: 30_000 });
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test("offline: three timelines with turns, tool bars, token rate and the end; no errors", async () => {
    const page = await browser.newPage();
    const problems = [];
    const requests = [];
    page.on("console", (message) => {
      if (message.type() === "error" || message.type() === "warning") problems.push(message.text());
    });
    page.on("pageerror", (error) => problems.push(String(error)));
    page.on("request", (request) => requests.push(request.url()));
    await browser.context.setOffline(true);
    try {
      await page.goto(pathToFileURL(reportFile).href);
      const count = (selector) => page.locator(selector).count();
      assert.equal(await count("section.run"), 3);
      assert.equal(await count("svg.timeline"), 3);
      // turns 1 and 2 in each run (the failed one fails after two tokens of turn 2)
      assert.equal(await count("svg.timeline line.turn"), 6);
      assert.equal(await count("rect.tool-bar"), 4);
      assert.equal(await count("rect.tool-bar.done"), 4);
      assert.equal(await count("polyline.token-rate"), 3);
      assert.equal(await count("circle.error-mark"), 1);
      assert.equal(await count("line.end-mark"), 3);
      assert.ok((await count("[data-testid=ttft-histogram] rect.hist-bar")) >= 1);
      assert.ok((await count("[data-testid=tool-histogram] rect.hist-bar")) >= 1);
      assert.match(await page.getByTestId("summary").innerText(), /3\s*runs/);
      // drawn, not just present: the first tool bar has a size on screen
      const box = await page.locator("rect.tool-bar").first().boundingBox();
      assert.ok(box && box.width >= 2 && box.height > 10, JSON.stringify(box));
      await browser.screenshot(page, "report");
    } finally {
      await browser.context.setOffline(false);
    }
    assert.deepEqual(problems, []);
    assert.deepEqual(
      requests.filter((url) => !url.startsWith("file:")),
      [],
    );
  });
});
