/**
 * A fetch whose event-stream body survives network drops: it keeps the server's SSE ids and, when
 * the connection breaks before the run ended, sends the same request again with `Last-Event-ID`
 * and continues the body where it stopped. What reads the body (AG-UI's SSE parser) sees one
 * unbroken stream.
 *
 * An agent-stream server sends one of its events as one or more SSE blocks and puts the event's
 * id on the last one; a drop inside such a group resumes from the previous id, which replays the
 * whole group. So blocks are passed on only once their group is complete (its id arrived), and a
 * partial group is dropped with the connection: nothing is delivered twice, nothing is lost.
 */
import { backoffDelayMs, createSSEDecoder, DEFAULT_RETRY_POLICY, type RetryPolicy } from "@agent-stream/client/core";

export type FetchFn = (url: string, init: RequestInit) => Promise<Response>;

export interface ResumeOptions {
  /** Retries allowed without progress, backoff bounds (defaults: @agent-stream/client's). */
  retry?: Partial<RetryPolicy> | undefined;
  /** Called with each id in force, e.g. to persist it for a later `connect()`. */
  onEventId?: ((eventId: string) => void) | undefined;
  /** For tests: the jitter source (default Math.random). */
  random?: (() => number) | undefined;
}

/** AG-UI events that end a run: a response that ends after one (its last event) is over. */
const TERMINAL = new Set(["RUN_FINISHED", "RUN_ERROR"]);
const encoder = new TextEncoder();

/** `transport` wrapped so that event-stream bodies resume after drops (see the module doc). */
export function resumingFetch(transport: FetchFn, options: ResumeOptions = {}): FetchFn {
  const policy: RetryPolicy = { ...DEFAULT_RETRY_POLICY, ...options.retry };
  const random = options.random ?? Math.random;
  return async (url, init) => {
    const first = await transport(url, init);
    const type = first.headers.get("content-type") ?? "";
    if (!first.ok || first.body === null || !type.startsWith("text/event-stream")) return first;
    const body = resumingBody(first, (lastEventId) => transport(url, withLastEventId(init, lastEventId)), {
      policy,
      random,
      signal: init.signal ?? null,
      onEventId: options.onEventId,
    });
    return new Response(body, { status: first.status, statusText: first.statusText, headers: first.headers });
  };
}

function withLastEventId(init: RequestInit, lastEventId: string): RequestInit {
  const headers = new Headers(init.headers);
  headers.set("Last-Event-ID", lastEventId);
  return { ...init, headers };
}

interface BodyOptions {
  policy: RetryPolicy;
  random: () => number;
  signal: AbortSignal | null;
  onEventId: ((eventId: string) => void) | undefined;
}

function resumingBody(
  first: Response,
  reconnect: (lastEventId: string) => Promise<Response>,
  { policy, random, signal, onEventId }: BodyOptions,
): ReadableStream<Uint8Array> {
  let reader: ReadableStreamDefaultReader<Uint8Array> | null = null;
  let cancelled = false;
  let lastEventId = "";
  let serverRetryMs: number | null = null;

  const setId = (id: string) => {
    if (id !== lastEventId) {
      lastEventId = id;
      onEventId?.(id);
    }
  };

  /**
   * Read one response to its end; true when it ended after a run's terminal event. Only its
   * end decides: a re-attach (`connect()`) replays a thread's stream, where a run that ended at
   * an interrupt is followed by the run its answer continued.
   */
  async function drain(response: Response, out: ReadableStreamDefaultController<Uint8Array>): Promise<boolean> {
    const decoder = createSSEDecoder();
    let group: string[] = [];
    let isOver = false;
    const take = (messages: ReturnType<typeof decoder.feed>) => {
      for (const message of messages) {
        const block = message.data
          .split("\n")
          .map((line) => `data: ${line}\n`)
          .join("");
        group.push(`${block}\n`);
        isOver = TERMINAL.has(eventType(message.data));
        // before the server named any id, nothing can be resumed: pass blocks on as they come
        if (message.hasOwnId || lastEventId === "") {
          out.enqueue(encoder.encode(group.join("")));
          group = [];
          if (message.hasOwnId) setId(message.id);
        }
      }
      // an id-only block (the priming block, or an event that maps to nothing) ends no group
      if (group.length === 0 && decoder.lastEventId !== "") setId(decoder.lastEventId);
      if (decoder.retry !== null) serverRetryMs = decoder.retry;
    };
    reader = (response.body as ReadableStream<Uint8Array>).getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        take(decoder.feed(value));
      }
      take(decoder.close());
      return isOver && group.length === 0;
    } catch (error) {
      if (isOver && group.length === 0) return true; // a drop after the run's end: nothing to resume
      throw error;
    } finally {
      reader.releaseLock();
      reader = null;
    }
  }

  return new ReadableStream<Uint8Array>({
    async start(out) {
      let response: Response | null = first;
      let failure: unknown = null;
      let failures = 0;
      for (;;) {
        const idBefore = lastEventId;
        if (response !== null) {
          try {
            if (await drain(response, out)) {
              out.close();
              return;
            }
            failure = new Error("the event stream ended before the run finished");
          } catch (error) {
            failure = error;
          }
        }
        if (cancelled) return;
        if (signal?.aborted === true || lastEventId === "") {
          out.error(signal?.aborted === true ? signal.reason : failure);
          return;
        }
        failures = response !== null && lastEventId !== idBefore ? 1 : failures + 1;
        if (failures > policy.maxRetries) {
          out.error(new Error(`gave up resuming after ${policy.maxRetries} retries without progress`, { cause: failure }));
          return;
        }
        response = null;
        try {
          await sleep(backoffDelayMs(policy, failures, serverRetryMs, random), signal);
          response = await reconnect(lastEventId);
        } catch (error) {
          if (cancelled) return;
          failure = error; // the network is still down (or the signal aborted: seen above)
          continue;
        }
        if (!response.ok) {
          out.error(await statusError(response));
          return;
        }
      }
    },
    async cancel(reason) {
      cancelled = true;
      await reader?.cancel(reason);
    },
  });
}

function eventType(data: string): string {
  try {
    const value: unknown = JSON.parse(data);
    if (typeof value === "object" && value !== null && "type" in value && typeof value.type === "string") {
      return value.type;
    }
  } catch {
    // not JSON: AG-UI's own parser reports it
  }
  return "";
}

async function statusError(response: Response): Promise<Error> {
  const text = await response.text().catch(() => "");
  return Object.assign(new Error(`HTTP ${response.status} on resume: ${text}`), { status: response.status });
}

function sleep(ms: number, signal: AbortSignal | null): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted === true) {
      reject(signal.reason);
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
