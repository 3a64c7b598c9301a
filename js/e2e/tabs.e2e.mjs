// Several tabs of one browser on one run (the demo page: shareAcrossTabs from
// @agent-stream/client/tabs): the first tab starts the run, two more open its watch link. The
// server sees one connection for the three, every tab ends with the text of an uninterrupted
// single-tab run, and when the leading tab closes mid-run another tab takes the connection over
// at once (Web Locks hand the lock on) and resumes by Last-Event-ID: nothing lost or repeated.
// The same again with the BroadcastChannel election that pages without Web Locks use
// (?tab_locks=channel): the closing tab's `pagehide` hands the lead on.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { assertPageBuilt, launchBrowser, pageUrl, startDemoServer, startProxy, waitFor, waitForStatus } from "./fixtures/index.mjs";

const KNOBS = { tokens: 220, token_delay_ms: 25, tools: 1, autostart: 1 };
// "another tab leads within 1 s" (issue 14): a functional bound, checked with a deadline
const TAKEOVER_DEADLINE_MS = 1_000;

const textOf = (page) => page.getByTestId("agent-text").textContent();
const roleOf = (page) => page.getByTestId("tab-role").textContent();
/** What a tab shows of the run: tools, progress, text and the done summary. */
const shownOf = (page) => page.locator(".bubble-agent").innerText();

async function waitForRole(page, role) {
  await page.waitForFunction((wanted) => document.querySelector('[data-testid="tab-role"]')?.textContent === wanted, role, {
    timeout: 15_000,
    polling: 20,
  });
}

async function waitForText(page, atLeast) {
  await page.waitForFunction((n) => (document.querySelector('[data-testid="agent-text"]')?.textContent ?? "").length >= n, atLeast, {
    timeout: 20_000,
    polling: 20,
  });
}

for (const election of ["web", "channel"]) describe(`tabs of one browser on one run (${election} locks)`, () => {
  let browser;
  let server;
  let proxy;
  let expected;
  before(async () => {
    assertPageBuilt();
    server = await startDemoServer(["--heartbeat-s", "1"]);
    proxy = await startProxy(server.url);
    browser = await launchBrowser();
    // the reference: one tab, uninterrupted, on another origin (no tab shares with it)
    const reference = await browser.newPage();
    await reference.goto(pageUrl(server.url, KNOBS));
    await waitForStatus(reference, ["done"], 60_000);
    expected = await textOf(reference);
    await reference.close();
    assert.ok(expected.length > 200);
  });
  after(async () => {
    await browser?.close();
    await proxy?.close();
    await server?.stop();
  });

  /** The stream requests the browser sent (through the proxy) since `t0`. */
  const streamRequests = (t0) =>
    proxy.exchanges.filter((e) => e.startedAt >= t0 && String(e.headers.accept ?? "").includes("text/event-stream"));

  /** Tab one starts a run; two more open its watch link and follow it. */
  async function threeTabs() {
    const first = await browser.newPage();
    await first.goto(pageUrl(proxy.url, { ...KNOBS, tab_locks: election }));
    await waitForRole(first, "leader");
    const link = new URL(await first.getByTestId("watch-link").getAttribute("href"), proxy.url);
    link.searchParams.set("tab_locks", election);
    const others = [];
    for (let i = 0; i < 2; i += 1) {
      const page = await browser.newPage();
      await page.goto(link.toString());
      others.push(page);
    }
    for (const page of others) await waitForRole(page, "follower");
    return [first, ...others];
  }

  test("three tabs -> one connection at the server, identical final states equal to a single-tab run", async () => {
    const t0 = performance.now();
    const runsBefore = (await server.healthz()).runs_started;
    const tabs = await threeTabs();
    // steady state: three tabs streaming, one connection counted by the server
    for (let sample = 0; sample < 5; sample += 1) {
      await waitForText(tabs[2], 20 * (sample + 1));
      for (const page of tabs) assert.equal(await page.getByTestId("status").textContent(), "streaming");
      assert.equal((await server.healthz()).connections, 1, `sample ${sample}: one connection for three tabs`);
    }
    for (const page of tabs) assert.equal(await waitForStatus(page, ["done", "error"], 60_000), "done");
    const shown = await Promise.all(tabs.map(shownOf));
    for (const page of tabs) assert.equal(await textOf(page), expected);
    assert.equal(shown[1], shown[0]);
    assert.equal(shown[2], shown[0]);
    const requests = streamRequests(t0);
    assert.deepEqual(
      requests.map((e) => `${e.method} ${e.path}`),
      ["POST /api/chat"],
      "one stream request for the three tabs",
    );
    assert.equal((await server.healthz()).runs_started - runsBefore, 1);
    await browser.screenshot(tabs[1], `tabs-follower-done-${election}`);
    for (const page of tabs) await page.close();
  });

  test("close the leading tab mid-run -> another tab leads within 1 s, the texts are whole and equal", async () => {
    const t0 = performance.now();
    const runsBefore = (await server.healthz()).runs_started;
    const [leader, ...followers] = await threeTabs();
    await waitForText(followers[0], 60);
    assert.equal(await followers[0].getByTestId("status").textContent(), "streaming", "the leader closes mid-run");

    const closing = performance.now();
    await leader.close();
    // leading = holding the run's lock and having sent its resume to the server
    await waitFor(
      "another tab to take the connection over",
      async () => {
        const resumes = streamRequests(closing).filter((e) => e.headers["last-event-id"] !== undefined);
        if (resumes.length === 0) return false;
        const roles = await Promise.all(followers.map(roleOf));
        return roles.includes("leader");
      },
      { timeoutMs: TAKEOVER_DEADLINE_MS, intervalMs: 10 },
    );
    const tookMs = performance.now() - closing;
    const roles = await Promise.all(followers.map(roleOf));
    assert.deepEqual([...roles].sort(), ["follower", "leader"]);

    for (const page of followers) assert.equal(await waitForStatus(page, ["done", "error"], 60_000), "done");
    for (const page of followers) assert.equal(await textOf(page), expected, "nothing lost or repeated");
    assert.equal(await shownOf(followers[1]), await shownOf(followers[0]));
    const requests = streamRequests(t0).map((e) => `${e.method} ${e.path.replace(/^\/api\/streams\/[^/]+$/, "/api/streams/<sid>")}`);
    assert.deepEqual(requests, ["POST /api/chat", "GET /api/streams/<sid>"], "the first tab's run, then the new leader's one resume");
    assert.equal((await server.healthz()).runs_started - runsBefore, 1);
    console.log(`# takeover (${election} locks): another tab resumed ${tookMs.toFixed(0)} ms after the leading tab closed`);
    for (const page of followers) await page.close();
  });
});

