import {
  AgentStreamClient,
  type AgentStreamClientOptions,
  type ClientSnapshot,
  type StreamCallbacks,
  UsageError,
} from "@agent-stream/client";
import { type RespondOptions, type RespondResult, respond } from "@agent-stream/client/respond";
import type { TabSharedFetch } from "@agent-stream/client/tabs";
import { useCallback, useEffect, useMemo, useRef, useState, useSyncExternalStore } from "react";

export interface UseAgentStreamOptions extends AgentStreamClientOptions {
  /** The stream endpoint `startStream` sends to (e.g. "/api/chat"). */
  url: string;
  /** Callbacks of every run started by this hook. */
  callbacks?: StreamCallbacks;
  /**
   * Share each run's connection with the other tabs of this origin: a `shareAcrossTabs()` from
   * `@agent-stream/client/tabs` (made once, e.g. at module scope). With `persist:
   * sessionPersistence({ storage: localStorage })` every tab re-attaches to the run and one of them
   * holds the connection. It is the client's fetch: give your own fetch to
   * `shareAcrossTabs({ fetch })`, not to this hook.
   */
  shareAcrossTabs?: TabSharedFetch;
}

/** Options of the hook without an endpoint: each `startStream(url, body)` names it (agent-stream 0.1's form). */
export type UseAgentStreamUrlFreeOptions = Omit<UseAgentStreamOptions, "url"> & { url?: undefined };

/**
 * `startStream` of a hook made with `{ url }`: `startStream(body)`; `startStream(url, body)` sends
 * to another endpoint for this run (the two-argument form of agent-stream 0.1 works here too).
 */
export interface StartStream {
  (body?: unknown): Promise<ClientSnapshot>;
  (url: string, body: unknown): Promise<ClientSnapshot>;
}

/** `startStream` of a hook made without a URL, as in agent-stream 0.1: `startStream('/chat', { message })`. */
export type StartStreamAt = (url: string, body?: unknown) => Promise<ClientSnapshot>;

export interface UseAgentStreamResult<Start = StartStream> extends ClientSnapshot {
  /** Start a run (user-triggered; a run going is stopped first). */
  startStream: Start;
  /** Stop the run: abort the connection and ask the server to cancel it. */
  stop: () => Promise<void>;
  /** Abort any run and clear the state. */
  reset: () => void;
  /**
   * Answer the pending question (`inputRequired`, from the snapshot): POSTs `{request_id, answer}`
   * to its respond_url; the answer then arrives as an `input_response` (in `answers`).
   */
  respond: (answer: unknown, options?: RespondOptions) => Promise<RespondResult>;
  /** The client behind the hook (made once per hook instance). */
  client: AgentStreamClient;
}

/**
 * One agent stream as React state, over `@agent-stream/client` with `useSyncExternalStore`.
 *
 * Nothing starts in an effect: `startStream` is called by the user, so `<StrictMode>`'s double
 * effects start no second run; with `{ persist }` the mount effect only re-attaches to the
 * run a reload interrupted (`client.reattach()`). Unmounting aborts the connection.
 */
/** agent-stream 0.1's form: no endpoint here, `startStream(url, body)` names it per run. */
export function useAgentStream(options?: UseAgentStreamUrlFreeOptions): UseAgentStreamResult<StartStreamAt>;
export function useAgentStream(options: UseAgentStreamOptions): UseAgentStreamResult;
export function useAgentStream(
  options: UseAgentStreamOptions | UseAgentStreamUrlFreeOptions = {},
): UseAgentStreamResult<StartStream & StartStreamAt> {
  const [client] = useState(() => new AgentStreamClient(clientOptions(options)));
  // the latest options apply to the next run (a header or batching change does not restart one)
  const latest = useRef(options);
  latest.current = options;

  const snapshot = useSyncExternalStore(client.subscribe, client.getSnapshot, client.getSnapshot);

  const abortTimer = useRef<ReturnType<typeof setTimeout> | null>(null);
  useEffect(() => {
    // StrictMode unmounts and remounts at once: abort only when no remount follows
    if (abortTimer.current !== null) {
      clearTimeout(abortTimer.current);
      abortTimer.current = null;
    }
    // with { persist }: come back to the run a reload interrupted (null when there is none, or
    // when StrictMode's remount finds it going already)
    if (!client.isActive) void client.reattach(latest.current.callbacks);
    return () => {
      abortTimer.current = setTimeout(() => {
        abortTimer.current = null;
        client.abort();
      }, 0);
    };
  }, [client]);

  const startStream = useCallback(
    (...args: unknown[]) => {
      const { callbacks, url } = latest.current;
      // Two arguments with a string first, or a hook without a URL: (url, body), as in agent-stream
      // 0.1; otherwise the one argument is the body for the hook's own URL.
      const [target, body] =
        (args.length >= 2 && typeof args[0] === "string") || url === undefined ? [args[0], args[1]] : [url, args[0]];
      if (typeof target !== "string" || target === "") {
        throw new UsageError(
          `startStream() needs the endpoint: useAgentStream() was made without { url }, so call ` +
            `startStream(url, body), e.g. startStream("/api/chat", { message }); got ${String(JSON.stringify(target))}`,
          { code: "invalid-url" },
        );
      }
      client.configure(clientOptions(latest.current));
      return client.start(target, body, callbacks);
    },
    [client],
  ) as StartStream & StartStreamAt;
  const stop = useCallback(() => client.stop(), [client]);
  const reset = useCallback(() => client.reset(), [client]);
  const answer = useCallback((value: unknown, options?: RespondOptions) => respond(client, value, options), [client]);

  return useMemo(
    () => ({ ...snapshot, startStream, stop, reset, respond: answer, client }),
    [snapshot, startStream, stop, reset, answer, client],
  );
}

/** The client's options among the hook's: `shareAcrossTabs` becomes its fetch. */
function clientOptions(options: UseAgentStreamOptions | UseAgentStreamUrlFreeOptions): AgentStreamClientOptions {
  const { url: _url, callbacks: _callbacks, shareAcrossTabs, ...rest } = options;
  if (shareAcrossTabs === undefined) return rest;
  if (rest.fetch !== undefined) {
    throw new UsageError("useAgentStream() got both fetch and shareAcrossTabs; pass your fetch to shareAcrossTabs({ fetch }) instead", {
      code: "invalid-option",
    });
  }
  return { ...rest, fetch: shareAcrossTabs };
}
