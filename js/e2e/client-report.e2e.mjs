// A page whose server connection dies and cannot be resumed: the client ends the stream with a
// synthetic done and reports it; the server counts the report (/healthz client_reports).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  assertPageBuilt,
  launchBrowser,
  pageUrl,
  startDemoServer,
  startProxy,
  waitFor,
  waitForStatus,
} from "./fixtures/index.mjs";

describe("client reports", () => {
  let server;
  let proxy;
  let browser;

  before(async () => {
    assertPageBuilt();
    server = await startDemoServer(["--heartbeat-s", "1"]);
    proxy = await startProxy(server.url);
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await proxy?.close();
    await server?.stop();
  });

  test("the stream dies mid-run, the client gives up: one report arrives and is counted", async () => {
    const before = (await server.healthz()).client_reports;
    // every event-stream response is cut after 1.5 kB: the first one mid-run, then any resume
    Object.assign(proxy.options, { dropAfterBytes: 1500, dropCount: 1000 });
    const page = await browser.newPage();
    const errors = [];
    page.on("pageerror", (error) => errors.push(String(error)));
    await page.goto(pageUrl(proxy.url, { tokens: 300, token_delay_ms: 20, tools: 0, max_retries: 0 }));
    await page.getByTestId("send").click();
    const status = await waitForStatus(page, ["done", "error"], 30_000);
    assert.equal(status, "error");
    await waitFor("the report to be counted", async () => (await server.healthz()).client_reports === before + 1, {
      timeoutMs: 10_000,
    });
    const reports = proxy.exchanges.filter((e) => e.path.endsWith("/report"));
    assert.equal(reports.length, 1, "exactly one report, never retried");
    await browser.screenshot(page, "client-report");
    assert.deepEqual(errors, []);
    await page.close();
  });
});
