// The server dies mid-stream: the page must not spin forever.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { assertPageBuilt, installWatch, launchBrowser, pageUrl, readWatch, startDemoServer, waitForStatus } from "./fixtures/index.mjs";

const HEARTBEAT_S = 1;
// The client declares a connection dead after 2.5 heartbeats (as the start event announced them)
// plus 1 s of silence (@agent-stream/client's default); half a second of slack for scheduling.
const LIVENESS_DEADLINE_MS = 2.5 * HEARTBEAT_S * 1000 + 1000 + 500;
// A small reconnection budget (the page's max_retries knob) so "and then it ends" fits the suite.
const MAX_RETRIES = 3;

describe("server process dies mid-stream", () => {
  let browser;
  before(async () => {
    assertPageBuilt();
    browser = await launchBrowser();
  });
  after(async () => browser?.close());

  for (const [signal, what] of [
    ["SIGKILL", "killed: its sockets close"],
    ["SIGSTOP", "frozen: its sockets stay open and silent (half-open)"],
  ]) {
    test(`${what} -> status leaves streaming within the liveness deadline`, async () => {
      const server = await startDemoServer(["--heartbeat-s", String(HEARTBEAT_S)]);
      try {
        const page = await browser.newPage();
        await page.addInitScript(installWatch);
        await page.goto(pageUrl(server.url, { tokens: 600, token_delay_ms: 25, tools: 0, max_retries: MAX_RETRIES, autostart: 1 }));
        await page.waitForFunction(() => (document.querySelector('[data-testid="agent-text"]')?.textContent ?? "").length > 0, null, { timeout: 10_000 });
        const killedAt = await page.evaluate(() => performance.now());
        server.signal(signal);
        await page.waitForFunction(
          () => document.querySelector('[data-testid="status"]')?.textContent !== "streaming",
          null,
          { timeout: LIVENESS_DEADLINE_MS + 2_000, polling: 10 },
        );
        const left = (await readWatch(page)).status.find((s) => s.t > killedAt && s.value !== "streaming");
        const elapsed = left.t - killedAt;
        console.log(`# ${signal}: status ${JSON.stringify(left.value)} ${elapsed.toFixed(0)} ms after the server stopped`);
        assert.ok(elapsed <= LIVENESS_DEADLINE_MS, `left streaming after ${elapsed.toFixed(0)} ms`);
        await browser.screenshot(page, `server-${signal.toLowerCase()}`);
        // and it ends: no endless spinner once the retries run out (backoff <= 1+2+4 s, each
        // attempt at a frozen server stalls after the liveness deadline)
        const final = await waitForStatus(page, ["done", "error"], 30_000);
        assert.ok(["done", "error"].includes(final));
        await browser.screenshot(page, `server-${signal.toLowerCase()}-final`);
        await page.close();
      } finally {
        server.signal("SIGKILL");
        await server.stop();
      }
    });
  }
});
