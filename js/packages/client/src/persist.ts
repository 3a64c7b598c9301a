/**
 * Remembering the active run across a page reload: its stream id, resume URL and last event id,
 * in `sessionStorage` by default (or any `PersistStorage`). `AgentStreamClient.reattach()` reads
 * it back and replays the run from its first event.
 */

/** Where a client keeps its active run: `sessionStorage`, `localStorage` or your own. */
export interface PersistStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/** The `persist` option: `true` for sessionStorage under the default key, or where and under which key. */
export interface PersistOptions {
  /** Default `globalThis.sessionStorage`; persistence is off when there is none. */
  storage?: PersistStorage;
  /** Default `"agent-stream:run"`: give each client of a page its own key. */
  key?: string;
}

/** What is stored for a run. */
export interface PersistedRun {
  readonly streamId: string;
  /** Absolute URL of the GET resume route (the start event's `resume_url`). */
  readonly resumeUrl: string;
  /** The last event id the page folded into its state (informational: re-attaching replays from 0). */
  readonly lastEventId: string | null;
}

export interface Persistence {
  readonly storage: PersistStorage;
  readonly key: string;
}

export function resolvePersistence(option: boolean | PersistOptions | undefined): Persistence | null {
  if (option === undefined || option === false) return null;
  const given = option === true ? {} : option;
  let storage = given.storage;
  if (storage === undefined) {
    try {
      storage = (globalThis as { sessionStorage?: PersistStorage }).sessionStorage;
    } catch {
      storage = undefined; // a sandboxed frame throws on access
    }
  }
  return storage === undefined ? null : { storage, key: given.key ?? "agent-stream:run" };
}

export function loadRun(persistence: Persistence): PersistedRun | null {
  try {
    const value = JSON.parse(persistence.storage.getItem(persistence.key) ?? "null") as Partial<PersistedRun> | null;
    if (value === null || typeof value.streamId !== "string" || typeof value.resumeUrl !== "string") return null;
    return { streamId: value.streamId, resumeUrl: value.resumeUrl, lastEventId: value.lastEventId ?? null };
  } catch {
    return null; // unreadable: as if nothing were stored
  }
}

export function saveRun(persistence: Persistence, run: PersistedRun | null): void {
  try {
    if (run === null) persistence.storage.removeItem(persistence.key);
    else persistence.storage.setItem(persistence.key, JSON.stringify(run));
  } catch {
    // full or forbidden storage: the page works, only a reload will not re-attach
  }
}
