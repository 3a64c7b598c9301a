import { act, cleanup, render, screen } from "@testing-library/react";
import { StrictMode, useEffect, useRef } from "react";
import { afterEach, describe, expect, test } from "vitest";
import { sessionPersistence } from "@agent-stream/client/persist";
import { shareAcrossTabs, type TabSharedFetch } from "@agent-stream/client/tabs";
import { FakeChannels, FakeLocks } from "../../client/test/tab-fakes";
import { useAgentStream, type UseAgentStreamResult } from "../src/index";

const SID = "BBBBBBBBBBBBBBBBBBBBBB";
const encoder = new TextEncoder();

/** fetch whose responses stream frames the test pushes; records requests. */
function scriptedFetch() {
  const requests: { url: string; init: RequestInit | undefined }[] = [];
  const bodies: ReadableStreamDefaultController<Uint8Array>[] = [];
  const fetch: typeof globalThis.fetch = async (input, init) => {
    requests.push({ url: String(input), init });
    const stream = new ReadableStream<Uint8Array>({ start: (controller) => void bodies.push(controller) });
    return new Response(stream, { headers: { "Content-Type": "text/event-stream" } });
  };
  const push = (index: number, text: string) => bodies[index]?.enqueue(encoder.encode(text));
  return { fetch, requests, push };
}

const frame = (seq: number, type: string, data: unknown) => `id: ${SID}:${seq}\nevent: ${type}\ndata: ${JSON.stringify(data)}\n\n`;
const start = `id: ${SID}:0\nretry: 1000\nevent: start\ndata: ${JSON.stringify({ stream_id: SID, heartbeat_ms: 15000, stop_url: `/api/streams/${SID}/stop` })}\n\n`;

async function flush() {
  await act(async () => {
    for (let i = 0; i < 5; i += 1) await new Promise((resolve) => setTimeout(resolve, 0));
  });
}

afterEach(cleanup);

