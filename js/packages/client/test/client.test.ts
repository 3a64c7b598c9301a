import { describe, expect, test } from "vitest";
import {
  AgentStreamClient,
  type AgentStreamClientOptions,
  type ClientSnapshot,
  HTTPStatusError,
  ResumeError,
} from "../src/index";
import { respond } from "../src/respond";
import { FakeFetch, FakeScheduler, frame, SID, settle, startFrame } from "./fakes";

function setup(options: AgentStreamClientOptions = {}) {
  const clock = new FakeScheduler();
  const server = new FakeFetch();
  const client = new AgentStreamClient({ fetch: server.fetch, scheduler: clock, visibility: null, ...options });
  return { clock, server, client };
}

const tok = (seq: number, text: string) => frame(seq, "token", { text });
const done = (seq: number, data: Record<string, unknown> = {}) => frame(seq, "done", data);

describe("AgentStreamClient: a run", () => {
  test("streams events into state and ends with done", async () => {
    const { server, client } = setup({ batching: "none" });
    const body = server.stream();
    const finished = client.start("/api/chat", { message: "hi" });
    expect(client.getSnapshot().isStreaming).toBe(true);
    body.push(startFrame() + tok(1, "Hel") + tok(2, "lo"));
    await settle();
    expect(client.getSnapshot()).toMatchObject({ text: "Hello", streamId: SID, lastEventId: `${SID}:2`, connection: "streaming" });
    body.push(frame(3, "tool_use", { tool_name: "search", tool_use_id: "t1" }) + done(4, { reason: "completed" }));
    const final = await finished;
    expect(final).toMatchObject({ isDone: true, isStreaming: false, connection: "closed", text: "Hello", activeTools: [] });
    expect(final.done?.synthetic).toBeUndefined();
    const [request] = server.requests;
    expect(request?.method).toBe("POST");
    expect(request?.body).toBe('{"message":"hi"}');
    expect(request?.headers.get("accept")).toBe("text/event-stream");
    expect(request?.headers.get("last-event-id")).toBeNull();
  });

  test("an event id of another stream ends the run with foreign-id; the events before it stay", async () => {
    const { server, client } = setup({ batching: "none" });
    const body = server.stream();
    const finished = client.start("/api/chat", {});
    body.push(startFrame() + tok(1, "a") + `id: other${SID}:2\nevent: token\ndata: {"text":"b"}\n\n` + tok(3, "c"));
    const final = await finished;
    expect(final.failure?.code).toBe("foreign-id");
    expect(final).toMatchObject({ text: "a", isDone: true, connection: "closed" });
  });

  test("getSnapshot returns the same object until the state changes", async () => {
    const { server, client } = setup({ batching: "none" });
    const first = client.getSnapshot();
    expect(client.getSnapshot()).toBe(first);
    const body = server.stream();
    void client.start("/api/chat", {});
    const started = client.getSnapshot();
    expect(started).not.toBe(first);
    expect(client.getSnapshot()).toBe(started);
    body.push(": ping\n\n");
    await settle();
    expect(client.getSnapshot()).toBe(client.getSnapshot());
    const before = client.getSnapshot();
    body.push(frame(9, "citation", { url: "x" })); // unknown type: no change
    await settle();
    expect(client.getSnapshot()).toBe(before);
  });

  test("subscribe notifies on change and unsubscribe stops it", async () => {
    const { server, client } = setup({ batching: "none" });
    const body = server.stream();
    let calls = 0;
    const unsubscribe = client.subscribe(() => (calls += 1));
    void client.start("/api/chat", {});
    body.push(startFrame() + tok(1, "a"));
    await settle();
    const seen = calls;
    expect(seen).toBeGreaterThan(0);
    unsubscribe();
    body.push(tok(2, "b"));
    await settle();
    expect(calls).toBe(seen);
  });

  test("one chunk with many events notifies once", async () => {
    const { server, client } = setup({ batching: "none" });
    const body = server.stream();
    void client.start("/api/chat", {});
    await settle();
    let calls = 0;
    client.subscribe(() => (calls += 1));
    body.push(startFrame() + frame(1, "turn", { turn_number: 1 }) + frame(2, "progress", { step: "s", percentage: 5, message: "m" }));
    await settle();
    expect(calls).toBe(1);
  });
});

