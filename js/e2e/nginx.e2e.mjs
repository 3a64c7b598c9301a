// The same page behind a real nginx with its default proxy_buffering on.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { assertPageBuilt, installWatch, launchBrowser, pageUrl, readWatch, startDemoServer, startNginx, waitForStatus } from "./fixtures/index.mjs";

describe("behind nginx (default buffering)", () => {
  let server;
  let nginx;
  let browser;
  before(async () => {
    assertPageBuilt();
    server = await startDemoServer();
    nginx = await startNginx(server.url);
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await nginx?.stop();
    await server?.stop();
  });

  test("tokens arrive as they are emitted, not in one lump at the end", async () => {
    const TOKENS = 20;
    const DELAY_MS = 100;
    const page = await browser.newPage();
    await page.addInitScript(installWatch);
    await page.goto(pageUrl(nginx.url, { tokens: TOKENS, token_delay_ms: DELAY_MS, tools: 0, autostart: 1 }));
    await waitForStatus(page, ["streaming"]);
    await browser.screenshot(page, "nginx-streaming");
    assert.equal(await waitForStatus(page, ["done", "error"], 20_000), "done");
    const watch = await readWatch(page);
    const doneAt = watch.status.find((s) => s.value === "done").t;
    const growth = watch.text.filter((s) => s.length > 0);
    const firstAt = growth[0].t;
    const spanMs = doneAt - firstAt;
    console.log(`# nginx: ${growth.length} text updates over ${spanMs.toFixed(0)} ms before done`);
    // emitted over ~2 s: a buffering proxy would deliver them together at the end
    assert.ok(spanMs >= (TOKENS * DELAY_MS) / 2, `text appeared only ${spanMs.toFixed(0)} ms before done`);
    assert.ok(growth.length >= TOKENS / 2, `only ${growth.length} distinct text updates`);
    await page.close();
  });
});
