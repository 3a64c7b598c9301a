import { describe, expect, test } from "vitest";
import { AgentStreamClient, type ClientSnapshot } from "../src/index";
import { type PersistStorage, sessionPersistence } from "../src/persist";
import { channelLocks, shareAcrossTabs, type TabChannel, type TabRole } from "../src/tabs";
import { FakeFetch, FakeScheduler, frame, SID, startFrame } from "./fakes";
import { FakeChannels, FakeLocks, untilMs } from "./tab-fakes";

const URL_ = "https://example.com/api/chat";
const TEST_TIMING = { claimMs: 100, retryMs: 1_000 };
const RESUME = `https://example.com/api/streams/${SID}`;
const tok = (seq: number, text: string) => frame(seq, "token", { text });
const EVENTS = [
  tok(1, "Hel"),
  frame(2, "tool_use", { tool_name: "search", tool_use_id: "t1" }),
  frame(3, "thinking", { text: "hmm" }),
  frame(4, "tool_result", { tool_name: "search", tool_use_id: "t1", output_summary: "3 hits" }),
  frame(5, "progress", { step: "search", percentage: 50, message: "half" }),
  tok(6, "lo "),
  tok(7, "world"),
  frame(8, "done", { reason: "completed" }),
];

class MemoryStorage implements PersistStorage {
  readonly items = new Map<string, string>();
  getItem = (key: string) => this.items.get(key) ?? null;
  setItem = (key: string, value: string) => void this.items.set(key, value);
  removeItem = (key: string) => void this.items.delete(key);
}

/** One browser: its tabs share locks, channels and localStorage; the server is one FakeFetch. */
function browser({ prompt = false } = {}) {
  const locks = new FakeLocks();
  const channels = new FakeChannels(prompt);
  const server = new FakeFetch();
  const storage = new MemoryStorage();
  const roles: [string, TabRole][] = [];
  const tab = (name: string, { shared = true, authorization = "", election = "web" as "web" | "channel" } = {}) => {
    const fetch = shareAcrossTabs({
      fetch: server.fetch,
      locks: !shared ? null : election === "web" ? locks.forTab(name) : channelLocks(channels.create, TEST_TIMING),
      channel: channels.create,
      keepMs: 60_000,
      onRole: (_, role) => roles.push([name, role]),
    });
    const clock = new FakeScheduler();
    const headers: Record<string, string> = authorization === "" ? {} : { Authorization: authorization };
    const client = new AgentStreamClient({ fetch, headers, scheduler: clock, visibility: null, batching: "none", liveness: false, persist: sessionPersistence({ storage }) });
    return {
      name,
      fetch,
      client,
      clock,
      /** The browser closes the tab: its locks go, its channels close, no code of it runs again. */
      close() {
        fetch.close();
        client.abort();
      },
    };
  };
  return { locks, channels, server, storage, roles, tab };
}

/** What the user sees: the folded state, without the transport's own counters. */
function view(snapshot: ClientSnapshot) {
  const { connection: _c, reconnects: _r, failure: _f, ...state } = snapshot;
  return state;
}

