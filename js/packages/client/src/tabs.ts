/**
 * `@agent-stream/client/tabs`: tabs of one origin that follow the same run share one connection.
 *
 * `shareAcrossTabs()` returns a `fetch` for `AgentStreamClient`'s `fetch` option (or
 * `useAgentStream`'s `shareAcrossTabs` option). A stream request that names its run (a resume or a
 * re-attach: `Last-Event-ID: <stream_id>:<seq>`) is served by the tab that holds the run's Web
 * Lock, over a `BroadcastChannel`; the first request of a run connects as usual and its tab leads.
 * The clients stay as they are: each tab's client reads the same events in the same order, so
 * every tab folds the same state. Everything else (stop, respond, other URLs) goes to the network.
 */
import { parseEventId } from "./events.js";
import { Hub, type HubContext, type TabChannel, type TabLocks, type TabRole } from "./tab-hub.js";
import { channelLocks } from "./tab-locks.js";

export type { TabChannel, TabLocks, TabRole };

export interface ShareAcrossTabsOptions {
  /** The network: default `globalThis.fetch`. */
  fetch?: typeof fetch;
  /** Prefix of the lock and channel names (default `"agent-stream"`); apps on one origin that must not share pick their own. */
  name?: string;
  /**
   * Default `navigator.locks`; without Web Locks (outside a secure context, e.g. a plain
   * `http://` origin other than localhost) the tabs elect the leader over BroadcastChannel
   * instead (a closing tab still hands on at once; a crashed one within about two seconds). `null`
   * shares nothing: each tab connects on its own.
   */
  locks?: TabLocks | null;
  /** Default `(name) => new BroadcastChannel(name)`. */
  channel?: ((name: string) => TabChannel) | null;
  /** How long a tab keeps a run's events after its last client stopped reading them (ms, default 30 000). */
  keepMs?: number;
  /** Called when this tab starts or stops leading or following a run. */
  onRole?: (streamId: string, role: TabRole) => void;
}

/** A `fetch` that shares runs across tabs, with this tab's role per run and `close()`. */
export interface TabSharedFetch {
  (input: RequestInfo | URL, init?: RequestInit): Promise<Response>;
  /** This tab's part in the run `streamId`. */
  role(streamId: string): TabRole;
  /** Stop sharing: give up every lock, close the channels, end the shared readers. */
  close(): void;
}

function tabId(): string {
  const bytes = new Uint8Array(8);
  globalThis.crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Tabs share a run only when their requests carry the same `Authorization`: the server checks
 * the owner of each request, so a tab with other credentials must ask it itself. The header is
 * hashed (FNV-1a) into the lock and channel names rather than written there.
 */
function credentialScope(authorization: string | null): string {
  if (authorization === null) return "";
  let hash = 0x811c9dc5;
  for (let i = 0; i < authorization.length; i += 1) hash = Math.imul(hash ^ authorization.charCodeAt(i), 0x01000193);
  return `:${(hash >>> 0).toString(16)}`;
}

function isEventStream(response: Response): boolean {
  return response.ok && response.body !== null && (response.headers.get("content-type") ?? "").toLowerCase().startsWith("text/event-stream");
}

/** The body of `response` as it is, with each chunk shown to `observe` and its end to `end` (once). */
function observed(response: Response, observe: (chunk: Uint8Array) => void, end: () => void): Response {
  const source = (response.body as ReadableStream<Uint8Array>).getReader();
  let isOver = false;
  const finish = () => {
    if (isOver) return;
    isOver = true;
    end();
  };
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done, value } = await source.read();
        if (done) {
          finish();
          controller.close();
          return;
        }
        observe(value);
        controller.enqueue(value);
      } catch (error) {
        finish();
        controller.error(error);
      }
    },
    cancel(reason) {
      finish();
      return source.cancel(reason);
    },
  });
  return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
}

