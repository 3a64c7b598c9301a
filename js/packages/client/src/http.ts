/** HTTP helpers of the transport: the Idempotency-Key, URL resolution, status errors. */
import { HTTPStatusError, ResumeError, StoreUnavailableError, truncate } from "./errors.js";

export type HeadersLike = Headers | Record<string, string> | readonly (readonly [string, string])[];

/**
 * A fresh `Idempotency-Key`: `crypto.randomUUID()`, or 128 random bits from
 * `crypto.getRandomValues` where randomUUID is missing (pages served over plain http).
 */
export function newIdempotencyKey(): string {
  const crypto = globalThis.crypto as Partial<Crypto>;
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  return Array.from((crypto as Crypto).getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** `ref` resolved against the request URL (itself resolved against the page, when there is one). */
export function resolveUrl(ref: string, requestUrl: string): string {
  try {
    // the page's URL when there is a page (browsers, workers, Deno), else none
    return new URL(ref, new URL(requestUrl, (globalThis as { location?: { href: string } }).location?.href)).href;
  } catch {
    // a relative request URL outside a page: the server's paths are absolute paths, keep them
    return ref;
  }
}

interface ErrorBody {
  code?: unknown;
  message?: unknown;
  earliest_id?: unknown;
}

function errorBody(body: string): ErrorBody {
  try {
    // agent-stream's JSON error body: {"error": {"code", "message", ...}}
    const error: unknown = JSON.parse(body).error;
    if (typeof error === "object" && error !== null) return error as ErrorBody;
  } catch {
    // not JSON (or null): the raw text goes into the message
  }
  return {};
}

/** What the transport knows of an answer besides its status and headers. */
export interface AnswerInfo {
  method: string;
  url: string;
  statusText: string;
  body: string;
}

/** The typed error for an answer of 400 or more. `resumeFrom` is the Last-Event-ID sent, if any. */
export function statusError(
  status: number,
  headers: Headers,
  { method, url, statusText, body }: AnswerInfo,
  resumeFrom: string | null = null,
  retryAfterMs: number | null = null,
): HTTPStatusError | ResumeError | StoreUnavailableError {
  const detail = errorBody(body);
  const said = typeof detail.message === "string" ? detail.message : truncate(body, 200);
  if (resumeFrom !== null && (status === 400 || status === 404 || status === 410)) {
    const code = status === 400 ? "malformed-id" : status === 404 ? "unknown-stream" : "expired";
    return new ResumeError(`cannot resume from ${JSON.stringify(resumeFrom)}: ${status} (${code}): ${said}`, {
      code,
      status,
      lastEventId: resumeFrom,
      earliestId: typeof detail.earliest_id === "string" ? detail.earliest_id : null,
    });
  }
  if (status === 503 && detail.code === "store-unavailable") {
    return new StoreUnavailableError(`${method} ${url} answered ${status}: ${said}`, { retryAfterMs });
  }
  return new HTTPStatusError(`${method} ${url} answered ${status} ${statusText}: ${said}`.replace("  ", " "), {
    status,
    body,
    headers: Object.fromEntries(headers),
    url,
  });
}
