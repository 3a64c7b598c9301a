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
};

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
  };
}

/** The JSON body of `POST /api/chat` (wire names stay snake_case). */
export function requestBody(knobs: Knobs): Record<string, string | number> {
  const body: Record<string, string | number> = {
    message: knobs.message,
    tokens: knobs.tokens,
    token_delay_ms: knobs.tokenDelayMs,
    tools: knobs.tools,
  };
  if (knobs.failAfter !== null) body.fail_after = knobs.failAfter;
  return body;
}
