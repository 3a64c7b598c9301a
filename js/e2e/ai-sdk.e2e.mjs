// useChat from the real @ai-sdk/react in Chromium against the demo's /api/ai-sdk/chat: a
// conversation, a reload mid-stream that resumes (one run), the resume landing on another process
// through Redis, and a stop that cancels the run on the server.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { rm } from "node:fs/promises";
import { after, before, describe, test } from "node:test";
import {
  buildAiSdkPage,
  fetchRun,
  launchBrowser,
  startDemoServer,
  startProxy,
  startRedis,
  testText,
  tokenText,
  waitFor,
} from "./fixtures/index.mjs";

const KNOBS = { message: "Lisbon ☕ — naïve 🎉", tokens: 80, token_delay_ms: 25, tools: 2 };

function chatUrl(base, chat, owner, knobs = KNOBS) {
  const url = new URL("/", base);
  url.searchParams.set("chat", chat);
  url.searchParams.set("owner", owner);
  for (const [key, value] of Object.entries(knobs)) url.searchParams.set(key, String(value));
  return url.toString();
}

/** The answer an uninterrupted run of the same knobs streams (the demo agent is scripted). */
async function expectedText(server, owner) {
  const frames = await fetchRun(server.url, { ...KNOBS, token_delay_ms: 0 }, { Authorization: `Bearer ${owner}` });
  return tokenText(frames);
}

async function waitForChat(page, predicate, arg, timeoutMs = 20_000) {
  await page.waitForFunction(
    ([source, value]) => {
      const read = (id) => document.querySelector(`[data-testid="${id}"]`)?.textContent ?? "";
      return new Function("read", "value", `return (${source})(read, value);`)(read, value);
    },
    [predicate.toString(), arg],
    { timeout: timeoutMs, polling: 20 },
  );
}

const isStreaming = (read) => read("chat-status") === "streaming" && read("assistant-text").length > 0;
const isDoneWith = (read, text) => read("chat-status") === "ready" && read("assistant-text") === text;

async function startChat(page, url) {
  await page.goto(url);
  await waitForChat(page, (read) => read("chat-status") === "ready"); // the mount's resume: 204
  await page.getByTestId("send").click();
  await waitForChat(page, isStreaming);
}