/**
 * A `fetch` that makes the tabs of this origin share each run's connection: one tab leads (it
 * holds the run's Web Lock and reads the response), the others follow from its broadcast, and
 * when the leading tab closes the next one resumes from its last event id at once.
 *
 * @example
 * const client = new AgentStreamClient({ persist: sessionPersistence({ storage: localStorage }), fetch: shareAcrossTabs() });
 * client.reattach(); // in every tab: one connection for the run, whatever the number of tabs
 */
export function shareAcrossTabs(options: ShareAcrossTabsOptions = {}): TabSharedFetch {
  const network = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  const Channel = (globalThis as { BroadcastChannel?: new (name: string) => TabChannel }).BroadcastChannel;
  const channel = options.channel !== undefined ? options.channel : Channel === undefined ? null : (name: string) => new Channel(name);
  const nav = (globalThis as { navigator?: { locks?: TabLocks } }).navigator;
  const locks = options.locks !== undefined ? options.locks : (nav?.locks ?? (channel === null ? null : channelLocks(channel)));
  const hubs = new Map<string, Hub>();
  const context: HubContext | null =
    locks === null || channel === null
      ? null
      : {
          name: options.name ?? "agent-stream",
          locks,
          channel,
          tabId: tabId(),
          keepMs: options.keepMs ?? 30_000,
          role: (streamId, role) => options.onRole?.(streamId, role),
          dispose: (hub) => {
            for (const [key, value] of hubs) if (value === hub) hubs.delete(key);
            hub.dispose();
          },
        };

  const hubOf = (streamId: string, headers: Headers): Hub => {
    const scope = credentialScope(headers.get("authorization"));
    let hub = hubs.get(streamId + scope);
    if (hub === undefined) {
      hub = new Hub(streamId, scope, context as HubContext);
      hubs.set(streamId + scope, hub);
    }
    return hub;
  };

  /** A client of this tab reads the real response; its events go to the hub. */
  const drive = async (hub: Hub, input: RequestInfo | URL, init: RequestInit | undefined): Promise<Response> => {
    hub.startDriving();
    let response: Response;
    try {
      response = await network(input, init);
    } catch (error) {
      hub.stopDriving();
      throw error;
    }
    if (!isEventStream(response)) {
      hub.stopDriving();
      return response;
    }
    return observed(response, hub.observe(), () => hub.stopDriving());
  };

  const follow = (hub: Hub, cursor: number): Response => {
    if (!hub.isDone) hub.follow();
    return new Response(hub.reader(cursor), {
      status: 200,
      headers: { "content-type": "text/event-stream; charset=utf-8", "x-agent-stream-id": hub.streamId },
    });
  };

  const shared = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const headers = new Headers(init?.headers);
    const isStream = (headers.get("accept") ?? "").includes("text/event-stream");
    if (context === null || !isStream || input instanceof Request) return network(input, init);
    const cursor = parseEventId(headers.get("last-event-id") ?? "");
    if (cursor === null) {
      // a run's first request: it connects; once the response names the run, this tab leads it
      const response = await network(input, init);
      const streamId = response.headers.get("x-agent-stream-id");
      if (streamId === null || !isEventStream(response)) return response;
      const hub = hubOf(streamId, headers);
      if (hub.role === "follower" || hub.isDriving || !(await hub.tryLead())) return response;
      hub.startDriving();
      return observed(response, hub.observe(), () => hub.stopDriving());
    }
    const hub = hubOf(cursor.streamId, headers);
    if (hub.isBroken) return network(input, init);
    if (hub.isDone || hub.role === "follower" || hub.isDriving) return follow(hub, cursor.seq);
    if (hub.role === "leader" || (await hub.tryLead())) return drive(hub, input, init);
    return follow(hub, cursor.seq);
  };

  return Object.assign(shared, {
    role: (streamId: string): TabRole => {
      for (const hub of hubs.values()) if (hub.streamId === streamId && hub.role !== null) return hub.role;
      return null;
    },
    close: () => {
      for (const hub of hubs.values()) hub.dispose();
      hubs.clear();
    },
  });
}

export { channelLocks, type ChannelLocksOptions } from "./tab-locks.js";