describe("AgentStreamClient: batching", () => {
  test("token text is flushed every 50 ms, and at once on done", async () => {
    const { clock, server, client } = setup({ batching: "fixed" });
    const body = server.stream();
    const finished = client.start("/api/chat", {});
    body.push(startFrame() + tok(1, "a"));
    await settle();
    expect(client.getSnapshot().text).toBe("a"); // the first token goes out at once
    clock.advance(10);
    body.push(tok(2, "b") + tok(3, "c"));
    await settle();
    expect(client.getSnapshot().text).toBe("a");
    clock.advance(40);
    expect(client.getSnapshot().text).toBe("abc");
    clock.advance(5);
    body.push(tok(4, "d"));
    await settle();
    expect(client.getSnapshot().text).toBe("abc");
    body.push(done(5));
    expect((await finished).text).toBe("abcd");
  });

  test("an error event flushes pending text first", async () => {
    const { clock, server, client } = setup({ batching: "fixed" });
    const body = server.stream();
    void client.start("/api/chat", {});
    body.push(startFrame() + tok(1, "a"));
    await settle();
    clock.advance(1);
    body.push(tok(2, "b") + frame(3, "error", { error_type: "E", message: "boom" }));
    await settle();
    expect(client.getSnapshot()).toMatchObject({ text: "ab", error: { error_type: "E", message: "boom" } });
  });

  test("stop flushes pending text", async () => {
    const { clock, server, client } = setup({ batching: "fixed" });
    const body = server.stream();
    void client.start("/api/chat", {});
    body.push(startFrame() + tok(1, "a"));
    await settle();
    clock.advance(1);
    body.push(tok(2, "b"));
    await settle();
    server.status(200, '{"stopped": true}');
    await client.stop();
    expect(client.getSnapshot()).toMatchObject({ text: "ab", isDone: true, isStreaming: false });
  });
});

describe("AgentStreamClient: HTTP statuses surface at once, never retried", () => {
  test.each([400, 401, 403, 404, 422, 429, 500, 503])("%i", async (status) => {
    const { server, client } = setup();
    server.status(status, '{"error": {"code": "nope", "message": "not allowed"}}', { "Retry-After": "1" });
    const errors: unknown[] = [];
    const final = await client.start("/api/chat", {}, { onError: (error) => errors.push(error) });
    expect(server.requests).toHaveLength(1);
    expect(final.failure).toBeInstanceOf(HTTPStatusError);
    expect(final.failure).toMatchObject({ status, code: "http-status" });
    expect(final.error?.message).toContain("not allowed");
    expect(final).toMatchObject({ isStreaming: false, isDone: true, connection: "closed" });
    expect(final.done).toMatchObject({ synthetic: true, reason: "error" });
    expect(errors).toEqual([final.failure]);
  });

  test("429 and 503 are retried after Retry-After when opted in", async () => {
    const { clock, server, client } = setup({ retry: { retryStatuses: [429, 503] }, batching: "none" });
    server.status(503, "", { "Retry-After": "2" });
    const body = server.stream();
    const finished = client.start("/api/chat", {});
    await settle();
    expect(server.requests).toHaveLength(1);
    expect(clock.nextDelay()).toBe(2000);
    clock.advance(2000);
    await settle();
    expect(server.requests).toHaveLength(2);
    expect(server.requests[1]?.headers.get("last-event-id")).toBeNull(); // the server never answered
    body.push(startFrame() + tok(1, "ok") + done(2));
    expect((await finished).text).toBe("ok");
  });
});

/** A run whose first response got as far as `seq` and then lost its connection. */
async function lostAfter(options: AgentStreamClientOptions = {}) {
  const ctx = setup({ batching: "none", ...options });
  const first = ctx.server.stream({ "X-Agent-Stream-Id": SID });
  const finished = ctx.client.start("https://example.com/api/chat", { message: "hi" });
  first.push(startFrame() + tok(1, "a") + tok(2, "b"));
  await settle();
  return { ...ctx, first, finished };
}

