// A frozen server (socket open, silent) with the default reconnection budget: the page gives up
// once the resume window the `start` event announced has passed, not after minutes of retries.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { assertPageBuilt, installWatch, launchBrowser, pageUrl, readWatch, startDemoServer } from "./fixtures/index.mjs";

const HEARTBEAT_S = 1;
const RESUME_GRACE_S = 2;
const STORE_TTL_S = 4;
// announced in `start` as resume_window_ms: the run outlives its client by the grace, its events
// stay readable for the store's ttl after that
const RESUME_WINDOW_MS = (RESUME_GRACE_S + STORE_TTL_S) * 1000;
// a connection is dead after 2.5 heartbeats plus 1 s of silence (@agent-stream/client's default)
const LIVENESS_DEADLINE_MS = 2.5 * HEARTBEAT_S * 1000 + 1000;
// the bound of issue 14.6: the window plus one liveness deadline; slack for a loaded machine
const BOUND_MS = RESUME_WINDOW_MS + LIVENESS_DEADLINE_MS + 1_500;
// the last token can arrive a little before the page notes the freeze
const EARLY_SLACK_MS = 300;

describe("frozen server, default retry budget", () => {
  let browser;
  before(async () => {
    assertPageBuilt();
    browser = await launchBrowser();
  });
  after(async () => browser?.close());

  test("status leaves streaming within resume window + one liveness deadline, not before the liveness deadline", async () => {
    const server = await startDemoServer([
      "--heartbeat-s", String(HEARTBEAT_S),
      "--resume-grace-s", String(RESUME_GRACE_S),
      "--store-ttl-s", String(STORE_TTL_S),
    ]);
    try {
      const page = await browser.newPage();
      await page.addInitScript(installWatch);
      // no max_retries: the client's default budget (8 attempts) would take minutes at a frozen server
      await page.goto(pageUrl(server.url, { tokens: 2_000, token_delay_ms: 25, tools: 0, autostart: 1 }));
      await page.waitForFunction(() => (document.querySelector('[data-testid="agent-text"]')?.textContent ?? "").length > 0, null, { timeout: 10_000 });
      const frozenAt = await page.evaluate(() => performance.now());
      server.signal("SIGSTOP");
      try {
        // "reconnecting" is still a spinner: wait for the run to end (the synthetic done or an error)
        await page.waitForFunction(
          () => ["done", "error"].includes(document.querySelector('[data-testid="status"]')?.textContent ?? ""),
          null,
          { timeout: BOUND_MS + 2_000, polling: 10 },
        );
        const after = (await readWatch(page)).status.filter((s) => s.t > frozenAt);
        const left = after.find((s) => s.value !== "streaming");
        const ended = after.find((s) => s.value === "done" || s.value === "error");
        const leftMs = left.t - frozenAt;
        const endedMs = ended.t - frozenAt;
        console.log(
          `# frozen: ${JSON.stringify(left.value)} after ${leftMs.toFixed(0)} ms, ${JSON.stringify(ended.value)} after ${endedMs.toFixed(0)} ms ` +
            `(window ${RESUME_WINDOW_MS} ms, liveness ${LIVENESS_DEADLINE_MS} ms, bound ${BOUND_MS} ms)`,
        );
        assert.ok(endedMs <= BOUND_MS, `the page ended ${endedMs.toFixed(0)} ms after the freeze (bound ${BOUND_MS} ms)`);
        // not early: the first connection is given up only once the liveness deadline has passed
        assert.ok(leftMs >= LIVENESS_DEADLINE_MS - EARLY_SLACK_MS, `left streaming after only ${leftMs.toFixed(0)} ms`);
        const text = await page.locator('[data-testid="agent-text"]').textContent();
        assert.ok(text.length > 0, "the text streamed before the freeze stays on the page");
        await browser.screenshot(page, "server-frozen-window");
      } finally {
        server.signal("SIGCONT");
      }
      await page.close();
    } finally {
      await server.stop();
    }
  });
});
