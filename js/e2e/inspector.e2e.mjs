// The demo page's inspector pane (?inspect=1 or its button): the live run's timeline as
// `agent-stream report` draws one (tool bars, turns, token rate, error / resume marks, the end)
// and a log of every event the page received, counted against what the server sent.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { assertPageBuilt, launchBrowser, pageUrl, parseFrames, startDemoServer, startProxy, waitForStatus } from "./fixtures/index.mjs";

/** Installed before the page loads: every value the inspector's event count shows, with the status then. */
function watchEventCount() {
  const seen = [];
  window.__inspectorCounts = seen;
  const observe = () => {
    const count = document.querySelector('[data-testid="inspector-event-count"]')?.textContent;
    if (count === undefined || count === seen.at(-1)?.count) return;
    seen.push({ count, status: document.querySelector('[data-testid="status"]')?.textContent ?? null });
  };
  const start = () => new MutationObserver(observe).observe(document.documentElement, { subtree: true, childList: true, characterData: true });
  if (document.documentElement) start();
  else document.addEventListener("DOMContentLoaded", start);
}

const count = (page, selector) => page.locator(selector).count();
const text = (page, testId) => page.getByTestId(testId).textContent();

/** The log's rows the server sent, as {seq, type}. */
function serverRows(page) {
  return page.$$eval('[data-testid="inspector-log-row"][data-source="server"]', (rows) =>
    rows.map((row) => ({ seq: row.cells[0].textContent, type: row.dataset.type })),
  );
}

/** Wait until the inspector shows the run's end (its refresh trails the status by up to 100 ms). */
async function waitForEnd(page) {
  await page.waitForFunction(() => document.querySelector('[data-testid="inspector-end-reason"]')?.textContent !== "—", null, {
    timeout: 10_000,
    polling: 20,
  });
  return text(page, "inspector-end-reason");
}

