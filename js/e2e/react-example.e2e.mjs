// examples/react in Chromium: its one command's dependencies installed (`npm install` in the
// example, as `npm start` does first), its page built by Vite, served with the demo's /api/chat
// behind it; a click streams a whole run into the page.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { fetchRun, launchBrowser, repoRoot, startDemoServer, startProxy, testText, tokenText, waitForStatus } from "./fixtures/index.mjs";

const run = promisify(execFile);
const example = path.join(repoRoot, "examples", "react");

describe("examples/react", () => {
  let outDir;
  let browser;
  let server;
  let proxy;

  before(async () => {
    await run("npm", ["install", "--no-audit", "--no-fund", "--loglevel=error"], { cwd: example, timeout: 300_000 });
    await run("npm", ["run", "typecheck"], { cwd: example, timeout: 300_000 });
    outDir = await mkdtemp(path.join(os.tmpdir(), "agent-stream-react-example-"));
    await run("npm", ["run", "build", "--", "--outDir", outDir, "--emptyOutDir", "--logLevel", "warn"], {
      cwd: example,
      timeout: 300_000,
    });
    server = await startDemoServer();
    proxy = await startProxy(server.url);
    proxy.options.staticDir = outDir;
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await proxy?.close();
    await server?.stop();
    if (outDir) await rm(outDir, { recursive: true, force: true });
  });

  test("Ask streams the demo agent's whole answer into the page", async () => {
    const knobs = { message: "Plan a weekend in Porto", tokens: 40, tools: 2 };
    const expected = tokenText(await fetchRun(server.url, { ...knobs, token_delay_ms: 0 }));
    const page = await browser.newPage();
    try {
      await page.goto(proxy.url);
      assert.equal(await testText(page, "status"), "idle");
      await page.getByTestId("ask").click();
      assert.equal(await waitForStatus(page, ["done", "error"], 30_000), "done");
      assert.equal(await testText(page, "agent-text"), expected);
      assert.equal(await testText(page, "active-tools"), "");
    } finally {
      await page.close();
    }
  });
});
