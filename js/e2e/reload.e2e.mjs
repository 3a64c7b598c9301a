// Reloading the page mid-run (useAgentStream({ persist: true }) in the demo): the page re-attaches
// to the same run from sessionStorage, replays it and follows it live; its final state equals an
// uninterrupted run's, and the server ran one run. After done, a reload shows the final state and
// starts nothing.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { assertPageBuilt, launchBrowser, pageUrl, startDemoServer, waitForStatus } from "./fixtures/index.mjs";

const KNOBS = { tokens: 160, token_delay_ms: 25, tools: 1, autostart: 1 };
const RELOADS = 3;

const textOf = (page) => page.getByTestId("agent-text").textContent();
const textLength = (page) => page.evaluate(() => (document.querySelector('[data-testid="agent-text"]')?.textContent ?? "").length);

async function waitForMoreText(page, than) {
  await page.waitForFunction(
    (n) => (document.querySelector('[data-testid="agent-text"]')?.textContent ?? "").length > n,
    than,
    { timeout: 20_000, polling: 20 },
  );
}

describe("reload mid-run", () => {
  let browser;
  let server;
  before(async () => {
    assertPageBuilt();
    server = await startDemoServer(["--heartbeat-s", "1"]);
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test("reload x3 -> the same final text as an uninterrupted run, one run on the server", async () => {
    const reference = await browser.newPage();
    await reference.goto(pageUrl(server.url, KNOBS));
    await waitForStatus(reference, ["done"], 60_000);
    const expected = await textOf(reference);
    await reference.close();
    assert.ok(expected.length > 100);
    const runsBefore = (await server.healthz()).runs_started;

    const page = await browser.newPage();
    await page.goto(pageUrl(server.url, KNOBS));
    let seen = 0;
    for (let i = 0; i < RELOADS; i += 1) {
      await waitForMoreText(page, seen + 20);
      const before = await textLength(page);
      assert.equal(await page.getByTestId("status").textContent(), "streaming", `reload ${i + 1} happens mid-run`);
      await page.reload();
      // the replay rebuilds at least what the page showed before the reload
      await waitForMoreText(page, before - 1);
      seen = await textLength(page);
    }
    await waitForStatus(page, ["done"], 60_000);
    assert.equal(await textOf(page), expected);
    assert.equal((await server.healthz()).runs_started - runsBefore, 1, "one run, whatever the reloads");

    // after done: a reload shows the final state again (one replay) and starts nothing
    await page.reload();
    await waitForStatus(page, ["done"], 15_000);
    assert.equal(await textOf(page), expected);
    assert.equal((await server.healthz()).runs_started - runsBefore, 1);
    await browser.screenshot(page, "reload-after-done");
    await page.close();
  });
});
