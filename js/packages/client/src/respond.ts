/**
 * Answering an agent's question (`input_required`) from the browser: `respond(client, answer)`.
 * Its own entry point (`@agent-stream/client/respond`): a client that never answers does not pay
 * for it.
 */
import type { AgentStreamClient } from "./client.js";
import { HTTPStatusError, UsageError } from "./errors.js";
import type { JSONValue } from "./generated/events.js";
import { newIdempotencyKey } from "./http.js";

/** Options of {@link respond}. */
export interface RespondOptions {
  /** POST here instead of the request's respond_url. */
  url?: string;
  /** Answer this request instead of the pending one. */
  requestId?: string;
  /** Decline the question instead of answering it (the agent gets a cancellation). */
  cancel?: boolean;
  /** Reuse a key to retry an answer safely (default: a fresh random key per call). */
  idempotencyKey?: string;
}

/** The server's 200 answer to {@link respond}. */
export interface RespondResult {
  readonly request_id: string;
  readonly status: "answered" | "cancelled";
  readonly answer?: JSONValue;
}

/**
 * Answer the client's pending `input_required`: POST `{request_id, answer}` (or `{request_id,
 * cancel: true}` with `{ cancel: true }`) as JSON to its respond_url (or `url`), with the client's
 * headers and an `Idempotency-Key`; a network failure is retried once with the same key. Resolves
 * to the server's 200 body; the stream then shows the `input_response`. Throws UsageError when
 * nothing is pending and HTTPStatusError for 400 or more (404 unknown, 409 already answered, 410
 * expired or closed, 422 refused: the body says why).
 */
export async function respond(client: AgentStreamClient, answer: unknown, options: RespondOptions = {}): Promise<RespondResult> {
  const request = client.getSnapshot().inputRequired;
  const requestId = options.requestId ?? request?.request_id;
  if (requestId === undefined) {
    throw new UsageError("respond() needs a pending input_required request; the stream has none", { code: "no-input-required" });
  }
  const target = options.url ?? request?.respond_url;
  if (target === undefined) {
    throw new UsageError("respond() needs a URL: the input_required event named none; pass { url }", { code: "no-respond-url" });
  }
  const url = client.resolve(target);
  const init = {
    method: "POST",
    headers: { "Content-Type": "application/json", "Idempotency-Key": options.idempotencyKey ?? newIdempotencyKey() },
    body: JSON.stringify(options.cancel === true ? { request_id: requestId, cancel: true } : { request_id: requestId, answer }),
  };
  let response: Response;
  try {
    response = await client.send(url, init);
  } catch {
    // the same Idempotency-Key: a repeat of an accepted answer gets its 200, not 409
    response = await client.send(url, init);
  }
  const text = await response.text().catch(() => "");
  if (response.status >= 400) {
    throw new HTTPStatusError(`POST ${url} answered ${response.status}: ${text.slice(0, 200)}`, { status: response.status, body: text, url });
  }
  return (text === "" ? { request_id: requestId, status: "answered" } : JSON.parse(text)) as RespondResult;
}
