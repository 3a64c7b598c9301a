// Human in the loop in a real browser: the question card, answers from any tab or process, expiry.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  assertPageBuilt,
  launchBrowser,
  pageUrl,
  startDemoServer,
  startProxy,
  startRedis,
  waitFor,
  waitForStatus,
} from "./fixtures/index.mjs";

const QUICK = { tools: 0, tokens: 6, token_delay_ms: 0 };

/** Owner of the runs of one test: the demo binds each stream to its Authorization value. */
const owner = () => `Bearer ${Math.random().toString(36).slice(2)}`;

async function openRun(browser, base, knobs) {
  const page = await browser.newPage();
  await page.goto(pageUrl(base, { autostart: 1, ...knobs }));
  return page;
}

/** A watch link of the run a page shows (same owner), on `base`. */
async function watchUrl(page, base) {
  const href = await page.getByTestId("watch-link").getAttribute("href");
  return new URL(href, base).toString();
}

async function waitForQuestion(page) {
  const card = page.getByTestId("question");
  await card.waitFor({ state: "visible" });
  return card;
}

async function answersShown(page) {
  return page.getByTestId("answer").allTextContents();
}

/** POST an answer from outside the browser. */
async function postAnswer(base, question, answer, authorization) {
  const response = await fetch(new URL(question.respond_url, base), {
    method: "POST",
    headers: { "content-type": "application/json", authorization },
    body: JSON.stringify({ request_id: question.request_id, answer }),
  });
  return { status: response.status, body: await response.json() };
}

/** The open question as the server sent it (read through the resume route). */
async function questionOf(base, streamId, authorization) {
  const response = await fetch(new URL(`/api/streams/${streamId}`, base), { headers: { authorization } });
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let text = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`the stream ended without input_required:\n${text}`);
    text += decoder.decode(value, { stream: true });
    const match = /event: input_required\ndata: (.*)\n/.exec(text);
    if (match) {
      await reader.cancel();
      return JSON.parse(match[1]);
    }
  }
}

async function streamIdOf(page) {
  return page.getByTestId("stream-id").getAttribute("title");
}