function View({ fetch, autostart, expose }: { fetch: typeof globalThis.fetch; autostart?: boolean; expose?: (r: UseAgentStreamResult) => void }) {
  const stream = useAgentStream({ url: "/api/chat", fetch, batching: "none", visibility: null });
  expose?.(stream);
  // like the demo page: an autostart effect guarded by a ref (StrictMode runs effects twice)
  const started = useRef(false);
  useEffect(() => {
    if (!autostart || started.current) return;
    started.current = true;
    void stream.startStream({ message: "hi" });
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);
  return (
    <div>
      <span data-testid="text">{stream.text}</span>
      <span data-testid="status">{stream.isDone ? "done" : stream.isStreaming ? "streaming" : "idle"}</span>
      <button type="button" onClick={() => void stream.startStream({ message: "go" })}>
        send
      </button>
    </div>
  );
}

describe("useAgentStream", () => {
  test("under StrictMode a user-started run opens one connection and text is not doubled", async () => {
    const server = scriptedFetch();
    render(
      <StrictMode>
        <View fetch={server.fetch} />
      </StrictMode>,
    );
    expect(server.requests).toHaveLength(0); // nothing starts by itself
    await act(async () => screen.getByText("send").click());
    await flush();
    expect(server.requests).toHaveLength(1);
    act(() => server.push(0, start + frame(1, "token", { text: "Hi " }) + frame(2, "token", { text: "there" })));
    await flush();
    expect(screen.getByTestId("text").textContent).toBe("Hi there");
    act(() => server.push(0, frame(3, "done", {})));
    await flush();
    expect(screen.getByTestId("status").textContent).toBe("done");
    expect(server.requests).toHaveLength(1);
  });

  test("an autostart effect under StrictMode starts one run that survives the double effects", async () => {
    const server = scriptedFetch();
    render(
      <StrictMode>
        <View fetch={server.fetch} autostart />
      </StrictMode>,
    );
    await flush();
    expect(server.requests).toHaveLength(1);
    expect(server.requests[0]?.init?.signal?.aborted).toBe(false);
    act(() => server.push(0, start + frame(1, "token", { text: "ok" }) + frame(2, "done", {})));
    await flush();
    expect(screen.getByTestId("text").textContent).toBe("ok");
    expect(screen.getByTestId("status").textContent).toBe("done");
  });

  test("unmount aborts the connection", async () => {
    const server = scriptedFetch();
    const view = render(
      <StrictMode>
        <View fetch={server.fetch} autostart />
      </StrictMode>,
    );
    await flush();
    act(() => server.push(0, start + frame(1, "token", { text: "x" })));
    await flush();
    view.unmount();
    await flush();
    expect(server.requests[0]?.init?.signal?.aborted).toBe(true);
  });

  test("an event over the size the start announces ends the run: isDone, not streaming, error set", async () => {
    const server = scriptedFetch();
    let api: UseAgentStreamResult | null = null;
    render(<View fetch={server.fetch} autostart expose={(r) => (api = r)} />);
    await flush();
    const announcing = start.replace('"heartbeat_ms"', '"max_event_bytes":1000,"heartbeat_ms"');
    act(() => server.push(0, announcing + frame(1, "token", { text: "a" }) + frame(2, "token", { text: "x".repeat(5000) })));
    await flush();
    const result = api as unknown as UseAgentStreamResult;
    expect([result.text, result.isDone, result.isStreaming]).toEqual(["a", true, false]);
    expect(result.error?.error_type).toBe("event-too-large");
    expect(server.requests).toHaveLength(1);
    expect(screen.getByTestId("status").textContent).toBe("done");
  });

  test("the result object is stable between renders that change nothing", async () => {
    const server = scriptedFetch();
    const seen: UseAgentStreamResult[] = [];
    const view = render(<View fetch={server.fetch} expose={(r) => seen.push(r)} />);
    view.rerender(<View fetch={server.fetch} expose={(r) => seen.push(r)} />);
    expect(seen.length).toBeGreaterThanOrEqual(2);
    expect(seen[seen.length - 1]).toBe(seen[0]);
    expect(seen[0]?.client.getSnapshot()).toBe(seen[0]?.client.getSnapshot());
  });

  test("agent-stream 0.1's form: useAgentStream() and startStream('/chat', { message }) posts the message to /chat", async () => {
    const server = scriptedFetch();
    let api: unknown = null;
    function Legacy() {
      const stream = useAgentStream({ fetch: server.fetch, batching: "none", visibility: null });
      api = stream;
      return <span data-testid="text">{stream.text}</span>;
    }
    render(<Legacy />);
    await act(async () => {
      void (api as unknown as { startStream: (url: string, body: unknown) => Promise<unknown> }).startStream("/chat", { message: "hi" });
    });
    await flush();
    expect(server.requests).toHaveLength(1);
    expect(server.requests[0]?.url).toMatch(/\/chat$/);
    expect(JSON.parse(String(server.requests[0]?.init?.body))).toEqual({ message: "hi" });
    server.push(0, start + frame(1, "token", { text: "Hello" }));
    await flush();
    expect(screen.getByTestId("text").textContent).toBe("Hello");
  });

  test("with { url }, two arguments name another endpoint and one argument is the body", async () => {
    const server = scriptedFetch();
    let api: UseAgentStreamResult | null = null;
    render(<View fetch={server.fetch} expose={(r) => (api = r)} />);
    await act(async () => {
      void api?.startStream({ message: "one" });
    });
    await act(async () => {
      void api?.startStream("/other", { message: "two" });
    });
    await flush();
    expect(server.requests.map((r) => new URL(r.url, "http://x").pathname)).toEqual(["/api/chat", "/other"]);
    expect(server.requests.map((r) => JSON.parse(String(r.init?.body)))).toEqual([{ message: "one" }, { message: "two" }]);
  });

  test("without a url, startStream(body) fails with a UsageError naming the fix", async () => {
    const server = scriptedFetch();
    let api: { startStream: (body: unknown) => Promise<unknown> } | null = null;
    function Legacy() {
      const stream = useAgentStream({ fetch: server.fetch, batching: "none", visibility: null });
      api = stream as never;
      return null;
    }
    render(<Legacy />);
    expect(() => api?.startStream({ message: "hi" })).toThrow(/startStream\(url, body\)/);
    expect(server.requests).toHaveLength(0);
  });
});

describe("useAgentStream({ persist }): a reload re-attaches on mount", () => {
  function Persisted({ fetch, storage }: { fetch: typeof globalThis.fetch; storage: Map<string, string> }) {
    const stream = useAgentStream({
      url: "/api/chat",
      fetch,
      batching: "none",
      visibility: null,
      persist: sessionPersistence({
        storage: { getItem: (k) => storage.get(k) ?? null, setItem: (k, v) => void storage.set(k, v), removeItem: (k) => void storage.delete(k) },
      }),
    });
    return (
      <div>
        <span data-testid="text">{stream.text}</span>
        <button type="button" onClick={() => void stream.startStream({ message: "go" })}>
          send
        </button>
      </div>
    );
  }
  const withResume = `id: ${SID}:0\nevent: start\ndata: ${JSON.stringify({ stream_id: SID, heartbeat_ms: 15000, resume_url: `/api/streams/${SID}` })}\n\n`;

  test("the second mount (StrictMode) GETs the resume route from <sid>:0 once and rebuilds the text", async () => {
    const storage = new Map<string, string>();
    const first = scriptedFetch();
    const view = render(<Persisted fetch={first.fetch} storage={storage} />);
    await act(async () => screen.getByText("send").click());
    first.push(0, withResume + frame(1, "token", { text: "Hel" }) + frame(2, "token", { text: "lo" }));
    await flush();
    expect(screen.getByTestId("text").textContent).toBe("Hello");
    view.unmount(); // the reload

    const second = scriptedFetch();
    render(
      <StrictMode>
        <Persisted fetch={second.fetch} storage={storage} />
      </StrictMode>,
    );
    await flush();
    expect(second.requests).toHaveLength(1);
    const [request] = second.requests;
    expect(request?.url).toMatch(new RegExp(`/api/streams/${SID}$`));
    expect(request?.init?.method).toBe("GET");
    expect(new Headers(request?.init?.headers).get("last-event-id")).toBe(`${SID}:0`);
    second.push(0, withResume + frame(1, "token", { text: "Hel" }) + frame(2, "token", { text: "lo" }) + frame(3, "token", { text: "!" }));
    await flush();
    expect(screen.getByTestId("text").textContent).toBe("Hello!");
  });

  test("without persist, a mount sends nothing", async () => {
    const { fetch, requests } = scriptedFetch();
    render(<View fetch={fetch} />);
    await flush();
    expect(requests).toHaveLength(0);
  });
});

describe("useAgentStream({ shareAcrossTabs }): the tabs of a browser share a run's connection", () => {
  function Tab({ shared, storage, testId }: { shared: TabSharedFetch; storage: Map<string, string>; testId: string }) {
    const stream = useAgentStream({
      url: "/api/chat",
      batching: "none",
      visibility: null,
      persist: sessionPersistence({
        storage: { getItem: (k) => storage.get(k) ?? null, setItem: (k, v) => void storage.set(k, v), removeItem: (k) => void storage.delete(k) },
      }),
      shareAcrossTabs: shared,
    });
    return (
      <div>
        <span data-testid={testId}>{stream.text}</span>
        <button type="button" onClick={() => void stream.startStream({ message: "go" })}>
          send {testId}
        </button>
      </div>
    );
  }

  test("a second tab re-attaches to the run and follows the first one's connection", async () => {
    const requests: string[] = [];
    const bodies: ReadableStreamDefaultController<Uint8Array>[] = [];
    const network: typeof globalThis.fetch = async (input, init) => {
      requests.push(`${init?.method ?? "GET"} ${String(input)}`);
      const stream = new ReadableStream<Uint8Array>({ start: (controller) => void bodies.push(controller) });
      return new Response(stream, { headers: { "Content-Type": "text/event-stream", "X-Agent-Stream-Id": SID } });
    };
    const locks = new FakeLocks();
    const channels = new FakeChannels();
    const storage = new Map<string, string>();
    const tab = (name: string) => shareAcrossTabs({ fetch: network, locks: locks.forTab(name), channel: channels.create });
    const [one, two] = [tab("one"), tab("two")];
    const start = `id: ${SID}:0\nevent: start\ndata: ${JSON.stringify({ stream_id: SID, heartbeat_ms: 15000, resume_url: `https://example.com/api/streams/${SID}` })}\n\n`;

    render(<Tab shared={one} storage={storage} testId="one" />);
    await act(async () => screen.getByText("send one").click());
    bodies[0]?.enqueue(encoder.encode(start + frame(1, "token", { text: "Hel" })));
    await flush();
    render(<Tab shared={two} storage={storage} testId="two" />); // mounts: re-attaches, follows tab one
    await flush();
    expect(screen.getByTestId("two").textContent).toBe("Hel");
    bodies[0]?.enqueue(encoder.encode(frame(2, "token", { text: "lo" }) + frame(3, "done", { reason: "completed" })));
    await flush();
    expect(screen.getByTestId("one").textContent).toBe("Hello");
    expect(screen.getByTestId("two").textContent).toBe("Hello");
    expect(requests).toEqual(["POST /api/chat"]);
    expect(one.role(SID)).toBe("leader");
    one.close();
    two.close();
  });

  test("fetch and shareAcrossTabs together: the error names the fix", () => {
    const shared = shareAcrossTabs({ locks: null });
    function Both() {
      useAgentStream({ url: "/api/chat", fetch: globalThis.fetch, shareAcrossTabs: shared });
      return null;
    }
    expect(() => render(<Both />)).toThrow(/shareAcrossTabs\(\{ fetch \}\)/);
  });
});
