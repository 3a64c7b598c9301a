// AG-UI clients against the demo's /api/ag-ui: @ag-ui/client's own HttpAgent, unmodified, and
// @agent-stream/ag-ui's ResumableHttpAgent through a proxy that cuts the connection 10 times.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, beforeEach, describe, test } from "node:test";
import { HttpAgent } from "@ag-ui/client";
import { EventSchemas } from "@ag-ui/core/schemas";
import { ResumableHttpAgent } from "@agent-stream/ag-ui";
import { fetchRun, startDemoServer, startProxy, tokenText, waitFor } from "./fixtures/index.mjs";

const KNOBS = { message: "Porto ☕ — naïve 🎉", tokens: 120, token_delay_ms: 0, tools: 2 };

function userMessage(text) {
  return { id: randomUUID(), role: "user", content: text };
}

/** Run `agent` once; every event it saw, each validated against @ag-ui/core's schemas. */
async function runCollecting(agent, forwardedProps) {
  const events = [];
  await agent.runAgent(
    { runId: randomUUID(), forwardedProps },
    {
      onEvent({ event }) {
        const checked = EventSchemas.safeParse(event);
        assert.ok(checked.success, `${event.type} fails @ag-ui/core's schema: ${checked.error}`);
        events.push(event);
      },
    },
  );
  return events;
}