describe("AgentStreamClient: lost connections resume by Last-Event-ID", () => {
  test.each([
    ["the body errors", (body: { fail(e: Error): void; close(): void }) => body.fail(new TypeError("network error"))],
    ["EOF without done", (body: { fail(e: Error): void; close(): void }) => body.close()],
  ])("%s -> the same request again, with the last id, after backoff", async (_name, lose) => {
    const { clock, server, client, first, finished } = await lostAfter();
    const second = server.stream();
    lose(first);
    await settle();
    expect(client.getSnapshot()).toMatchObject({ connection: "reconnecting", reconnects: 1, isStreaming: true });
    expect(clock.nextDelay()).toBe(500); // random 0.5 * min(30 s, retry 1000 ms * 2^0)
    clock.advance(500);
    await settle();
    const resume = server.requests[1];
    expect(resume?.headers.get("last-event-id")).toBe(`${SID}:2`);
    expect(resume?.method).toBe("POST");
    expect(resume?.body).toBe('{"message":"hi"}');
    // the server replays from seq 3, after a resumed priming frame whose id is the cursor
    second.push(startFrame({ seq: 2, resumed: true }) + tok(2, "b") + tok(3, "c") + done(4));
    const final = await finished;
    expect(final.text).toBe("abc"); // seq 2 was dropped as a duplicate
    expect(final).toMatchObject({ isDone: true, failure: null, reconnects: 1 });
  });

  test("the priming frame's id counts: a drop right after it resumes from <sid>:0", async () => {
    const { server, client, clock } = setup({ batching: "none" });
    const first = server.stream();
    const finished = client.start("/api/chat", {});
    first.push(startFrame());
    await settle();
    const second = server.stream();
    first.fail(new TypeError("reset"));
    await settle();
    clock.advance(clock.nextDelay() ?? 0);
    await settle();
    expect(server.requests[1]?.headers.get("last-event-id")).toBe(`${SID}:0`);
    second.push(startFrame({ resumed: true }) + done(1));
    await finished;
  });

  test("resume_url mode GETs the start event's resume_url", async () => {
    const { server, clock, first, finished } = await lostAfter({ resumeWith: "resume_url" });
    const second = server.stream();
    first.close();
    await settle();
    clock.advance(clock.nextDelay() ?? 0);
    await settle();
    expect(server.requests[1]).toMatchObject({ method: "GET", url: `https://example.com/api/streams/${SID}`, body: undefined });
    expect(server.requests[1]?.headers.get("last-event-id")).toBe(`${SID}:2`);
    second.push(done(3));
    await finished;
  });

  test("a reconnect event resumes at once, without backoff", async () => {
    const { server, first, finished } = await lostAfter();
    const second = server.stream();
    first.push('event: reconnect\ndata: {"reason":"server-shutdown"}\n\n');
    await settle();
    expect(server.requests[1]?.headers.get("last-event-id")).toBe(`${SID}:2`);
    second.push(startFrame({ seq: 2, resumed: true }) + done(3));
    expect((await finished).reconnects).toBe(1);
  });

  test("silence past the liveness deadline (2.5 x heartbeat + 1000 ms, as in Python) is a lost connection", async () => {
    const { server, clock, client } = setup({ batching: "none" });
    const first = server.stream();
    void client.start("/api/chat", {});
    first.push(startFrame({ heartbeatMs: 1000 }));
    await settle();
    server.stream();
    clock.advance(3499);
    await settle();
    expect(client.getSnapshot().connection).toBe("streaming");
    clock.advance(1);
    await settle();
    expect(client.getSnapshot().connection).toBe("reconnecting");
    expect(first.cancelled).toBe(true);
  });

  test("a fetch that rejects before any answer retries the request (nothing reached us)", async () => {
    const { server, clock, client } = setup({ batching: "none" });
    server.reject();
    const body = server.stream();
    const finished = client.start("/api/chat", { q: 1 });
    await settle();
    clock.advance(clock.nextDelay() ?? 0);
    await settle();
    expect(server.requests).toHaveLength(2);
    expect(server.requests[1]?.headers.get("last-event-id")).toBeNull();
    body.push(startFrame() + done(1));
    await finished;
  });

  test("the first request and every re-send of it carry one Idempotency-Key; the next start() a new one", async () => {
    const { server, clock, client } = setup({ batching: "none", retry: { retryStatuses: [503] } });
    server.reject();
    server.status(503, '{"error":{"code":"store-unavailable","message":"down"}}', { "Retry-After": "1" });
    const body = server.stream({ "X-Agent-Stream-Id": SID });
    const finished = client.start("/api/chat", { q: 1 });
    for (let i = 0; i < 2; i += 1) {
      await settle();
      clock.advance(clock.nextDelay() ?? 0);
    }
    await settle();
    const keys = server.requests.map((r) => r.headers.get("idempotency-key"));
    expect(keys).toHaveLength(3);
    expect(keys[0]).toMatch(/^[0-9a-f-]{32,36}$/);
    expect(new Set(keys).size).toBe(1);
    // answered: a drop now resumes by Last-Event-ID, without the key
    const resumed = server.stream();
    body.push(startFrame() + tok(1, "a"));
    await settle();
    body.fail(new TypeError("reset"));
    await settle();
    clock.advance(clock.nextDelay() ?? 0);
    await settle();
    expect(server.requests[3]?.headers.get("last-event-id")).toBe(`${SID}:1`);
    expect(server.requests[3]?.headers.get("idempotency-key")).toBeNull();
    resumed.push(startFrame({ seq: 1, resumed: true }) + done(2));
    await finished;
    server.stream().push(startFrame() + done(1));
    await client.start("/api/chat", { q: 2 });
    const next = server.requests[4]?.headers.get("idempotency-key");
    expect(next).toMatch(/^[0-9a-f-]{32,36}$/);
    expect(next).not.toBe(keys[0]);
  });

  test("an Idempotency-Key given in the headers option is kept", async () => {
    const { server, client } = setup({ batching: "none", headers: { "Idempotency-Key": "mine" } });
    server.stream().push(startFrame() + done(1));
    await client.start("/api/chat", {});
    expect(server.requests[0]?.headers.get("idempotency-key")).toBe("mine");
  });

  test("never re-sends the request without an id once the server answered", async () => {
    const { server, clock, client } = setup({ batching: "none" });
    const first = server.stream(); // answered, but no X-Agent-Stream-Id and no priming frame
    const finished = client.start("/api/chat", {});
    await settle();
    first.close();
    const final = await finished;
    await settle();
    expect(server.requests).toHaveLength(1);
    expect(clock.timers.size).toBe(0);
    expect(final).toMatchObject({ isDone: true, isStreaming: false, done: { synthetic: true, reason: "interrupted" } });
  });

  test("retries are bounded: after maxRetries a synthetic done, never an endless spinner", async () => {
    const { server, clock, first, finished } = await lostAfter({ retry: { maxRetries: 3 } });
    for (let i = 0; i < 3; i += 1) server.reject();
    first.fail(new TypeError("offline"));
    await settle();
    const delays: number[] = [];
    for (let i = 0; i < 3; i += 1) {
      const delay = clock.nextDelay() ?? -1;
      delays.push(delay);
      clock.advance(delay);
      await settle();
    }
    const final = await finished;
    expect(delays).toEqual([500, 1000, 2000]); // 0.5 x 1 s, 2 s, 4 s
    expect(server.requests.slice(1).every((r) => r.headers.get("last-event-id") === `${SID}:2`)).toBe(true);
    expect(final).toMatchObject({
      text: "ab",
      isDone: true,
      isStreaming: false,
      connection: "closed",
      done: { synthetic: true, reason: "interrupted" },
    });
    expect(final.failure?.message).toMatch(/gave up after 3 reconnection attempts/);
  });

  test.each([
    [404, "unknown-stream"],
    [410, "expired"],
  ])("a resume answered %i ends the run with a synthetic done and a ResumeError", async (status, code) => {
    const { server, clock, first, finished } = await lostAfter();
    server.status(status, `{"error": {"code": "${code}", "message": "gone", "earliest_id": "${SID}:7"}}`);
    first.close();
    await settle();
    clock.advance(clock.nextDelay() ?? 0);
    const final: ClientSnapshot = await finished;
    expect(server.requests).toHaveLength(2);
    expect(final.failure).toBeInstanceOf(ResumeError);
    expect(final.failure).toMatchObject({ code, status, lastEventId: `${SID}:2` });
    expect(final.done).toMatchObject({ synthetic: true, reason: "interrupted" });
  });

  test("dedupes by seq across a reconnect, and ignores unknown types", async () => {
    const { server, clock, first, finished } = await lostAfter();
    const second = server.stream();
    first.push(frame(3, "tool_use", { tool_name: "t", tool_use_id: "u" }));
    await settle();
    first.fail(new TypeError("reset"));
    await settle();
    clock.advance(clock.nextDelay() ?? 0);
    await settle();
    expect(server.requests[1]?.headers.get("last-event-id")).toBe(`${SID}:3`);
    second.push(
      startFrame({ seq: 3, resumed: true }) +
        tok(1, "a") +
        frame(3, "tool_use", { tool_name: "t", tool_use_id: "u" }) +
        frame(4, "x-future", { any: 1 }) +
        frame(5, "tool_result", { tool_name: "t", tool_use_id: "u", duration_ms: 3 }) +
        tok(6, "c") +
        done(7),
    );
    const final = await finished;
    expect(final.text).toBe("abc");
    expect(final.tools.map((tool) => tool.toolUseId)).toEqual(["u"]);
    expect(final.lastEventId).toBe(`${SID}:7`);
  });
});

