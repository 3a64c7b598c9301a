import { describe, expect, test } from "vitest";
import { sendReport } from "../src/report.js";

describe("sendReport", () => {
  test("one POST of a small JSON body with the stream's headers, keepalive", async () => {
    const calls: { url: string; init: RequestInit }[] = [];
    const fetchFn = (async (url: string, init: RequestInit) => {
      calls.push({ url, init });
      return new Response(null, { status: 204 });
    }) as unknown as typeof fetch;
    const headers = new Headers({ Authorization: "Bearer a" });
    await sendReport(fetchFn, "http://h/api/streams/s/report", headers, "network", -1, 3);
    expect(calls).toHaveLength(1);
    const { url, init } = calls[0]!;
    expect(url).toBe("http://h/api/streams/s/report");
    expect(init.method).toBe("POST");
    expect(init.keepalive).toBe(true);
    const sent = new Headers(init.headers);
    expect(sent.get("authorization")).toBe("Bearer a");
    expect(JSON.parse(String(init.body))).toEqual({ reason: "network", last_seq: -1, attempts: 3 });
  });

  test("a failure is never thrown and not retried", async () => {
    let calls = 0;
    const rejecting = (async () => {
      calls += 1;
      throw new TypeError("network down");
    }) as unknown as typeof fetch;
    await expect(sendReport(rejecting, "http://h/r", new Headers(), "a", 1, 1)).resolves.toBeNull();
    const refusing = (async () => new Response("{}", { status: 404 })) as unknown as typeof fetch;
    await expect(sendReport(refusing, "http://h/r", new Headers(), "a", 1, 1)).resolves.toBeInstanceOf(Response);
    expect(calls).toBe(1);
  });
});
