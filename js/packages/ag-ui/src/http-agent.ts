/**
 * `ResumableHttpAgent`: `@ag-ui/client`'s `HttpAgent` for agent-stream servers. A run survives
 * network drops (it resumes with `Last-Event-ID`, never starting a second run), `connect()`
 * re-attaches to the run a thread has in progress (`connectAgent()`), e.g. after a page reload,
 * and `abortRun()` stops the run on the server too.
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
  /** Where `stopRun()` (and `abortRun()`) stops a thread's run; default `<url>/<threadId>/stop`. */
  stopUrl?: ((threadId: string) => string) | undefined;
}

export class ResumableHttpAgent extends HttpAgent {
  /** The last event id the server sent (`<stream_id>:<seq>`), `""` before the first. */
  lastEventId = "";
  /** Where `connect()` re-attaches to a thread's run. */
  connectUrl: (threadId: string) => string;
  /** Where `stopRun()` stops a thread's run. */
  stopUrl: (threadId: string) => string;
  /** The fetch without resume, for requests whose answer is not an event stream. */
  private readonly transport: FetchFn;

  constructor(config: ResumableHttpAgentConfig) {
    super(config);
    const transport: FetchFn = this.fetch;
    this.transport = transport;
    this.fetch = resumingFetch(transport, {
      retry: config.retry,
      onEventId: (id) => {
        this.lastEventId = id;
      },
    });
    const base = config.url.replace(/\/+$/, "");
    this.connectUrl = config.connectUrl ?? ((threadId) => `${base}/${encodeURIComponent(threadId)}/stream`);
    this.stopUrl = config.stopUrl ?? ((threadId) => `${base}/${encodeURIComponent(threadId)}/stop`);
  }

  /**
   * Disconnect, as `HttpAgent.abortRun()` does, and stop the thread's run on the server (its
   * agent is cancelled; a disconnect alone leaves it running for the server's resume grace
   * period). AG-UI's `abortRun()` returns nothing, so a failed stop is not reported here:
   * await `stopRun()` to know.
   */
  override abortRun(): void {
    super.abortRun();
    this.stopRun().catch(() => false);
  }

  /**
   * Stop the thread's run on the server (`POST <url>/<threadId>/stop`): true if a run was
   * stopped, false if the thread had none in progress. Rejects on a network error or an HTTP
   * error status.
   */
  async stopRun(): Promise<boolean> {
    const response = await this.transport(this.stopUrl(this.threadId), {
      method: "POST",
      headers: { ...this.headers },
    });
    if (!response.ok) throw new Error(`HTTP ${response.status} stopping thread ${this.threadId}: ${await response.text()}`);
    const answer: unknown = await response.json();
    return typeof answer === "object" && answer !== null && "stopped" in answer && answer.stopped === true;
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
    cloned.stopUrl = this.stopUrl;
    return cloned;
  }
}
