/**
 * Event size limits against a real HTTP server (node:http on 127.0.0.1, read with the platform's
 * fetch) that does not enforce one (PROTOCOL 2.8): a 5 MB event over the client's limit ends the
 * run with a synthetic done, once, without a resume; the limit follows the start event's
 * max_event_bytes unless the client sets maxEventSize.
 */
import { once } from "node:events";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, expect, test } from "vitest";
import { AgentStreamClient } from "../src/index";

const SID = "CCCCCCCCCCCCCCCCCCCCCC";
const BIG = 5_000_000;
const frame = (seq: number, type: string, data: unknown) => `id: ${SID}:${seq}\nevent: ${type}\ndata: ${JSON.stringify(data)}\n\n`;

let server: Server;
let base = "";
let requests = 0;

beforeAll(async () => {
  server = createServer((request, response) => {
    requests += 1;
    const announced = new URL(request.url ?? "/", "http://x").searchParams.get("max");
    const start = { stream_id: SID, heartbeat_ms: 15000, ...(announced === null ? {} : { max_event_bytes: Number(announced) }) };
    response.writeHead(200, { "content-type": "text/event-stream" });
    response.write(`id: ${SID}:0\nretry: 1000\nevent: start\ndata: ${JSON.stringify(start)}\n\n`);
    response.write(frame(1, "token", { text: "a" }) + frame(2, "token", { text: "x".repeat(BIG) }));
    response.end(frame(3, "token", { text: "b" }) + frame(4, "done", {}));
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => {
  server.close();
});

async function run(query: string, maxEventSize?: number) {
  const before = requests;
  const client = new AgentStreamClient({ batching: "none", visibility: null, ...(maxEventSize === undefined ? {} : { maxEventSize }) });
  const snapshot = await client.start(`${base}/chat${query}`, { message: "hi" });
  return { snapshot, requests: requests - before };
}

test("an event over the default limit ends the run with a synthetic done, no resume", async () => {
  const { snapshot, requests } = await run("");
  expect(snapshot.text).toBe("a");
  expect([snapshot.isDone, snapshot.isStreaming, snapshot.connection]).toEqual([true, false, "closed"]);
  expect(snapshot.done).toMatchObject({ synthetic: true, reason: "error" });
  expect(snapshot.failure?.code).toBe("event-too-large");
  expect(snapshot.failure?.message).toContain("limit of 1048576 bytes (maxEventSize)");
  expect(snapshot.error?.error_type).toBe("event-too-large");
  expect(requests).toBe(1);
});

test("a client at its default takes the larger size the start event announces", async () => {
  const { snapshot } = await run(`?max=${8 << 20}`);
  expect(snapshot.text.length).toBe(BIG + 2);
  expect(snapshot.failure).toBeNull();
  expect(snapshot.done?.synthetic).toBeUndefined();
});

test("maxEventSize wins over the announcement", async () => {
  const { snapshot, requests } = await run(`?max=${8 << 20}`, 1 << 20);
  expect(snapshot.text).toBe("a");
  expect(snapshot.failure?.code).toBe("event-too-large");
  expect(requests).toBe(1);
});

test.each([0, -1, 1.5, Number.NaN])("maxEventSize %s is refused when the run starts, before any request", (maxEventSize) => {
  const before = requests;
  const client = new AgentStreamClient({ visibility: null, maxEventSize });
  expect(() => client.start(`${base}/chat`, {})).toThrow(expect.objectContaining({ name: "UsageError", code: "invalid-option" }));
  expect(requests).toBe(before);
});