describe("the inspector pane", () => {
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

  /** A page with the console watched; `problems` collects errors and warnings. */
  async function openPage(knobs) {
    const page = await browser.newPage();
    const problems = [];
    page.on("console", (message) => {
      if (message.type() === "error" || message.type() === "warning") problems.push(message.text());
    });
    page.on("pageerror", (error) => problems.push(String(error)));
    await page.addInitScript(watchEventCount);
    await page.goto(pageUrl(proxy.url, knobs));
    return { page, problems };
  }

  test("a run with tools: a bar per tool call, a growing log of every event received, the end", async () => {
    proxy.reset();
    const tools = 3;
    const { page, problems } = await openPage({ tokens: 50, token_delay_ms: 20, tools, autostart: 1, inspect: 1 });
    assert.equal(await waitForStatus(page, ["done", "error"], 30_000), "done");
    assert.match(await waitForEnd(page), /^completed at \d/);

    // what the server sent, read at the proxy: the log holds exactly those events, in order
    const [exchange] = proxy.requests("/api/chat");
    const frames = parseFrames(proxy.bodyText(exchange));
    assert.equal(proxy.requests("/api/chat").length, 1);
    assert.equal(await text(page, "inspector-event-count"), String(frames.length));
    assert.deepEqual(
      await serverRows(page),
      frames.map((frame) => ({ seq: frame.id.split(":")[1], type: frame.event })),
    );
    // it grew while the run streamed, one refresh after another, never backwards
    const counts = await page.evaluate(() => window.__inspectorCounts);
    const values = counts.map((c) => Number(c.count));
    assert.ok(counts.filter((c) => c.status === "streaming" && Number(c.count) > 0).length >= 3, JSON.stringify(counts));
    assert.deepEqual(values, [...values].sort((a, b) => a - b), "the count only grows");
    assert.equal(values.at(-1), frames.length);

    const timeline = '[data-testid="inspector-timeline"]';
    assert.equal(await count(page, `${timeline} rect.tool-bar`), tools);
    assert.equal(await count(page, `${timeline} rect.tool-bar.done`), tools);
    assert.equal(await text(page, "inspector-tool-count"), String(tools));
    assert.equal(await count(page, `${timeline} line.turn`), frames.filter((f) => f.event === "turn").length);
    assert.equal(await count(page, `${timeline} polyline.token-rate`), 1);
    assert.equal(await count(page, `${timeline} line.end-mark`), 1);
    assert.equal(await count(page, `${timeline} line.end-mark.synthetic`), 0);
    assert.equal(await count(page, `${timeline} .error-mark, ${timeline} .resume-mark`), 0);
    // each bar is labelled with its tool and duration, and drawn with the report's stylesheet
    const labels = await page.locator(`${timeline} text`).allTextContents();
    const names = frames.filter((f) => f.event === "tool_use").map((f) => f.json.tool_name);
    for (const name of names) assert.ok(labels.some((label) => new RegExp(`^${name} \\d+ ms$`).test(label)), `${name} in ${labels}`);
    const bar = page.locator(`${timeline} rect.tool-bar`).first();
    const box = await bar.boundingBox();
    assert.ok(box && box.width >= 1 && box.height > 8, JSON.stringify(box));
    assert.equal(await bar.evaluate((el) => getComputedStyle(el).fill), "rgb(111, 143, 216)");
    await browser.screenshot(page, "inspector");
    assert.deepEqual(problems, []);
    await page.close();
  });

  test("a dropped connection: the resume is marked, every event is logged once", async () => {
    proxy.reset();
    // the first event-stream response is cut mid-run; the client resumes with Last-Event-ID
    Object.assign(proxy.options, { dropAfterBytes: 2_500, dropDelayMs: 30 });
    const { page, problems } = await openPage({ tokens: 80, token_delay_ms: 15, tools: 2, autostart: 1, inspect: 1 });
    assert.equal(await waitForStatus(page, ["done", "error"], 30_000), "done");
    assert.match(await waitForEnd(page), /^completed at /);

    const exchanges = proxy.requests("/api/chat");
    assert.ok(exchanges.length >= 2 && exchanges[0].dropped, `cut, then resumed: ${exchanges.length} requests`);
    const timeline = '[data-testid="inspector-timeline"]';
    assert.equal(await count(page, `${timeline} rect.resume-mark`), exchanges.length - 1);
    assert.equal(await text(page, "inspector-resume-count"), String(exchanges.length - 1));
    assert.equal(await count(page, '[data-testid="inspector-log-row"][data-type="resumed"]'), exchanges.length - 1);
    // every seq once, in order, from the start event to done: nothing lost, nothing twice
    const rows = await serverRows(page);
    assert.deepEqual(
      rows.map((row) => Number(row.seq)),
      rows.map((_, i) => i),
    );
    assert.equal(rows.at(-1).type, "done");
    assert.equal(await text(page, "inspector-event-count"), String(rows.length));
    assert.equal(await count(page, `${timeline} rect.tool-bar.done`), 2);
    await browser.screenshot(page, "inspector-resumed");
    // Chromium logs the cut response itself; nothing else may complain
    const cut = "Failed to load resource: net::ERR_INCOMPLETE_CHUNKED_ENCODING";
    assert.deepEqual(problems, exchanges.filter((e) => e.dropped).map(() => cut));
    await page.close();
  });

  test("opened after the run: the error and the end are there; a stopped run ends synthetic", async () => {
    proxy.reset();
    const { page, problems } = await openPage({ tokens: 20, token_delay_ms: 5, tools: 1, fail_after: 14, autostart: 1 });
    assert.equal(await waitForStatus(page, ["done", "error"], 30_000), "error");
    assert.equal(await count(page, '[data-testid="inspector"]'), 0, "closed unless asked for");
    await page.getByTestId("inspector-toggle").click();
    assert.match(await waitForEnd(page), /^error at /);
    const timeline = '[data-testid="inspector-timeline"]';
    assert.equal(await count(page, `${timeline} circle.error-mark`), 1);
    assert.equal(await count(page, '[data-testid="inspector-log-row"][data-source="server"][data-type="error"]'), 1);

    // a new run from the same page starts a new timeline; Stop ends it with a synthetic done
    await page.getByTestId("tokens").fill("400");
    await page.getByTestId("token-delay").fill("50");
    await page.getByTestId("fail-toggle").uncheck();
    await page.getByTestId("send").click();
    await page.waitForFunction(() => Number(document.querySelector('[data-testid="inspector-event-count"]')?.textContent) > 10, null, {
      timeout: 15_000,
      polling: 20,
    });
    assert.equal(await count(page, `${timeline} circle.error-mark`), 0, "the old run's marks are gone");
    await page.getByTestId("stop").click();
    assert.match(await waitForEnd(page), /^cancelled \(synthetic\) at /);
    assert.equal(await count(page, `${timeline} line.end-mark.synthetic`), 1);
    assert.equal(await count(page, '[data-testid="inspector-log-row"][data-source="client"][data-type="done"]'), 1);
    await browser.screenshot(page, "inspector-stopped");
    assert.deepEqual(problems, []);
    await page.close();
  });
});
