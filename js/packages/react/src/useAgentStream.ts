import {
  AgentStreamClient,
  type AgentStreamClientOptions,
  type ClientSnapshot,
  type RespondOptions,
  type RespondResult,
  type StreamCallbacks,
} from "@agent-stream/client";
import { useCallback, useEffect, useMemo, useRef, useState, useSyncExternalStore } from "react";

export interface UseAgentStreamOptions extends AgentStreamClientOptions {
  /** The stream endpoint `startStream` sends to (e.g. "/api/chat"). */
  url: string;
  /** Callbacks of every run started by this hook. */
  callbacks?: StreamCallbacks;
}

export interface UseAgentStreamResult extends ClientSnapshot {
  /** Start a run with this request body (user-triggered; a run going is stopped first). */
  startStream: (body?: unknown) => Promise<ClientSnapshot>;
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
 * effects start no second run. Unmounting aborts the connection.
 */
export function useAgentStream(options: UseAgentStreamOptions): UseAgentStreamResult {
  const [client] = useState(() => new AgentStreamClient(options));
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
    return () => {
      abortTimer.current = setTimeout(() => {
        abortTimer.current = null;
        client.abort();
      }, 0);
    };
  }, [client]);

  const startStream = useCallback(
    (body?: unknown) => {
      const { url, callbacks, ...clientOptions } = latest.current;
      client.configure(clientOptions);
      return client.start(url, body, callbacks);
    },
    [client],
  );
  const stop = useCallback(() => client.stop(), [client]);
  const reset = useCallback(() => client.reset(), [client]);
  const respond = useCallback((answer: unknown, options?: RespondOptions) => client.respond(answer, options), [client]);

  return useMemo(
    () => ({ ...snapshot, startStream, stop, reset, respond, client }),
    [snapshot, startStream, stop, reset, respond, client],
  );
}
