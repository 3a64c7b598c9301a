/**
 * Client reports: tell the server that this client ended a stream with a synthetic `done`.
 *
 * One small POST to the `report_url` the stream's `start` named, with the stream's own headers
 * (the server checks the owner), `keepalive` so it survives a page being closed; never retried,
 * never thrown.
 */

export interface ClientReport {
  /** Why the client gave up: the failure's stable code (e.g. `network`, `stream-expired`). */
  readonly reason: string;
  /** The highest seq the client received (-1 before any). */
  readonly lastSeq: number;
  /** Failed attempts since the last progress. */
  readonly attempts: number;
}

const REPORT_TIMEOUT_MS = 2_000;

/** POST one report; resolves `true` when the server took it, `false` on any failure. */
export async function sendReport(
  fetchFn: typeof fetch,
  url: string,
  headers: Headers,
  report: ClientReport,
): Promise<boolean> {
  headers.set("Content-Type", "application/json");
  headers.delete("Last-Event-ID");
  const body = JSON.stringify({
    reason: report.reason.slice(0, 64),
    last_seq: Math.max(report.lastSeq, 0),
    attempts: report.attempts,
  });
  try {
    const response = await fetchFn(url, {
      method: "POST",
      headers,
      body,
      keepalive: true,
      cache: "no-store",
      signal: AbortSignal.timeout(REPORT_TIMEOUT_MS),
    });
    return response.status < 300;
  } catch {
    return false;
  }
}
