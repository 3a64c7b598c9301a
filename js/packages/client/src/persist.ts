/**
 * Remembering the active run across a page reload: `persist: sessionPersistence()` keeps its
 * stream id, resume URL and last event id in `sessionStorage` (or any `PersistStorage`);
 * `AgentStreamClient.reattach()` reads it back and replays the run from its first event. Its own
 * entry point (`@agent-stream/client/persist`): a client without it does not pay for it.
 */
import type { PersistedRun, RunPersistence } from "./client.js";

export type { PersistedRun, RunPersistence };

/** Where a client keeps its active run: `sessionStorage`, `localStorage` or your own. */
export interface PersistStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/** Where and under which key {@link sessionPersistence} keeps the run. */
export interface PersistOptions {
  /** Default `globalThis.sessionStorage`; persistence is off when there is none. */
  storage?: PersistStorage;
  /** Default `"agent-stream:run"`: give each client of a page its own key. */
  key?: string;
}

/**
 * The `persist` option of `AgentStreamClient` / `useAgentStream`: the active run in
 * `sessionStorage` (or `storage`) under `key`. Storage that is missing, full or throws only
 * means a reload will not re-attach; the run itself goes on.
 */
export function sessionPersistence(options: PersistOptions = {}): RunPersistence {
  const key = options.key ?? "agent-stream:run";
  let storage = options.storage;
  if (storage === undefined) {
    try {
      storage = (globalThis as { sessionStorage?: PersistStorage }).sessionStorage;
    } catch {
      storage = undefined; // a sandboxed frame throws on access
    }
  }
  return {
    load() {
      try {
        const value = JSON.parse(storage?.getItem(key) ?? "null") as Partial<PersistedRun> | null;
        if (value === null || typeof value.streamId !== "string" || typeof value.resumeUrl !== "string") return null;
        return { streamId: value.streamId, resumeUrl: value.resumeUrl, lastEventId: value.lastEventId ?? null };
      } catch {
        return null; // unreadable: as if nothing were stored
      }
    },
    save(run) {
      try {
        if (run === null) storage?.removeItem(key);
        else storage?.setItem(key, JSON.stringify(run));
      } catch {
        // full or forbidden storage: the page works, only a reload will not re-attach
      }
    },
  };
}