describe("AgentStreamClient: stop, reset, visibility", () => {
  test("stop aborts the fetch and POSTs stop_url with the same headers", async () => {
    const { server, client } = setup({ headers: { Authorization: "Bearer x" }, batching: "none" });
    const body = server.stream();
    void client.start("https://example.com/api/chat", {});
    body.push(startFrame() + tok(1, "a"));
    await settle();
    server.status(200, '{"stopped": true}');
    await client.stop();
    const [chat, stop] = server.requests;
    expect(chat?.signal?.aborted).toBe(true);
    expect(stop).toMatchObject({ method: "POST", url: `https://example.com/api/streams/${SID}/stop` });
    expect(stop?.headers.get("authorization")).toBe("Bearer x");
    expect(client.getSnapshot()).toMatchObject({ isDone: true, isStreaming: false, done: { reason: "cancelled", synthetic: true } });
  });

  test("respond POSTs the pending request_id with the stream's headers and an Idempotency-Key, retried once on a network error", async () => {
    const { server, client } = setup({ headers: { Authorization: "Bearer x" }, batching: "none" });
    const body = server.stream();
    void client.start("https://example.com/api/chat", {});
    const ask = { request_id: "r1", prompt: "Which city?", choices: ["Lisbon", "Porto"], respond_url: `/api/streams/${SID}/respond` };
    body.push(startFrame() + frame(1, "input_required", ask));
    await settle();
    expect(client.getSnapshot().inputRequired?.request_id).toBe("r1");
    server.reject();
    server.status(200, '{"request_id": "r1", "status": "answered", "answer": "Porto"}');
    const reply = await respond(client, "Porto");
    expect(reply).toEqual({ request_id: "r1", status: "answered", answer: "Porto" });
    const [, lost, retried] = server.requests;
    expect(retried).toMatchObject({ method: "POST", url: `https://example.com/api/streams/${SID}/respond` });
    expect(JSON.parse(String(retried?.body))).toEqual({ request_id: "r1", answer: "Porto" });
    expect(retried?.headers.get("authorization")).toBe("Bearer x");
    const key = retried?.headers.get("idempotency-key");
    expect(key).toMatch(/^[0-9a-f-]{32,36}$/);
    expect(lost?.headers.get("idempotency-key")).toBe(key);
    body.push(frame(2, "input_response", { request_id: "r1", answer: "Porto" }));
    await settle();
    expect(client.getSnapshot()).toMatchObject({ inputRequired: null, answers: [{ request_id: "r1", status: "answered", answer: "Porto" }] });
  });

  test("respond surfaces 409 / 422 as HTTPStatusError and needs a pending question", async () => {
    const { server, client } = setup({ batching: "none" });
    await expect(respond(client, "x")).rejects.toMatchObject({ code: "no-input-required" });
    const body = server.stream();
    void client.start("https://example.com/api/chat", {});
    body.push(startFrame() + frame(1, "input_required", { request_id: "r1", prompt: "?", respond_url: "/respond" }));
    await settle();
    server.status(422, '{"error": {"code": "invalid-answer", "reason": "not one of the choices"}}');
    await expect(respond(client, "Braga")).rejects.toMatchObject({ status: 422 });
    server.status(200, '{"request_id": "r1", "status": "cancelled"}');
    expect(await respond(client, null, { cancel: true })).toEqual({ request_id: "r1", status: "cancelled" });
    expect(JSON.parse(String(server.requests.at(-1)?.body))).toEqual({ request_id: "r1", cancel: true });
  });

  test("reset goes back to the initial state", async () => {
    const { server, client } = setup({ batching: "none" });
    const body = server.stream();
    void client.start("/api/chat", {});
    body.push(startFrame() + tok(1, "a"));
    await settle();
    client.reset();
    expect(client.getSnapshot()).toMatchObject({ text: "", isStreaming: false, isDone: false, connection: "idle" });
    expect(server.requests[0]?.signal?.aborted).toBe(true);
  });

  test("a frozen server (no answer, no bytes): the run ends within the resume window plus one liveness deadline", async () => {
    const server = new FakeFetch();
    const clock = new FakeScheduler();
    let calls = 0;
    // the first request is answered; then the server freezes: requests get no answer at all
    const frozen: typeof fetch = (input, init) => (calls++ === 0 ? server.fetch(input, init) : new Promise<Response>(() => undefined));
    const client = new AgentStreamClient({ fetch: frozen, scheduler: clock, visibility: null, batching: "none" });
    const first = server.stream();
    const finished = client.start("/api/chat", {});
    first.push(startFrame({ heartbeatMs: 1000, resumeWindowMs: 2000 }) + tok(1, "a"));
    await settle();
    const frozenAt = clock.now();
    for (let i = 0; i < 100 && client.getSnapshot().connection !== "closed"; i += 1) {
      clock.advance(clock.nextDelay() ?? 100);
      await settle();
    }
    const final = await finished;
    expect(final.failure?.code).toBe("expired");
    expect(final).toMatchObject({ text: "a", isStreaming: false, done: { synthetic: true, reason: "interrupted" } });
    expect(clock.now() - frozenAt).toBeLessThanOrEqual(2000 + 3500);
    expect(clock.timers.size).toBe(0);
  });

  test("a page that becomes visible resumes a stalled connection at once", async () => {
    let state = "hidden";
    const listeners = new Set<() => void>();
    const visibility = {
      get visibilityState() {
        return state;
      },
      addEventListener: (_: "visibilitychange", fn: () => void) => listeners.add(fn),
      removeEventListener: (_: "visibilitychange", fn: () => void) => listeners.delete(fn),
    };
    const { server, clock, client } = setup({ batching: "none", visibility, liveness: false });
    const first = server.stream();
    void client.start("/api/chat", {});
    first.push(startFrame({ heartbeatMs: 1000 }) + tok(1, "a"));
    await settle();
    server.stream();
    clock.advance(60_000); // the laptop slept; no bytes, no error
    state = "visible";
    for (const fn of listeners) fn();
    await settle();
    expect(server.requests).toHaveLength(2);
    expect(server.requests[1]?.headers.get("last-event-id")).toBe(`${SID}:1`);
  });
});