describe("AI SDK useChat", () => {
  let pageDir;
  let browser;

  before(async () => {
    pageDir = await buildAiSdkPage();
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    if (pageDir) await rm(pageDir, { recursive: true, force: true });
  });

  describe("one server", () => {
    let server;
    let proxy;
    before(async () => {
      server = await startDemoServer(["--heartbeat-s", "1"]);
      proxy = await startProxy(server.url);
      proxy.options.staticDir = pageDir;
    });
    after(async () => {
      await proxy?.close();
      await server?.stop();
    });

    test("renders the conversation; a reload mid-stream resumes it, same text, one run", async () => {
      const owner = randomUUID();
      const chat = `chat-${randomUUID()}`;
      const expected = await expectedText(server, owner);
      const { runs_started: before } = await server.healthz();
      const page = await browser.newPage();
      try {
        await startChat(page, chatUrl(proxy.url, chat, owner));
        assert.equal(await testText(page, "message-count"), "2"); // the user's and the answer
        const partial = await testText(page, "assistant-text");
        assert.ok(partial.length < expected.length && expected.startsWith(partial));
        const messageId = await testText(page, "assistant-id");

        await page.reload();
        await waitForChat(page, isDoneWith, expected);
        await browser.screenshot(page, "ai-sdk-resumed");
        assert.equal(await testText(page, "assistant-id"), messageId, "the same message, rebuilt");
        assert.match(await testText(page, "tools"), /web_search output-available.*read_page output-available/s);
        const { runs_started: afterRuns } = await server.healthz();
        assert.equal(afterRuns - before, 1, "one run on the server");
        const resumes = proxy.requests(`/api/ai-sdk/chat/${chat}/stream`);
        assert.deepEqual(resumes.map((e) => e.status), [204, 200]);
      } finally {
        await page.close();
      }
    });

    test("a tool approval: the message stops at the question, approving continues it, one run", async () => {
      const owner = randomUUID();
      const chat = `chat-${randomUUID()}`;
      const knobs = { ...KNOBS, tools: 1, approve: 1, token_delay_ms: 5 };
      const { runs_started: before } = await server.healthz();
      const t0 = performance.now();
      const page = await browser.newPage();
      try {
        await page.goto(chatUrl(proxy.url, chat, owner, knobs));
        await waitForChat(page, (read) => read("chat-status") === "ready");
        await page.getByTestId("send").click();
        await page.getByTestId("approve").waitFor();
        assert.match(await testText(page, "tools"), /web_search approval-requested/);
        await page.getByTestId("approve").click();
        await waitForChat(page, (read) => read("chat-status") === "ready" && read("assistant-text").includes("✨"));
        assert.match(await testText(page, "tools"), /^web_search output-available$/m);
        assert.equal(await testText(page, "message-count"), "2", "one user message, one answer");
        assert.equal((await server.healthz()).runs_started - before, 1, "one run on the server");
        assert.equal(proxy.requests("/api/ai-sdk/chat", t0).length, 2, "the approval was the second POST");
      } finally {
        await page.close();
      }
    });

    test("stop cancels the run on the server: its finally runs, the answer stays partial", async () => {
      const owner = randomUUID();
      const chat = `chat-${randomUUID()}`;
      const expected = await expectedText(server, owner);
      const { bridge_agents_closed: closedBefore } = await server.healthz();
      const page = await browser.newPage();
      try {
        await startChat(page, chatUrl(proxy.url, chat, owner));
        await page.getByTestId("stop").click();
        await waitForChat(page, (read) => read("chat-status") === "ready");
        await waitFor("the run to end on the server", async () => (await server.healthz()).runs_active === 0);
        const stats = await server.healthz();
        assert.equal(stats.bridge_agents_closed, closedBefore + 1, "the agent's finally ran");
        const stops = proxy.requests(`/api/ai-sdk/chat/${chat}/stop`);
        assert.deepEqual(stops.map((e) => e.status), [200]);
        const text = await testText(page, "assistant-text");
        assert.ok(text.length < expected.length, "stopped before the end");
        const resumed = await fetch(new URL(`/api/ai-sdk/chat/${chat}/stream`, server.url), {
          headers: { Authorization: `Bearer ${owner}` },
        });
        assert.equal(resumed.status, 204, "no run in progress after the stop");
      } finally {
        await page.close();
      }
    });
  });

  describe("two servers sharing Redis", () => {
    let redis;
    let servers = [];
    let proxies = [];
    before(async () => {
      redis = await startRedis();
      servers = await Promise.all([0, 1].map(() => startDemoServer(["--heartbeat-s", "1", "--redis", redis.url])));
      proxies = await Promise.all(servers.map((s) => startProxy(s.url)));
      for (const proxy of proxies) proxy.options.staticDir = pageDir;
    });
    after(async () => {
      await Promise.all(proxies.map((p) => p.close()));
      await Promise.all(servers.map((s) => s.stop()));
      await redis?.stop();
    });

    test("the page reloaded on the other process resumes the chat there", async () => {
      const [a, b] = servers;
      const owner = randomUUID();
      const chat = `chat-${randomUUID()}`;
      const expected = await expectedText(a, owner);
      const [runsA, runsB] = await Promise.all(servers.map(async (s) => (await s.healthz()).runs_started));
      const page = await browser.newPage();
      try {
        await startChat(page, chatUrl(proxies[0].url, chat, owner));
        await page.goto(chatUrl(proxies[1].url, chat, owner)); // the same chat, served by B
        await waitForChat(page, isDoneWith, expected);
        assert.deepEqual(
          proxies[1].requests(`/api/ai-sdk/chat/${chat}/stream`).map((e) => e.status),
          [200],
          "B answered the resume",
        );
        assert.equal((await a.healthz()).runs_started - runsA, 1, "A ran the agent");
        assert.equal((await b.healthz()).runs_started - runsB, 0, "B only served it");
      } finally {
        await page.close();
      }
    });
  });
});
