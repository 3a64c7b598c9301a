/** Scenario knobs of the demo agent, seeded from the page's query string so a link reproduces a run. */
export type Batching = "fixed" | "adaptive" | "frame";

export interface Knobs {
  message: string;
  tokens: number;
  tokenDelayMs: number;
  tools: number;
  /** Raise after this many events; `null` lets the run finish. */
  failAfter: number | null;
  batching: Batching;
  /** Sent as the Authorization header; the demo binds each stream to it as the owner. */
  authorization: string;
  /** Start a run as soon as the page mounts (tests and shareable links). */
  autostart: boolean;
  /** The client's reconnection budget (`retry.maxRetries`); null keeps the client's default. */
  maxRetries: number | null;
  /** The agent asks "Which city should I plan for?" before writing. */
  ask: boolean;
  /** The agent asks before each tool call and skips refused ones. */
  approve: boolean;
  /** How long its questions wait for an answer, in seconds (null: the server's default). */
  askTimeoutS: number | null;
  /** Follow this existing stream (a watch link) instead of starting a run. */
  watch: string | null;
  /** Open the inspector pane (the live run's event timeline) at load: `?inspect=1`. */
  inspect: boolean;
  /**
   * How tabs elect the one that holds a run's connection: Web Locks (default) or, with
   * `?tab_locks=channel`, the BroadcastChannel election pages without Web Locks use.
   */
  tabLocks: "web" | "channel";
}

export const DEFAULT_KNOBS: Knobs = {
  message: "Plan a three-day trip to Lisbon",
  tokens: 60,
  tokenDelayMs: 40,
  tools: 2,
  failAfter: null,
  batching: "fixed",
  authorization: "",
  autostart: false,
  maxRetries: null,
  ask: false,
  approve: false,
  askTimeoutS: null,
  watch: null,
  inspect: false,
  tabLocks: "web",
};

function flag(params: URLSearchParams, name: string): boolean {
  const raw = params.get(name);
  return raw !== null && raw !== "0" && raw !== "false";
}

function intParam(params: URLSearchParams, name: string, fallback: number): number {
  const raw = params.get(name);
  if (raw === null || raw.trim() === "") return fallback;
  const value = Number(raw);
  return Number.isFinite(value) && value >= 0 ? value : fallback;
}

export function knobsFromQuery(search: string): Knobs {
  const params = new URLSearchParams(search);
  const batching = params.get("batching");
  const failAfter = params.get("fail_after");
  return {
    message: params.get("message") ?? DEFAULT_KNOBS.message,
    tokens: intParam(params, "tokens", DEFAULT_KNOBS.tokens),
    tokenDelayMs: intParam(params, "token_delay_ms", DEFAULT_KNOBS.tokenDelayMs),
    tools: intParam(params, "tools", DEFAULT_KNOBS.tools),
    failAfter: failAfter === null || failAfter === "" ? null : intParam(params, "fail_after", 0),
    batching: batching === "adaptive" || batching === "frame" ? batching : "fixed",
    authorization: params.get("auth") ?? DEFAULT_KNOBS.authorization,
    autostart: params.get("autostart") === "1",
    maxRetries: params.has("max_retries") ? intParam(params, "max_retries", 0) : null,
    ask: flag(params, "ask"),
    approve: flag(params, "approve"),
    askTimeoutS: params.has("ask_timeout_s") ? intParam(params, "ask_timeout_s", 300) : null,
    watch: params.get("stream"),
    inspect: flag(params, "inspect"),
    tabLocks: params.get("tab_locks") === "channel" ? "channel" : "web",
  };
}

/** The JSON body of `POST /api/chat` (wire names stay snake_case). */
export function requestBody(knobs: Knobs): Record<string, string | number | boolean> {
  const body: Record<string, string | number | boolean> = {
    message: knobs.message,
    tokens: knobs.tokens,
    token_delay_ms: knobs.tokenDelayMs,
    tools: knobs.tools,
  };
  if (knobs.failAfter !== null) body.fail_after = knobs.failAfter;
  if (knobs.ask) body.ask = true;
  if (knobs.approve) body.approve = true;
  if (knobs.askTimeoutS !== null) body.ask_timeout_s = knobs.askTimeoutS;
  return body;
}

/** A link that follows this stream from another tab or device (same owner). */
export function watchLink(streamId: string, authorization: string): string {
  const params = new URLSearchParams({ stream: streamId });
  if (authorization !== "") params.set("auth", authorization);
  return `${window.location.pathname}?${params.toString()}`;
}
