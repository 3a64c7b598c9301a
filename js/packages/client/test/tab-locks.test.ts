import { describe, expect, test } from "vitest";
import { channelLocks, type TabChannel, type TabLocks } from "../src/tabs";
import { FakeChannels, untilMs } from "./tab-fakes";

const TIMING = { claimMs: 50, retryMs: 500 };

/** Channels of a tab whose page is busy: what others post reaches it `delay.ms` late. */
function busyTab(channels: FakeChannels, delay: { ms: number }) {
  return (name: string): TabChannel => {
    const channel = channels.create(name);
    let handler: ((event: { data: unknown }) => void) | null = null;
    Object.defineProperty(channel, "onmessage", {
      get: () => (event: { data: unknown }) => {
        if (delay.ms === 0) handler?.(event);
        else setTimeout(() => handler?.(event), delay.ms);
      },
      set: (value: ((event: { data: unknown }) => void) | null) => {
        handler = value;
      },
    });
    return channel;
  };
}

/** Tabs taking turns on one lock: who holds it now, in what order they got it, the most at once. */
function turns() {
  const holding = new Set<string>();
  const order: string[] = [];
  let most = 0;
  const releases = new Map<string, () => void>();
  const request = (tab: string, locks: TabLocks, signal?: AbortSignal) =>
    locks.request("run", signal === undefined ? {} : { signal }, () => {
      holding.add(tab);
      order.push(tab);
      most = Math.max(most, holding.size);
      return new Promise<void>((resolve) => {
        releases.set(tab, () => {
          holding.delete(tab);
          resolve();
        });
      });
    });
  return { holding, order, request, release: (tab: string) => releases.get(tab)?.(), most: () => most };
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

describe("channelLocks: tabs that answer late", () => {
  test("the holder hands the lock to the tab that waited longest; a busy waiting tab never leads beside it", async () => {
    const channels = new FakeChannels(true);
    const busy = { ms: 0 };
    const [holder, first, late] = [channelLocks(channels.create, TIMING), channelLocks(channels.create, TIMING), channelLocks(busyTab(channels, busy), TIMING)];
    const t = turns();
    void t.request("holder", holder);
    await untilMs(() => t.holding.has("holder"), "the holder");
    void t.request("first", first);
    await sleep(TIMING.claimMs); // its claim answered: it waits first
    void t.request("late", late);
    await sleep(TIMING.claimMs);
    // the third tab's page is busy: the others' claims and answers reach it 3 claim windows late
    busy.ms = 3 * TIMING.claimMs;
    t.release("holder");
    await untilMs(() => t.holding.size > 0, "the next holder");
    await sleep(2 * TIMING.retryMs); // the busy tab's claims meet a holder it has heard of: it waits
    expect(t.order).toEqual(["holder", "first"]);
    t.release("first");
    await untilMs(() => t.holding.has("late"), "the busy tab's turn");
    expect(t.order).toEqual(["holder", "first", "late"]);
    expect(t.most()).toBe(1);
    t.release("late");
  });

  test("a waiting tab that has heard the holder keeps waiting while the holder is slow to answer", async () => {
    const channels = new FakeChannels(true);
    const busy = { ms: 0 };
    const [holder, waiter] = [channelLocks(busyTab(channels, busy), TIMING), channelLocks(channels.create, TIMING)];
    const t = turns();
    void t.request("holder", holder);
    await untilMs(() => t.holding.has("holder"), "the holder");
    void t.request("waiter", waiter);
    await sleep(TIMING.claimMs); // the first claim is answered at once
    busy.ms = 4 * TIMING.claimMs; // then the holder's page is busy: each answer comes 4 claim windows late
    await sleep(3 * TIMING.retryMs);
    expect(t.order).toEqual(["holder"]);
    busy.ms = 0;
    t.release("holder");
    await untilMs(() => t.holding.has("waiter"), "the waiter's turn");
    expect(t.most()).toBe(1);
    t.release("waiter");
  });

  test("a holder told that a waiting tab left (pagehide: `bye`) names the next one", async () => {
    const channels = new FakeChannels(true);
    const ids: string[] = [];
    const frees: unknown[] = [];
    const ear = channels.create("run|lock");
    ear.onmessage = (event) => {
      if ((event.data as { t: string }).t === "free") frees.push(event.data);
    };
    const spied = (name: string): TabChannel => {
      const channel = channels.create(name);
      const post = channel.postMessage.bind(channel);
      channel.postMessage = (message: unknown) => {
        const { t, id } = message as { t: string; id?: string };
        if (t === "claim" && id !== undefined && !ids.includes(id)) ids.push(id);
        post(message);
      };
      return channel;
    };
    const [holder, gone, next] = [channelLocks(channels.create, TIMING), channelLocks(spied, TIMING), channelLocks(spied, TIMING)];
    const t = turns();
    void t.request("holder", holder);
    await untilMs(() => t.holding.has("holder"), "the holder");
    const leaving = new AbortController();
    t.request("gone", gone, leaving.signal).catch(() => undefined);
    await untilMs(() => ids.length === 1, "the first waiting tab's claim");
    void t.request("next", next);
    await untilMs(() => ids.length === 2, "the second waiting tab's claim");
    await sleep(10);
    // the first waiting tab's page goes away: its channel says so and closes
    leaving.abort();
    channels.create("run|lock").postMessage({ t: "bye", id: ids[0] });
    await sleep(10);
    t.release("holder");
    await untilMs(() => t.holding.has("next"), "the next tab's turn");
    expect(frees).toEqual([{ t: "free", next: ids[1] }]); // named: it took the lock without a claim
    expect(t.order).toEqual(["holder", "next"]);
    t.release("next");
    ear.close();
  });
});
