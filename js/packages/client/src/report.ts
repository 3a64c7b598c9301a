/**
 * Client reports: tell the server that this client ended a stream with a synthetic `done`.
 *
 * One small POST to the `report_url` the stream's `start` named, with the stream's own headers
 * (the server checks the owner), `keepalive` so it survives a page being closed; never retried,
 * never thrown.
 */

/**
 * POST one report (why the client gave up: the failure's stable code; the highest seq it had,
 * -1 for none; failed attempts since the last progress). Never rejects: a failure resolves
 * `null`. Fire and forget: nothing waits for it, so it needs no timeout of its own.
 */
export function sendReport(
  fetchFn: typeof fetch,
  url: string,
  headers: HeadersInit,
  reason: string,
  lastSeq: number,
  attempts: number,
): Promise<unknown> {
  // a JSON body the server reads whatever its Content-Type, so the stream's headers go as they are
  const body = JSON.stringify({ reason, last_seq: lastSeq, attempts });
  return fetchFn(url, { method: "POST", headers, body, keepalive: true }).catch(() => null);
}
