import { describe, expect, test } from "vitest";
import { ResumableHttpAgent, resumingFetch } from "../src/index.js";

const SID = "s1";
const block = (event: object, id?: number) =>
  `${id === undefined ? "" : `id: ${SID}:${id}\n`}data: ${JSON.stringify(event)}\n\n`;
const priming = (cursor: number) => `id: ${SID}:${cursor}\nretry: 5\n\n`;

const started = { type: "RUN_STARTED", threadId: "t", runId: "r" };
const open = { type: "TEXT_MESSAGE_START", messageId: "m", role: "assistant" };
const delta = (text: string) => ({ type: "TEXT_MESSAGE_CONTENT", messageId: "m", delta: text });
const close = { type: "TEXT_MESSAGE_END", messageId: "m" };
const finished = { type: "RUN_FINISHED", threadId: "t", runId: "r" };

// the whole run as the server sends it: event 1 is a group of three blocks, the id on its last
const EVENTS: readonly [string, string, string] = [
  block(started) + block(open) + block(delta("Olá "), 1),
  block(delta("wörld 🎉"), 2),
  block(close) + block(finished, 3),
];

interface Call {
  url: string;
  lastEventId: string | null;
}

/** A transport that answers with scripted bodies; a body ending in `drop` errors mid-stream. */
function transport(bodies: (string | { chunks: string[]; drop?: boolean; status?: number; type?: string })[]) {
  const calls: Call[] = [];
  const fetch = async (url: string, init: RequestInit): Promise<Response> => {
    calls.push({ url, lastEventId: new Headers(init.headers).get("last-event-id") });
    const next = bodies.shift();
    if (next === undefined) throw new TypeError("fetch failed");
    const spec = typeof next === "string" ? { chunks: [next] } : next;
    const bytes = new TextEncoder();
    const chunks = [...spec.chunks];
    // one chunk per pull: an error raised at once would discard what is still queued
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        const chunk = chunks.shift();
        if (chunk !== undefined) controller.enqueue(bytes.encode(chunk));
        else if (spec.drop === true) controller.error(new TypeError("network error"));
        else controller.close();
      },
    });
    return new Response(body, {
      status: spec.status ?? 200,
      headers: { "content-type": spec.type ?? "text/event-stream" },
    });
  };
  return { fetch, calls };
}

const noDelay = { retry: { baseDelayMs: 1, maxDelayMs: 1 }, random: () => 0 };

describe("resumingFetch", () => {
  test("stream cut inside a group resumes from the previous id: no block twice, none lost", async () => {
    const whole = priming(0) + EVENTS.join("");
    const cut = whole.indexOf(block(finished, 3)) + 10; // inside event 3's group
    const { fetch, calls } = transport([
      { chunks: [whole.slice(0, cut)], drop: true },
      priming(2) + EVENTS[2],
    ]);
    const response = await resumingFetch(fetch, noDelay)("http://x/api/ag-ui", { method: "POST", body: "{}" });
    const text = await response.text();
    expect(text).toBe(EVENTS.join("").replace(/id: [^\n]*\n/g, ""));
    expect(calls.map((c) => c.lastEventId)).toEqual([null, `${SID}:2`]);
  });

  test("a clean end before the run finished is a drop too", async () => {
    const { fetch, calls } = transport([priming(0) + EVENTS[0], priming(1) + EVENTS[1], priming(2) + EVENTS[2]]);
    const text = await (await resumingFetch(fetch, noDelay)("u", {})).text();
    expect(text).toContain("wörld 🎉");
    expect(calls.map((c) => c.lastEventId)).toEqual([null, `${SID}:1`, `${SID}:2`]);
  });

  test("one byte per chunk reads the same", async () => {
    const whole = priming(0) + EVENTS.join("");
    const { fetch } = transport([{ chunks: [...whole] }]);
    const text = await (await resumingFetch(fetch, noDelay)("u", {})).text();
    expect(text).toBe(EVENTS.join("").replace(/id: [^\n]*\n/g, ""));
  });

  test("a stream that never named an id is passed on and its drop surfaces", async () => {
    const { fetch, calls } = transport([{ chunks: [block(started), block(open)], drop: true }]);
    const response = await resumingFetch(fetch, noDelay)("u", {});
    await expect(response.text()).rejects.toThrow();
    expect(calls).toHaveLength(1);
  });

  test("an HTTP error on resume surfaces, never retried", async () => {
    const { fetch, calls } = transport([
      { chunks: [priming(0) + EVENTS[0]], drop: true },
      { chunks: ['{"error":{"code":"expired"}}'], status: 410, type: "application/json" },
    ]);
    const response = await resumingFetch(fetch, noDelay)("u", {});
    await expect(response.text()).rejects.toThrow(/HTTP 410/);
    expect(calls).toHaveLength(2);
  });

  test("gives up after maxRetries reconnects without progress", async () => {
    const { fetch, calls } = transport([{ chunks: [priming(0) + EVENTS[0]], drop: true }]);
    const response = await resumingFetch(fetch, { ...noDelay, retry: { ...noDelay.retry, maxRetries: 3 } })("u", {});
    await expect(response.text()).rejects.toThrow(/gave up resuming after 3 retries/);
    expect(calls).toHaveLength(4);
  });

  test("a response that goes on after a run's end is read to its end (a re-attach past an interrupt)", async () => {
    // connect() replays a thread's stream: the run that ended at a question, then the run the
    // answer continued; the response is over only where it ends after a finished run
    const interrupted = { ...finished, outcome: { type: "interrupt", interrupts: [{ id: "q1" }] } };
    const chunks = [
      priming(0) + block(started) + block(interrupted, 1),
      block(started) + block(open) + block(delta("Faro it is"), 3),
      block(close) + block(finished, 4),
    ];
    const { fetch, calls } = transport([{ chunks }]);
    const text = await (await resumingFetch(fetch, noDelay)("u", {})).text();
    expect(text).toBe(chunks.join("").replace(/(id|retry): [^\n]*\n/g, "").replace(/^\n/, ""));
    expect(calls).toHaveLength(1);
  });

  test("a drop after the run's last event ends the stream: no resume", async () => {
    const { fetch, calls } = transport([{ chunks: [priming(0) + EVENTS.join("")], drop: true }]);
    const text = await (await resumingFetch(fetch, noDelay)("u", {})).text();
    expect(text).toBe(EVENTS.join("").replace(/id: [^\n]*\n/g, ""));
    expect(calls).toHaveLength(1);
  });

  test("responses that are not event streams pass through untouched", async () => {
    const { fetch } = transport([{ chunks: ["plain"], type: "text/plain" }]);
    expect(await (await resumingFetch(fetch, noDelay)("u", {})).text()).toBe("plain");
  });
});

