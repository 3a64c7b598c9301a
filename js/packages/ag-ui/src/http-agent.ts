/**
 * `ResumableHttpAgent`: `@ag-ui/client`'s `HttpAgent` for agent-stream servers. A run survives
 * network drops (it resumes with `Last-Event-ID`, never starting a second run), and `connect()`
 * re-attaches to the run a thread has in progress (`connectAgent()`), e.g. after a page reload.
 */
import {
  HttpAgent,
  type HttpAgentConfig,
  enforceOutgoingInput,
  runHttpRequest,
  transformHttpEventStream,
} from "@ag-ui/client";
import type { BaseEvent, RunAgentInput } from "@ag-ui/core";
import type { RetryPolicy } from "@agent-stream/client";
import type { Observable } from "rxjs";
import { type FetchFn, resumingFetch } from "./resuming-fetch.js";

export interface ResumableHttpAgentConfig extends HttpAgentConfig {
  /** Retries allowed without progress and backoff bounds (defaults: @agent-stream/client's). */
  retry?: Partial<RetryPolicy> | undefined;
  /** Where `connect()` re-attaches to a thread's run; default `<url>/<threadId>/stream`. */
  connectUrl?: ((threadId: string) => string) | undefined;
}

export class ResumableHttpAgent extends HttpAgent {
  /** The last event id the server sent (`<stream_id>:<seq>`), `""` before the first. */
  lastEventId = "";
  /** Where `connect()` re-attaches to a thread's run. */
  connectUrl: (threadId: string) => string;

  constructor(config: ResumableHttpAgentConfig) {
    super(config);
    const transport: FetchFn = this.fetch;
    this.fetch = resumingFetch(transport, {
      retry: config.retry,
      onEventId: (id) => {
        this.lastEventId = id;
      },
    });
    const base = config.url.replace(/\/+$/, "");
    this.connectUrl = config.connectUrl ?? ((threadId) => `${base}/${encodeURIComponent(threadId)}/stream`);
  }

  /**
   * Re-attach to the run in progress on `input.threadId`: its events from the start, then live.
   * Completes with no events when the thread has no run in progress (the server answers 204).
   */
  protected override connect(input: RunAgentInput): Observable<BaseEvent> {
    enforceOutgoingInput(input);
    const init: RequestInit = {
      method: "GET",
      headers: { ...this.headers, Accept: "text/event-stream" },
      signal: this.abortController.signal,
    };
    const url = this.connectUrl(input.threadId);
    const request = async () => {
      const response = await this.fetch(url, init);
      // nothing to re-attach to: an empty stream, so the agent completes without events
      if (response.status === 204) return new Response("", { headers: { "content-type": "text/event-stream" } });
      return response;
    };
    return transformHttpEventStream(runHttpRequest(request));
  }

  override clone(): ResumableHttpAgent {
    const cloned = super.clone() as ResumableHttpAgent;
    cloned.connectUrl = this.connectUrl;
    return cloned;
  }
}