describe("questions, one server", () => {
  let server;
  let proxy;
  let browser;

  before(async () => {
    assertPageBuilt();
    server = await startDemoServer(["--heartbeat-s", "1", "--resume-grace-s", "1"]);
    proxy = await startProxy(server.url);
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await proxy?.close();
    await server?.stop();
  });

  test("ask: the card offers the cities and free text; the answer is in the transcript and the text", async () => {
    const auth = owner();
    const page = await openRun(browser, server.url, { ...QUICK, ask: 1, auth });
    const card = await waitForQuestion(page);
    assert.equal(await page.getByTestId("question-prompt").textContent(), "Which city should I plan for?");
    assert.deepEqual(await page.getByTestId("question-option").allTextContents(), ["Lisbon", "Porto", "Faro"]);
    assert.match(await page.getByTestId("question-time-left").textContent(), /^\d+ s left$/);
    assert.equal(await waitForStatus(page, ["streaming"]), "streaming");
    await browser.screenshot(page, "question-card");
    await page.getByTestId("question-input").fill("Évora 🏰");
    await page.getByTestId("question-submit").click();
    await card.waitFor({ state: "detached" });
    assert.equal(await waitForStatus(page, ["done", "error"]), "done");
    assert.deepEqual(await answersShown(page), ["You answered: Évora 🏰"]);
    assert.ok((await page.getByTestId("agent-text").textContent()).startsWith("You chose Évora 🏰. "));
    await browser.screenshot(page, "question-answered");
    await page.close();
  });

  test("a second tab answers; the first shows it; an answer from a lagging tab gets 409; one run", async () => {
    const auth = owner();
    const before = (await server.healthz()).runs_started;
    // the first tab reads through the proxy, so its stream can be slowed down at will
    const first = await openRun(browser, proxy.url, { ...QUICK, ask: 1, auth });
    await waitForQuestion(first);
    const second = await browser.newPage();
    await second.goto(await watchUrl(first, server.url));
    await waitForQuestion(second);
    // from now on the first tab hears of the answer only slowly (one byte per 100 ms)
    proxy.options.byteDelayMs = 100;
    proxy.options.dripBytes = true;
    await second.getByTestId("question-option").filter({ hasText: "Faro" }).click();
    assert.equal(await waitForStatus(second, ["done", "error"]), "done");
    assert.deepEqual(await answersShown(second), ["You answered: Faro"]);
    // the lagging first tab still shows the question: its answer is refused
    await first.getByTestId("question-option").filter({ hasText: "Lisbon" }).click();
    const refused = first.getByTestId("question-error");
    await refused.waitFor({ state: "visible" });
    assert.match(await refused.textContent(), /^409: .*already answered/);
    proxy.options.dripBytes = false;
    proxy.options.byteDelayMs = 0;
    assert.equal(await waitForStatus(first, ["done", "error"], 30_000), "done");
    assert.deepEqual(await answersShown(first), ["You answered: Faro"]);
    assert.ok((await first.getByTestId("agent-text").textContent()).startsWith("You chose Faro. "));
    assert.equal((await server.healthz()).runs_started, before + 1);
    await first.close();
    await second.close();
  });

  test("close the only tab while asked, outlast the disconnect grace, reopen and answer: the run completes", async () => {
    const auth = owner();
    const before = (await server.healthz()).runs_started;
    const page = await openRun(browser, server.url, { ...QUICK, ask: 1, auth });
    await waitForQuestion(page);
    const link = await watchUrl(page, server.url);
    await page.close();
    await waitFor("the server to see the tab gone", async () => (await server.healthz()).connections === 0);
    // outlast the 1 s grace on the server's own clock: a question of 2 s expiring elsewhere
    const timer = await fetch(new URL("/api/chat", server.url), {
      method: "POST",
      headers: { "content-type": "application/json", authorization: owner() },
      body: JSON.stringify({ ...QUICK, ask: true, ask_timeout_s: 2 }),
    });
    assert.match(await timer.text(), /"status":"expired"/);
    assert.equal((await server.healthz()).runs_active, 1, "the asking run is still there");
    const reopened = await browser.newPage();
    await reopened.goto(link);
    await waitForQuestion(reopened);
    await reopened.getByTestId("question-option").filter({ hasText: "Porto" }).click();
    assert.equal(await waitForStatus(reopened, ["done", "error"]), "done");
    assert.ok((await reopened.getByTestId("agent-text").textContent()).startsWith("You chose Porto. "));
    assert.match(await reopened.getByTestId("done-summary").textContent(), /^Completed/);
    assert.equal((await server.healthz()).runs_started, before + 2); // the run and the timer
    await reopened.close();
  });

  test("nobody answers: the card counts down, the run goes on without it, a late answer gets 410", async () => {
    const auth = owner();
    const page = await openRun(browser, server.url, { ...QUICK, ask: 1, ask_timeout_s: 2, auth });
    await waitForQuestion(page);
    const streamId = await streamIdOf(page);
    const question = await questionOf(server.url, streamId, auth);
    assert.equal(await waitForStatus(page, ["done", "error"], 20_000), "done");
    assert.equal(await page.getByTestId("question").count(), 0);
    assert.deepEqual(await answersShown(page), ["Nobody answered in time"]);
    assert.ok((await page.getByTestId("agent-text").textContent()).startsWith("Nobody answered in time, so I picked Lisbon. "));
    const late = await postAnswer(server.url, question, "Porto", auth);
    assert.equal(late.status, 410);
    assert.equal(late.body.error.code, "input-expired");
    await page.close();
  });

  test("approve: the card shows the tool call; deny skips the tool", async () => {
    const auth = owner();
    const page = await openRun(browser, server.url, { ...QUICK, tools: 1, approve: 1, auth });
    await waitForQuestion(page);
    assert.match(await page.getByTestId("question-tool").textContent(), /^web_search\(\{"query":/);
    assert.deepEqual(await page.getByTestId("question-option").allTextContents(), ["approve", "deny"]);
    assert.equal(await page.getByTestId("question-input").count(), 0, "no free text for an approval");
    await page.getByTestId("question-option").filter({ hasText: "deny" }).click();
    assert.equal(await waitForStatus(page, ["done", "error"]), "done");
    assert.ok((await page.getByTestId("agent-text").textContent()).startsWith("(Skipped web_search: not approved.) "));
    assert.equal(await page.getByTestId("tool-history").count(), 0);
    await page.close();
  });

  test("another owner's watch link gets the same 404 as an unknown stream", async () => {
    const auth = owner();
    const page = await openRun(browser, server.url, { ...QUICK, ask: 1, auth });
    await waitForQuestion(page);
    const streamId = await streamIdOf(page);
    const question = await questionOf(server.url, streamId, auth);
    const stranger = await browser.newPage();
    await stranger.goto(pageUrl(server.url, { stream: streamId, auth: owner() }));
    assert.equal(await waitForStatus(stranger, ["error", "done"]), "error");
    assert.match(await stranger.getByTestId("error-banner").textContent(), /404/);
    const foreign = await postAnswer(server.url, question, "Porto", owner());
    const unknown = await postAnswer(server.url, { ...question, request_id: "req_nope" }, "Porto", auth);
    assert.equal(foreign.status, 404);
    assert.deepEqual(foreign.body, unknown.body);
    await page.getByTestId("question-option").filter({ hasText: "Lisbon" }).click();
    assert.equal(await waitForStatus(page, ["done", "error"]), "done");
    await stranger.close();
    await page.close();
  });
});

describe("questions across processes (Redis)", () => {
  let redis;
  let a;
  let b;
  let browser;

  before(async () => {
    assertPageBuilt();
    redis = await startRedis();
    const url = `${redis.url}?prefix=e2e-hitl&lease_s=1`;
    a = await startDemoServer(["--heartbeat-s", "1", "--redis", url]);
    b = await startDemoServer(["--heartbeat-s", "1", "--redis", url]);
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await a?.stop();
    await b?.stop();
    await redis?.stop();
  });

  test("a tab on the other process answers; the asking tab shows the answer and the run completes", async () => {
    const auth = owner();
    const asking = await openRun(browser, a.url, { ...QUICK, ask: 1, auth });
    await waitForQuestion(asking);
    const other = await browser.newPage();
    await other.goto(await watchUrl(asking, b.url));
    await waitForQuestion(other);
    await other.getByTestId("question-input").fill("Braga");
    await other.getByTestId("question-submit").click();
    for (const page of [asking, other]) {
      assert.equal(await waitForStatus(page, ["done", "error"]), "done");
      assert.deepEqual(await answersShown(page), ["You answered: Braga"]);
      assert.ok((await page.getByTestId("agent-text").textContent()).startsWith("You chose Braga. "));
    }
    await asking.close();
    await other.close();
  });

  test("the asking process dies: the other tab's answer gets 410 and the run ends interrupted", async () => {
    const auth = owner();
    // a 3 s lease: the click below lands before the lapse (and the interrupted end) even when
    // the machine is loaded; the other process notices the lapse within its own 1 s lease
    const doomed = await startDemoServer(["--heartbeat-s", "1", "--redis", `${redis.url}?prefix=e2e-hitl&lease_s=3`]);
    try {
      const asking = await openRun(browser, doomed.url, { ...QUICK, ask: 1, auth });
      await waitForQuestion(asking);
      const other = await browser.newPage();
      await other.goto(await watchUrl(asking, b.url));
      await waitForQuestion(other);
      const question = await questionOf(b.url, await streamIdOf(asking), auth);
      doomed.signal("SIGKILL");
      await doomed.exited;
      // the card goes away as soon as the interrupted end arrives, so read the answer's response
      const [response] = await Promise.all([
        other.waitForResponse((r) => r.url().endsWith("/respond")),
        other.getByTestId("question-option").filter({ hasText: "Porto" }).click(),
      ]);
      assert.equal(response.status(), 410);
      // (Chromium may drop that response's body once the card is gone: ask again from here)
      const late = await postAnswer(b.url, question, "Faro", auth);
      assert.equal(late.status, 410);
      assert.equal(late.body.error.code, "input-closed");
      assert.equal(await waitForStatus(other, ["done", "error"], 20_000), "error");
      assert.equal(await other.getByTestId("question").count(), 0);
      assert.match(await other.getByTestId("done-summary").textContent(), /^Interrupted/);
      await asking.close();
      await other.close();
    } finally {
      await doomed.stop();
    }
  });
});