/** Wait (bounded) until `condition` holds, letting promise reactions and macrotasks run. */
async function until(condition: () => boolean, what: string, debug?: () => string): Promise<void> {
  for (let i = 0; i < 500; i += 1) {
    if (condition()) return;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  throw new Error(`timed out waiting for ${what}${debug ? `: ${debug()}` : ""}`);
}

/** The state of one uninterrupted single-tab run of EVENTS. */
async function reference() {
  const server = new FakeFetch();
  const client = new AgentStreamClient({ fetch: server.fetch, scheduler: new FakeScheduler(), visibility: null, batching: "none", liveness: false });
  const body = server.stream({ "x-agent-stream-id": SID });
  const finished = client.start(URL_, { message: "hi" });
  body.push(startFrame() + EVENTS.join(""));
  return view(await finished);
}

/** `reattach()` of a tab whose storage holds the run. */
function reattach(tab: { client: AgentStreamClient }): Promise<ClientSnapshot> {
  const finished = tab.client.reattach();
  if (finished === null) throw new Error("nothing to re-attach to");
  return finished;
}

const textOf = (tab: { client: AgentStreamClient }) => tab.client.getSnapshot().text;

describe("shareAcrossTabs: one connection per run per browser", () => {
  test("three tabs on one run: one request at the server, identical states equal to a single-tab run", async () => {
    const expected = await reference();
    const b = browser();
    const [a, c, d] = [b.tab("a"), b.tab("b"), b.tab("c")];
    const body = b.server.stream({ "x-agent-stream-id": SID });
    const finishedA = a.client.start(URL_, { message: "hi" });
    body.push(startFrame() + EVENTS.slice(0, 3).join(""));
    await until(() => a.fetch.role(SID) === "leader" && textOf(a) === "Hel", "tab a to lead");

    // the other tabs re-attach to the run the first one stored (localStorage): they follow it
    const finishedC = reattach(c);
    const finishedD = reattach(d);
    await until(() => textOf(c) === "Hel" && textOf(d) === "Hel", "the followers to sync");
    expect(c.fetch.role(SID)).toBe("follower");
    expect(d.fetch.role(SID)).toBe("follower");

    body.push(EVENTS.slice(3).join(""));
    const finals = await Promise.all([finishedA, finishedC, finishedD]);
    for (const snapshot of finals) expect(view(snapshot)).toEqual(expected);
    expect(b.server.requests.map((r) => `${r.method} ${r.url}`)).toEqual([`POST ${URL_}`]);
    for (const t of [a, c, d]) t.close();
  });

  test("the leading tab closes mid-run: the next tab resumes from its last event id at once, nothing lost or repeated", async () => {
    const expected = await reference();
    const b = browser();
    const [a, c, d] = [b.tab("a"), b.tab("b"), b.tab("c")];
    const body = b.server.stream({ "x-agent-stream-id": SID });
    void a.client.start(URL_, { message: "hi" });
    body.push(startFrame() + EVENTS.slice(0, 4).join(""));
    await until(() => a.fetch.role(SID) === "leader", "tab a to lead");
    const finishedC = reattach(c);
    const finishedD = reattach(d);
    await until(() => c.client.getSnapshot().lastEventId === `${SID}:4` && d.client.getSnapshot().lastEventId === `${SID}:4`, "followers at seq 4", () => JSON.stringify([c.client.getSnapshot(), d.client.getSnapshot()]));

    const resumed = b.server.stream({ "x-agent-stream-id": SID });
    a.close();
    await until(() => b.server.requests.length === 2, "the new leader's resume");
    const resume = b.server.requests[1];
    expect(resume?.method).toBe("GET");
    expect(resume?.url).toBe(RESUME);
    expect(resume?.headers.get("last-event-id")).toBe(`${SID}:4`);
    const leaders = [c, d].filter((t) => t.fetch.role(SID) === "leader");
    expect(leaders).toHaveLength(1);
    expect(b.locks.held.get(`agent-stream:${SID}`)).toBe(leaders[0]?.name);

    // the server replays what came after 4 (its priming frame repeats the cursor), then goes on
    resumed.push(startFrame({ seq: 4, resumed: true }) + EVENTS.slice(4).join(""));
    const finals = await Promise.all([finishedC, finishedD]);
    for (const snapshot of finals) expect(view(snapshot)).toEqual(expected);
    expect(b.server.requests).toHaveLength(2);
    c.close();
    d.close();
  });

  test("a tab that joins late gets the events so far from the leader, not from the server", async () => {
    const b = browser();
    const [a, late] = [b.tab("a"), b.tab("late")];
    const body = b.server.stream({ "x-agent-stream-id": SID });
    const finishedA = a.client.start(URL_, { message: "hi" });
    body.push(startFrame() + EVENTS.slice(0, 6).join(""));
    await until(() => textOf(a) === "Hello ", "tab a's text");
    const finishedLate = reattach(late);
    await until(() => textOf(late) === "Hello ", "the late tab's sync");
    expect(late.client.getSnapshot().tools).toEqual(a.client.getSnapshot().tools);
    body.push(EVENTS.slice(6).join(""));
    const [final, lateFinal] = await Promise.all([finishedA, finishedLate]);
    expect(view(lateFinal)).toEqual(view(final));
    expect(b.server.requests).toHaveLength(1);
    a.close();
    late.close();
  });

  test("after done the leading tab keeps the run's events: a tab that opens it then asks the server nothing", async () => {
    const b = browser();
    const [a, late] = [b.tab("a"), b.tab("late")];
    const body = b.server.stream({ "x-agent-stream-id": SID });
    const finished = a.client.start(URL_, { message: "hi" });
    body.push(startFrame() + EVENTS.join(""));
    body.close();
    const final = await finished;
    expect(a.fetch.role(SID)).toBe("leader");
    expect(view(await reattach(late))).toEqual(view(final));
    expect(b.server.requests).toHaveLength(1);
    a.close();
    late.close();
  });

  test("the leader's connection drops: another tab leads at once and the old leader follows it", async () => {
    const expected = await reference();
    const b = browser();
    const [a, c] = [b.tab("a"), b.tab("b")];
    const body = b.server.stream({ "x-agent-stream-id": SID });
    const finishedA = a.client.start(URL_, { message: "hi" });
    body.push(startFrame() + EVENTS.slice(0, 2).join(""));
    await until(() => a.fetch.role(SID) === "leader", "tab a to lead");
    const finishedC = reattach(c);
    await until(() => c.client.getSnapshot().lastEventId === `${SID}:2`, "tab b to follow");

    const takeover = b.server.stream({ "x-agent-stream-id": SID });
    body.fail(new TypeError("network error"));
    await until(() => c.fetch.role(SID) === "leader" && b.server.requests.length === 2, "tab b to lead");
    expect(b.server.requests[1]?.headers.get("last-event-id")).toBe(`${SID}:2`);
    takeover.push(startFrame({ seq: 2, resumed: true }) + EVENTS.slice(2, 5).join(""));
    await until(() => c.client.getSnapshot().lastEventId === `${SID}:5`, "tab b at seq 5", () => JSON.stringify([c.client.getSnapshot(), c.client.getSnapshot().connection, b.server.requests.length, b.roles]));

    // tab a's client retries after its backoff: the run has a leader, so it follows
    expect(a.client.getSnapshot().connection).toBe("reconnecting");
    a.clock.advance(30_000);
    await until(() => a.fetch.role(SID) === "follower" || b.server.requests.length > 2, "tab a's retry");
    expect(a.fetch.role(SID)).toBe("follower");
    takeover.push(EVENTS.slice(5).join(""));
    const finals = await Promise.all([finishedA, finishedC]);
    for (const snapshot of finals) expect(view(snapshot)).toEqual(expected);
    expect(b.server.requests).toHaveLength(2);
    a.close();
    c.close();
  });

  test("a follower that sees a gap in the broadcast asks the leader again: events in order, none lost", async () => {
    const b = browser();
    // the test is the leading tab: it holds the lock and speaks on the channel
    let release = () => {};
    void b.locks.forTab("leader").request(`agent-stream:${SID}`, {}, () => new Promise<void>((resolve) => (release = resolve)));
    const leader = b.channels.create(`agent-stream:${SID}`);
    const asked: unknown[] = [];
    const frames = [startFrame(), ...EVENTS].map((text, seq) => [seq, text] as [number, string]);
    leader.onmessage = ({ data }) => {
      const message = data as { t: string; from: string; after: number };
      if (message.t !== "sync") return;
      asked.push(message.after);
      // first answer: up to seq 2; the second: all it has past the follower's last seq
      const upTo = asked.length === 1 ? 2 : 5;
      leader.postMessage({ t: "frames", to: message.from, frames: frames.filter(([seq]) => seq > message.after && seq <= upTo) });
    };
    b.storage.setItem("agent-stream:run", JSON.stringify({ streamId: SID, resumeUrl: RESUME, lastEventId: null }));
    const follower = b.tab("f");
    const finished = reattach(follower);
    await until(() => follower.client.getSnapshot().lastEventId === `${SID}:2`, "the first sync");
    leader.postMessage({ t: "frames", frames: frames.slice(4, 5) }); // seq 4 without 3: a gap
    await until(() => asked.length === 2, "a second sync");
    expect(asked).toEqual([-1, 2]);
    await until(() => follower.client.getSnapshot().lastEventId === `${SID}:5`, "the second sync");
    leader.postMessage({ t: "frames", frames: frames.slice(5) });
    expect(view(await finished)).toEqual(await reference());
    expect(b.server.requests).toHaveLength(0);
    release();
    follower.close();
  });

  test("without Web Locks the tabs elect the leader over BroadcastChannel: one request, and the next tab takes over", async () => {
    const expected = await reference();
    const b = browser({ prompt: true });
    const [a, c, d] = [b.tab("a", { election: "channel" }), b.tab("b", { election: "channel" }), b.tab("c", { election: "channel" })];
    const body = b.server.stream({ "x-agent-stream-id": SID });
    void a.client.start(URL_, { message: "hi" });
    body.push(startFrame() + EVENTS.slice(0, 4).join(""));
    await untilMs(() => a.fetch.role(SID) === "leader" && textOf(a) === "Hel", "tab a to lead");
    const finishedC = reattach(c);
    const finishedD = reattach(d);
    await untilMs(() => c.fetch.role(SID) === "follower" && d.fetch.role(SID) === "follower", "two followers");
    await untilMs(() => c.client.getSnapshot().lastEventId === `${SID}:4` && d.client.getSnapshot().lastEventId === `${SID}:4`, "followers at seq 4");
    expect(b.server.requests).toHaveLength(1);

    const resumed = b.server.stream({ "x-agent-stream-id": SID });
    a.close(); // lets go of the lock: `free`, as on pagehide
    await untilMs(() => b.server.requests.length === 2, "the new leader's resume");
    expect(b.server.requests[1]?.headers.get("last-event-id")).toBe(`${SID}:4`);
    expect([c, d].filter((t) => t.fetch.role(SID) === "leader")).toHaveLength(1);
    resumed.push(startFrame({ seq: 4, resumed: true }) + EVENTS.slice(4).join(""));
    for (const snapshot of await Promise.all([finishedC, finishedD])) expect(view(snapshot)).toEqual(expected);
    expect(b.server.requests).toHaveLength(2);
    c.close();
    d.close();
  });

  test("channel locks: a holder that dies without a word loses the lock to a waiting tab's claim", async () => {
    const channels = new FakeChannels(true);
    const opened: TabChannel[] = [];
    const said: string[] = [];
    const spy = (who: string, keep: boolean) => (name: string) => {
      const channel = channels.create(name);
      if (keep) opened.push(channel);
      const post = channel.postMessage.bind(channel);
      channel.postMessage = (message: unknown) => {
        said.push(`${who} ${(message as { t: string }).t}`);
        post(message);
      };
      return channel;
    };
    const holder = channelLocks(spy("holder", true), TEST_TIMING);
    const waiter = channelLocks(spy("waiter", false), TEST_TIMING);
    let held = false;
    void holder.request("run", {}, () => {
      held = true;
      return new Promise<void>(() => undefined); // never lets go
    });
    await untilMs(() => held, "the first tab to hold the lock");
    expect(await waiter.request("run", { ifAvailable: true }, (lock) => lock)).toBeNull();
    let granted = false;
    void waiter.request("run", {}, () => {
      granted = true;
    });
    // the holder answers each claim: the waiter claims again a retry later, still without the lock
    await untilMs(() => said.filter((s) => s === "waiter claim").length >= 3, "the waiting tab's second claim");
    expect(granted).toBe(false);
    expect(said.filter((s) => s === "holder held").length).toBeGreaterThanOrEqual(2);
    for (const channel of opened) channel.close(); // the tab crashed: no `free`, no answers
    // within two retries: the claim then under way waits a retry for the holder it has heard
    await untilMs(() => granted, "the waiting tab's claim to win", 2 * TEST_TIMING.retryMs + 1_000);
  });

  test("locks: null shares nothing: each tab connects on its own", async () => {
    const b = browser();
    const [a, c] = [b.tab("a", { shared: false }), b.tab("b", { shared: false })];
    const body = b.server.stream({ "x-agent-stream-id": SID });
    void a.client.start(URL_, { message: "hi" });
    body.push(startFrame() + EVENTS.slice(0, 2).join(""));
    await until(() => textOf(a) === "Hel", "tab a's text");
    const own = b.server.stream({ "x-agent-stream-id": SID });
    const finishedC = reattach(c);
    own.push(startFrame() + EVENTS.join(""));
    expect((await finishedC).text).toBe("Hello world");
    expect(b.server.requests).toHaveLength(2);
    expect(a.fetch.role(SID)).toBeNull();
    a.close();
    c.close();
  });

  test("a tab with other credentials does not follow: the server checks its request", async () => {
    const b = browser();
    const [a, stranger] = [b.tab("a", { authorization: "Bearer alice" }), b.tab("s", { authorization: "Bearer mallory" })];
    const body = b.server.stream({ "x-agent-stream-id": SID });
    void a.client.start(URL_, { message: "hi" });
    body.push(startFrame() + EVENTS.slice(0, 2).join(""));
    await until(() => a.fetch.role(SID) === "leader" && textOf(a) === "Hel", "tab a to lead");
    b.server.status(404, JSON.stringify({ error: { code: "unknown-stream", message: "no such stream" } }), { "content-type": "application/json" });
    const refused = await reattach(stranger);
    expect(refused.text).toBe("");
    expect(b.server.requests.map((r) => r.headers.get("authorization"))).toEqual(["Bearer alice", "Bearer mallory"]);
    expect(stranger.fetch.role(SID)).toBeNull();
    a.close();
    stranger.close();
  });

  test("stop and respond go to the network from any tab", async () => {
    const b = browser();
    const [a, c] = [b.tab("a"), b.tab("b")];
    const body = b.server.stream({ "x-agent-stream-id": SID });
    void a.client.start(URL_, { message: "hi" });
    body.push(startFrame() + EVENTS.slice(0, 1).join(""));
    await until(() => a.fetch.role(SID) === "leader", "tab a to lead");
    void reattach(c);
    await until(() => textOf(c) === "Hel", "tab b to follow");
    b.server.status(202);
    await c.client.stop();
    expect(b.server.requests.map((r) => `${r.method} ${r.url}`)).toEqual([`POST ${URL_}`, `POST ${RESUME}/stop`]);
    a.close();
    c.close();
  });
});