describe("AG-UI", () => {
  let server;
  let proxy;

  before(async () => {
    server = await startDemoServer(["--heartbeat-s", "1"]);
    proxy = await startProxy(server.url);
  });
  after(async () => {
    await proxy?.close();
    await server?.stop();
  });
  beforeEach(() => proxy.reset());

  test("@ag-ui/client's HttpAgent, unmodified, assembles our run: text, tool calls and results", async () => {
    const headers = { Authorization: `Bearer ${randomUUID()}` };
    const expected = tokenText(await fetchRun(server.url, KNOBS, headers));
    const agent = new HttpAgent({ url: `${server.url}/api/ag-ui`, headers, initialMessages: [userMessage("hi")] });
    const events = await runCollecting(agent, KNOBS);

    assert.equal(events[0].type, "RUN_STARTED");
    assert.equal(events.at(-1).type, "RUN_FINISHED");
    const assistant = agent.messages.filter((m) => m.role === "assistant");
    const texts = assistant.map((m) => m.content).filter((c) => typeof c === "string" && c !== "");
    assert.deepEqual(texts, [expected]);
    const calls = assistant.flatMap((m) => m.toolCalls ?? []);
    assert.deepEqual(
      calls.map((c) => [c.function.name, JSON.parse(c.function.arguments)]),
      [
        ["web_search", { query: KNOBS.message }],
        ["read_page", { url: "https://example.org/guide" }],
      ],
    );
    const results = agent.messages.filter((m) => m.role === "tool");
    assert.deepEqual(
      results.map((m) => [m.toolCallId, JSON.parse(m.content).ok]),
      calls.map((c) => [c.id, true]),
    );
    assert.ok(agent.messages.some((m) => m.role === "reasoning"), "thinking becomes a reasoning message");
  });

  test("ResumableHttpAgent through a proxy that cuts the connection 10 times: same text, one run", async () => {
    const headers = { Authorization: `Bearer ${randomUUID()}` };
    const knobs = { ...KNOBS, tokens: 300, token_delay_ms: 3 };
    const expected = tokenText(await fetchRun(server.url, knobs, headers));
    const { runs_started: before } = await server.healthz();

    Object.assign(proxy.options, { dropAfterBytes: 1500, dropCount: 10, dropDelayMs: 30 });
    const agent = new ResumableHttpAgent({
      url: `${proxy.url}/api/ag-ui`,
      headers,
      initialMessages: [userMessage("hi")],
      retry: { baseDelayMs: 10, maxDelayMs: 50 },
    });
    const events = await runCollecting(agent, knobs);

    const posts = proxy.requests("/api/ag-ui");
    assert.equal(posts.filter((e) => e.dropped).length, 10, "the proxy cut 10 responses");
    assert.equal(posts.length, 11);
    assert.deepEqual(
      posts.slice(1).map((e) => e.headers["last-event-id"]?.split(":")[0]),
      Array(10).fill(agent.lastEventId.split(":")[0]),
      "every retry resumes the same stream",
    );
    const text = agent.messages
      .filter((m) => m.role === "assistant" && typeof m.content === "string")
      .map((m) => m.content)
      .join("");
    assert.equal(text, expected);
    assert.equal(events.filter((e) => e.type === "RUN_STARTED").length, 1);
    assert.equal(events.at(-1).type, "RUN_FINISHED");
    const { runs_started: afterRuns } = await server.healthz();
    assert.equal(afterRuns - before, 1, "one run on the server");
  });

  test("a question is an AG-UI interrupt: HttpAgent answers it with the next run's resume", async () => {
    const headers = { Authorization: `Bearer ${randomUUID()}` };
    const knobs = { ...KNOBS, ask: true, tokens: 20 };
    const agent = new HttpAgent({ url: `${server.url}/api/ag-ui`, headers, initialMessages: [userMessage("hi")] });
    const first = await runCollecting(agent, knobs);
    assert.deepEqual(first.at(-1).outcome.type, "interrupt");
    assert.equal(agent.pendingInterrupts.length, 1);
    const [question] = agent.pendingInterrupts;
    assert.equal(question.message, "Which city should I plan for?");

    const second = await agent.runAgent({
      runId: randomUUID(),
      forwardedProps: knobs,
      resume: [{ interruptId: question.id, status: "resolved", payload: "Faro" }],
    });
    assert.deepEqual(agent.pendingInterrupts, []);
    const text = second.newMessages
      .filter((m) => m.role === "assistant" && typeof m.content === "string")
      .map((m) => m.content)
      .join("");
    assert.ok(text.startsWith("You chose Faro. "), text);
  });

  test("connectAgent past an answered interrupt follows the answer's run to its end", async () => {
    const headers = { Authorization: `Bearer ${randomUUID()}` };
    const threadId = `thread-${randomUUID()}`;
    const knobs = { ...KNOBS, ask: true, tools: 0, tokens: 40, token_delay_ms: 25 };
    const agent = new HttpAgent({ url: `${server.url}/api/ag-ui`, headers, threadId, initialMessages: [userMessage("hi")] });
    await agent.runAgent({ runId: randomUUID(), forwardedProps: knobs });
    const [question] = agent.pendingInterrupts;
    let writing;
    const isWriting = new Promise((resolve) => (writing = resolve));
    const answered = agent.runAgent(
      { runId: randomUUID(), forwardedProps: knobs, resume: [{ interruptId: question.id, status: "resolved", payload: "Faro" }] },
      { onEvent: ({ event }) => event.type === "TEXT_MESSAGE_CONTENT" && writing() },
    );
    await isWriting;
    // another tab: the thread's stream from its start, the interrupted run and then the answer's
    const other = new ResumableHttpAgent({ url: `${server.url}/api/ag-ui`, headers, threadId });
    const seen = [];
    await other.connectAgent(
      {},
      {
        onEvent({ event }) {
          const checked = EventSchemas.safeParse(event);
          assert.ok(checked.success, `${event.type} fails @ag-ui/core's schema: ${checked.error}`);
          seen.push(event);
        },
      },
    );
    await answered;
    const text = (a) => a.messages.filter((m) => m.role === "assistant").map((m) => m.content).join("");
    assert.ok(text(agent).startsWith("You chose Faro. "), text(agent));
    assert.equal(text(other), text(agent));
    assert.deepEqual(
      seen.filter((e) => e.type === "RUN_FINISHED").map((e) => e.outcome?.type),
      ["interrupt", "success"],
    );
  });

  test("ResumableHttpAgent.abortRun stops the run on the server: its agent is closed", async () => {
    const headers = { Authorization: `Bearer ${randomUUID()}` };
    const { bridge_agents_closed: before } = await server.healthz();
    const agent = new ResumableHttpAgent({ url: `${server.url}/api/ag-ui`, headers, initialMessages: [userMessage("hi")] });
    let isAborted = false;
    const run = agent.runAgent(
      { runId: randomUUID(), forwardedProps: { ...KNOBS, tools: 0, tokens: 400, token_delay_ms: 50 } },
      {
        onEvent({ event }) {
          if (event.type === "TEXT_MESSAGE_CONTENT" && !isAborted) {
            isAborted = true;
            agent.abortRun();
          }
        },
      },
    );
    await run.catch(() => undefined); // the aborted fetch
    assert.ok(isAborted);
    // HttpAgent's abortRun only disconnects: the run would go on for the resume grace period
    await waitFor("the server to close the agent", async () => (await server.healthz()).bridge_agents_closed > before, {
      timeoutMs: 5_000,
    });
    assert.equal(await agent.stopRun(), false, "nothing left to stop");
  });

  test("ResumableHttpAgent.connectAgent re-attaches to a thread's run in progress", async () => {
    const headers = { Authorization: `Bearer ${randomUUID()}` };
    const threadId = `thread-${randomUUID()}`;
    const knobs = { ...KNOBS, tokens: 60, token_delay_ms: 20 };
    const expected = tokenText(await fetchRun(server.url, { ...knobs, token_delay_ms: 0 }, headers));
    const first = new ResumableHttpAgent({ url: `${server.url}/api/ag-ui`, headers, threadId });
    const started = runCollecting(first, knobs);
    // a second tab: a fresh agent on the same thread, attached while the run goes on
    const second = new ResumableHttpAgent({ url: `${server.url}/api/ag-ui`, headers, threadId });
    let attached = { newMessages: [] };
    for (let i = 0; i < 100 && attached.newMessages.length === 0; i += 1) {
      attached = await second.connectAgent();
    }
    await started;
    const text = (agent) => agent.messages.filter((m) => m.role === "assistant").map((m) => m.content).join("");
    assert.equal(text(second), expected);
    assert.equal(text(first), expected);
    const idle = new ResumableHttpAgent({ url: `${server.url}/api/ag-ui`, headers, threadId });
    assert.deepEqual((await idle.connectAgent()).newMessages, [], "no run in progress: 204, nothing added");
  });
});
