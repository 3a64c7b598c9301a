// React's development build under <StrictMode> (effects run twice): one run, one connection,
// text not doubled; unmounting aborts the stream at once.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, beforeEach, describe, test } from "node:test";
import { launchBrowser, pageUrl, parseFrames, repoRoot, startDemoServer, startProxy, tokenText, waitFor, waitForStatus } from "./fixtures/index.mjs";

/** Build the demo page with React's development build (StrictMode is a no-op in production). */
function buildDevelopmentPage() {
  const outDir = mkdtempSync(path.join(os.tmpdir(), "agent-stream-demo-dev-"));
  const vite = path.join(repoRoot, "js", "node_modules", ".bin", "vite");
  const result = spawnSync(vite, ["build", "--mode", "development", "--outDir", outDir, "--emptyOutDir", "--logLevel", "warn"], {
    cwd: path.join(repoRoot, "js", "demo"),
    encoding: "utf8",
    timeout: 120_000,
  });
  if (result.status !== 0) throw new Error(`vite build --mode development failed:\n${result.stdout}\n${result.stderr}`);
  return outDir;
}

describe("<StrictMode> (React development build)", () => {
  let server;
  let proxy;
  let browser;
  let devPage;

  before(async () => {
    devPage = buildDevelopmentPage();
    server = await startDemoServer(["--heartbeat-s", "1", "--resume-grace-s", "0"]);
    proxy = await startProxy(server.url);
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await proxy?.close();
    await server?.stop();
    if (devPage) rmSync(devPage, { recursive: true, force: true });
  });
  beforeEach(() => {
    proxy.reset();
    proxy.options.staticDir = devPage;
  });

  for (const how of ["the Send button", "autostart on mount"]) {
    test(`one run, one connection, text not doubled (${how})`, async () => {
      const before = (await server.healthz()).runs_started;
      const knobs = { tokens: 30, token_delay_ms: 10, tools: 1 };
      const page = await browser.newPage();
      await page.goto(pageUrl(proxy.url, how === "the Send button" ? knobs : { ...knobs, autostart: 1 }));
      // the development build: React warns in the console and StrictMode double-invokes effects
      assert.ok(await page.evaluate(() => typeof window.__agentStreamUnmount === "function"));
      if (how === "the Send button") await page.getByTestId("send").click();
      assert.equal(await waitForStatus(page, ["done", "error"], 20_000), "done");
      assert.equal((await server.healthz()).runs_started - before, 1, "runs started");
      const chats = proxy.requests("/api/chat");
      assert.equal(chats.length, 1, "connections opened");
      const expected = tokenText(parseFrames(proxy.bodyText(chats[0])));
      assert.ok(expected.length > 0);
      assert.equal(await page.getByTestId("agent-text").textContent(), expected);
      await browser.screenshot(page, "strict-mode-done");
      await page.close();
    });
  }

  test("unmount aborts the stream within 100 ms and the server sees the disconnect", async () => {
    const page = await browser.newPage();
    await page.goto(pageUrl(proxy.url, { tokens: 600, token_delay_ms: 25, tools: 0, autostart: 1 }));
    await page.waitForFunction(() => (document.querySelector('[data-testid="agent-text"]')?.textContent ?? "").length > 0, null, { timeout: 10_000 });
    await waitFor("one active run", async () => (await server.healthz()).runs_active === 1, { timeoutMs: 5_000 });
    const [chat] = proxy.requests("/api/chat");
    assert.equal(chat.clientClosedAt, null);
    const unmountAt = performance.now();
    await page.evaluate(() => window.__agentStreamUnmount());
    await waitFor("the browser to close the stream", () => chat.clientClosedAt !== null, { timeoutMs: 2_000, intervalMs: 5 });
    const elapsed = chat.clientClosedAt - unmountAt;
    console.log(`# unmount -> connection closed in ${elapsed.toFixed(1)} ms`);
    assert.ok(elapsed <= 100, `the connection closed ${elapsed.toFixed(0)} ms after unmount`);
    await waitFor("the server to end the run", async () => (await server.healthz()).runs_active === 0, { timeoutMs: 3_000 });
    await page.close();
  });
});
