// A browser's native EventSource on the GET resume route: it follows the run through a proxy that
// cuts its connections, resumes by itself with Last-Event-ID (gap-free), and once the run ended its
// one reconnect gets 204, after which it stops for good (PROTOCOL 5.3). Memory and Redis servers.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { assertPageBuilt, launchBrowser, pageUrl, startDemoServer, startProxy, startRedis } from "./fixtures/index.mjs";

const TYPES = ["start", "token", "thinking", "tool_use", "tool_result", "progress", "turn", "creation", "input_required", "input_response", "error", "reconnect", "done"];
// how long "stops for good" is watched after the 204
const QUIET_MS = 10_000;
const CUTS = 3;

/** In the page: start a run over fetch (drained in the background) and return its stream id. */
async function startRun(knobs) {
  const response = await fetch("/api/chat", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(knobs) });
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let text = "";
  for (;;) {
    const { done, value } = await reader.read();
    if (done) throw new Error(`the run ended before its start event: ${text}`);
    text += decoder.decode(value, { stream: true });
    const match = /"stream_id":\s*"([^"]+)"/.exec(text);
    if (match) {
      void (async () => {
        while (!(await reader.read()).done);
      })().catch(() => undefined);
      return match[1];
    }
  }
}

/** In the page: a native EventSource on the resume route, recording every event it dispatches. */
function follow({ sid, types }) {
  const seen = [];
  const source = new EventSource(`/api/streams/${sid}`);
  window.__es = { source, seen, doneAt: null };
  for (const type of types) {
    source.addEventListener(type, (event) => {
      // the EventSource's own connection errors share the name of our `error` event
      if (!(event instanceof MessageEvent)) return;
      seen.push({ type, id: event.lastEventId });
      if (type === "done") window.__es.doneAt = performance.timeOrigin + performance.now();
    });
  }
}

for (const backend of ["memory", "redis"]) {
  describe(`native EventSource on the resume route (${backend})`, () => {
    let browser;
    let server;
    let proxy;
    let redis;
    before(async () => {
      assertPageBuilt();
      const args = ["--heartbeat-s", "1"];
      if (backend === "redis") {
        redis = await startRedis();
        args.push("--redis", `${redis.url}?prefix=e2e-es`);
      }
      server = await startDemoServer(args);
      proxy = await startProxy(server.url);
      browser = await launchBrowser();
    });
    after(async () => {
      await browser?.close();
      await proxy?.close();
      await server?.stop();
      await redis?.stop();
    });

    test("cut 3 times -> gap-free to done; after done one 204, then no request for 10 s", async () => {
      const page = await browser.newPage();
      await page.goto(pageUrl(proxy.url));
      const knobs = { tokens: 150, token_delay_ms: 15, tools: 1, thinking: true };
      const sid = await page.evaluate(startRun, knobs);
      Object.assign(proxy.options, { dropAfterBytes: 2_500, dropCount: CUTS, dropDelayMs: 50 });
      await page.evaluate(follow, { sid, types: TYPES });
      await page.waitForFunction(() => window.__es.doneAt !== null, null, { timeout: 60_000, polling: 20 });
      const doneAt = await page.evaluate(() => window.__es.doneAt);

      const seen = await page.evaluate(() => window.__es.seen);
      const events = seen.filter((e) => e.type !== "start");
      const seqs = events.map((e) => Number(e.id.split(":")[1]));
      assert.deepEqual(seqs, Array.from({ length: seqs.length }, (_, i) => i + 1), "every event once, in order");
      assert.equal(events.at(-1).type, "done");
      assert.ok(events.filter((e) => e.type === "token").length === knobs.tokens);
      const route = `/api/streams/${sid}`;
      const cut = proxy.requests(route).filter((e) => e.dropped);
      assert.equal(cut.length, CUTS, "the proxy cut the EventSource's connection 3 times");
      // resumes carried the id of the last event the EventSource saw
      assert.ok(proxy.requests(route).slice(1).every((e) => /^[A-Za-z0-9_-]+:\d+$/.test(e.headers["last-event-id"] ?? "")));

      // the server ended the body after done: the EventSource reconnects once, gets 204, and closes
      await page.waitForFunction(() => window.__es.source.readyState === EventSource.CLOSED, null, { timeout: 15_000, polling: 20 });
      const closedAt = Date.now();
      const wallToPerf = (ms) => ms - performance.timeOrigin;
      const afterDone = proxy.requests(route, wallToPerf(doneAt));
      assert.equal(afterDone.length, 1, `one reconnect after done, got ${afterDone.length}`);
      assert.equal(afterDone[0].status, 204);
      assert.equal(afterDone[0].headers["last-event-id"], seen.at(-1).id);
      const count = proxy.requests(route).length;
      // the claim is an absence: watch for the whole window, then count
      await new Promise((resolve) => setTimeout(resolve, QUIET_MS - (Date.now() - closedAt)));
      assert.equal(proxy.requests(route).length, count, "no request within 10 s after the 204");
      assert.equal(await page.evaluate(() => window.__es.source.readyState), 2);
      assert.equal((await server.healthz()).runs_started, 1);
      await page.close();
    });
  });
}