describe("ResumableHttpAgent", () => {
  test("a run cut twice assembles one message and keeps the last id", async () => {
    const whole = priming(0) + EVENTS.join("");
    const { fetch, calls } = transport([
      { chunks: [whole.slice(0, whole.indexOf("wörld"))], drop: true },
      { chunks: [priming(1) + EVENTS[1] + EVENTS[2].slice(0, 20)], drop: true },
      priming(2) + EVENTS[2],
    ]);
    const agent = new ResumableHttpAgent({ url: "http://x/api/ag-ui", fetch, retry: noDelay.retry });
    const { newMessages } = await agent.runAgent({ runId: "r" });
    expect(newMessages).toEqual([{ id: "m", role: "assistant", content: "Olá wörld 🎉" }]);
    expect(agent.lastEventId).toBe(`${SID}:3`);
    expect(calls.map((c) => c.lastEventId)).toEqual([null, `${SID}:1`, `${SID}:2`]);
  });

  test("connectAgent re-attaches through <url>/<threadId>/stream", async () => {
    const { fetch, calls } = transport([priming(0) + EVENTS.join("")]);
    const agent = new ResumableHttpAgent({ url: "http://x/api/ag-ui/", fetch, threadId: "th 1" });
    const { newMessages } = await agent.connectAgent();
    expect(calls[0]?.url).toBe("http://x/api/ag-ui/th%201/stream");
    expect(newMessages.map((m) => m.id)).toEqual(["m"]);
  });

  test("abortRun disconnects and stops the thread's run on the server", async () => {
    const requests: { url: string; method: string; auth: string | null }[] = [];
    let stopped: () => void = () => {};
    const stopSent = new Promise<void>((resolve) => (stopped = resolve));
    const fetch = async (url: string, init: RequestInit): Promise<Response> => {
      requests.push({ url, method: init.method ?? "GET", auth: new Headers(init.headers).get("authorization") });
      if (url.endsWith("/stop")) {
        stopped();
        return Response.json({ stopped: true });
      }
      // a run that streams until it is aborted
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(new TextEncoder().encode(priming(0) + EVENTS[0]));
          init.signal?.addEventListener("abort", () => controller.error(init.signal?.reason));
        },
      });
      return new Response(body, { headers: { "content-type": "text/event-stream" } });
    };
    const headers = { Authorization: "Bearer me" };
    const agent = new ResumableHttpAgent({ url: "http://x/api/ag-ui", fetch, headers, threadId: "th 1" });
    let isAborted = false;
    const abortOnce = () => {
      if (!isAborted) agent.abortRun();
      isAborted = true;
    };
    const running = agent.runAgent({ runId: "r" }, { onEvent: abortOnce }).catch(() => undefined);
    await stopSent;
    await running;
    expect(requests.map((r) => [r.method, r.url, r.auth])).toEqual([
      ["POST", "http://x/api/ag-ui", "Bearer me"],
      ["POST", "http://x/api/ag-ui/th%201/stop", "Bearer me"],
    ]);
    expect(await agent.stopRun()).toBe(true);
  });

  test("stopRun rejects on an HTTP error status", async () => {
    const fetch = async () => Response.json({ error: { code: "x" } }, { status: 500 });
    const agent = new ResumableHttpAgent({ url: "http://x/api/ag-ui", fetch, threadId: "t" });
    await expect(agent.stopRun()).rejects.toThrow(/HTTP 500/);
  });

  test("connectAgent on a thread with no run in progress (204) adds nothing", async () => {
    const fetch = async () => new Response(null, { status: 204 });
    const agent = new ResumableHttpAgent({ url: "http://x/api/ag-ui", fetch, threadId: "t" });
    const { newMessages } = await agent.connectAgent();
    expect(newMessages).toEqual([]);
  });
});
