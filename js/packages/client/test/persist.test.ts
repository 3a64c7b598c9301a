import { describe, expect, test } from "vitest";
import { AgentStreamClient, type AgentStreamClientOptions } from "../src/index";
import { type PersistStorage, sessionPersistence } from "../src/persist";
import { FakeFetch, FakeScheduler, frame, SID, settle, startFrame } from "./fakes";

const URL_ = "https://example.com/api/chat";
const KEY = "agent-stream:run";

class MemoryStorage implements PersistStorage {
  readonly items = new Map<string, string>();
  writes = 0;
  getItem(key: string): string | null {
    return this.items.get(key) ?? null;
  }
  setItem(key: string, value: string): void {
    this.writes += 1;
    this.items.set(key, value);
  }
  removeItem(key: string): void {
    this.items.delete(key);
  }
}

function page(storage: MemoryStorage, options: AgentStreamClientOptions = {}) {
  const clock = new FakeScheduler();
  const server = new FakeFetch();
  const client = new AgentStreamClient({ fetch: server.fetch, scheduler: clock, visibility: null, batching: "none", persist: sessionPersistence({ storage }), ...options });
  return { clock, server, client };
}

const tok = (seq: number, text: string) => frame(seq, "token", { text });
const events = [
  tok(1, "Hel"),
  frame(2, "tool_use", { tool_name: "search", tool_use_id: "t1" }),
  frame(3, "progress", { percentage: 50, message: "half" }),
  frame(4, "thinking", { text: "hmm" }),
  frame(5, "input_required", { request_id: "q1", prompt: "which?", choices: ["a", "b"] }),
  tok(6, "lo"),
];
const done = frame(7, "done", { reason: "completed" });

describe("persist: a reload re-attaches to the run", () => {
  test("the start event stores stream id, resume URL and last event id; reattach replays from <sid>:0", async () => {
    const storage = new MemoryStorage();
    const first = page(storage);
    const body = first.server.stream();
    void first.client.start(URL_, { message: "hi" });
    body.push(startFrame() + events.join(""));
    await settle();
    expect(JSON.parse(storage.getItem(KEY) ?? "")).toEqual({
      streamId: SID,
      resumeUrl: `https://example.com/api/streams/${SID}`,
      lastEventId: `${SID}:6`,
    });
    const before = first.client.getSnapshot();
    first.client.abort(); // the page goes away: nothing forgets the run

    const second = page(storage);
    const replay = second.server.stream();
    const finished = second.client.reattach();
    expect(finished).not.toBeNull();
    replay.push(startFrame({ resumed: true }) + events.join(""));
    await settle();
    const after = second.client.getSnapshot();
    for (const field of ["text", "thinking", "tools", "activeTools", "progress", "inputRequired", "streamId", "lastEventId"] as const) {
      expect(after[field]).toEqual(before[field]);
    }
    expect(after).toMatchObject({ text: "Hello", isStreaming: true, connection: "streaming" });
    const [request] = second.server.requests;
    expect(request).toMatchObject({ method: "GET", url: `https://example.com/api/streams/${SID}`, body: undefined });
    expect(request?.headers.get("last-event-id")).toBe(`${SID}:0`);
    // then it follows live
    replay.push(done);
    const final = await finished;
    expect(final).toMatchObject({ isDone: true, text: "Hello", connection: "closed" });
    expect(final?.done?.synthetic).toBeUndefined();
  });

  test("a run that ended shows its final state after a reload and does not reconnect", async () => {
    const storage = new MemoryStorage();
    storage.setItem(KEY, JSON.stringify({ streamId: SID, resumeUrl: `https://example.com/api/streams/${SID}`, lastEventId: `${SID}:7` }));
    const { server, client, clock } = page(storage);
    const replay = server.stream();
    const finished = client.reattach();
    replay.push(startFrame({ resumed: true }) + events.join("") + done);
    replay.close();
    const final = await finished;
    expect(final).toMatchObject({ isDone: true, text: "Hello", failure: null });
    clock.advance(60_000);
    await settle();
    expect(server.requests).toHaveLength(1);
    expect(client.isActive).toBe(false);
  });

  test("a run the server forgot (404) is forgotten too: initial state, nothing stored", async () => {
    const storage = new MemoryStorage();
    storage.setItem(KEY, JSON.stringify({ streamId: SID, resumeUrl: `https://example.com/api/streams/${SID}`, lastEventId: null }));
    const { server, client } = page(storage);
    server.status(404, JSON.stringify({ error: { code: "unknown-stream", message: "no stream" } }), { "content-type": "application/json" });
    const final = await client.reattach();
    expect(final).toMatchObject({ text: "", isDone: false, isStreaming: false, failure: null, connection: "idle" });
    expect(storage.getItem(KEY)).toBeNull();
  });

  test("nothing stored, no persist option, or a run going: reattach does nothing", async () => {
    const storage = new MemoryStorage();
    expect(page(storage).client.reattach()).toBeNull();
    storage.setItem(KEY, JSON.stringify({ streamId: SID, resumeUrl: "https://example.com/x", lastEventId: null }));
    expect(page(storage, { persist: null }).client.reattach()).toBeNull();
    storage.setItem(KEY, "{not json");
    expect(page(storage).client.reattach()).toBeNull();
    const { server, client } = page(storage);
    server.stream();
    void client.start(URL_, {});
    expect(storage.getItem(KEY)).toBeNull(); // a new start forgets the old run at once
    storage.setItem(KEY, JSON.stringify({ streamId: SID, resumeUrl: "https://example.com/x", lastEventId: null }));
    expect(client.reattach()).toBeNull();
    expect(server.requests).toHaveLength(1);
  });

  test("reset() forgets the run; a custom key keeps clients apart", async () => {
    const storage = new MemoryStorage();
    const { server, client } = page(storage, { persist: sessionPersistence({ storage, key: "chat-2" }) });
    const body = server.stream();
    void client.start(URL_, {});
    body.push(startFrame());
    await settle();
    expect(storage.getItem("chat-2")).not.toBeNull();
    expect(storage.getItem(KEY)).toBeNull();
    client.reset();
    expect(storage.getItem("chat-2")).toBeNull();
  });

  test("storage that throws never breaks the run", async () => {
    const storage = new MemoryStorage();
    storage.setItem = () => {
      throw new Error("QuotaExceededError");
    };
    const { server, client } = page(storage);
    const body = server.stream();
    const finished = client.start(URL_, {});
    body.push(startFrame() + tok(1, "ok") + done);
    expect(await finished).toMatchObject({ text: "ok", isDone: true });
  });
});
