import { act, cleanup, render, screen } from "@testing-library/react";
import { StrictMode, useEffect, useRef } from "react";
import { afterEach, describe, expect, test } from "vitest";
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

  test("the result object is stable between renders that change nothing", async () => {
    const server = scriptedFetch();
    const seen: UseAgentStreamResult[] = [];
    const view = render(<View fetch={server.fetch} expose={(r) => seen.push(r)} />);
    view.rerender(<View fetch={server.fetch} expose={(r) => seen.push(r)} />);
    expect(seen.length).toBeGreaterThanOrEqual(2);
    expect(seen[seen.length - 1]).toBe(seen[0]);
    expect(seen[0]?.client.getSnapshot()).toBe(seen[0]?.client.getSnapshot());
  });
});