describe("another device on one run (a second browser with the watch link)", () => {
  let server;
  let phone;
  let laptop;
  before(async () => {
    assertPageBuilt();
    server = await startDemoServer(["--heartbeat-s", "1"]);
    // two browsers with their own profiles: no storage, locks or BroadcastChannel in common,
    // as two devices
    laptop = await launchBrowser();
    phone = await launchBrowser();
  });
  after(async () => {
    await laptop?.close();
    await phone?.close();
    await server?.stop();
  });

  test("the watch link in a second browser follows the same run on its own connection, one run", async () => {
    const reference = await laptop.newPage();
    await reference.goto(pageUrl(server.url, KNOBS));
    await waitForStatus(reference, ["done"], 60_000);
    const expected = await textOf(reference);
    await reference.close();

    const runsBefore = (await server.healthz()).runs_started;
    const first = await laptop.newPage();
    await first.goto(pageUrl(server.url, KNOBS));
    await waitForRole(first, "leader");
    const link = new URL(await first.getByTestId("watch-link").getAttribute("href"), server.url);
    const second = await phone.newPage();
    await second.goto(link.toString());
    // it leads in its own browser: nobody there to share with
    await waitForRole(second, "leader");
    await waitForText(second, 20);
    assert.equal(await first.getByTestId("status").textContent(), "streaming", "both follow the run live");
    assert.equal((await server.healthz()).connections, 2, "one connection per device");
    for (const page of [first, second]) assert.equal(await waitForStatus(page, ["done", "error"], 60_000), "done");
    assert.equal(await textOf(first), expected);
    assert.equal(await textOf(second), expected);
    assert.equal(await shownOf(second), await shownOf(first));
    assert.equal((await server.healthz()).runs_started - runsBefore, 1, "watching never starts a run");
    await first.close();
    await second.close();
  });
});
