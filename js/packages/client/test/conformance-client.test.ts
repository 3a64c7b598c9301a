/**
 * The language-neutral client vectors in spec/conformance/client/ against ResumeCore; Python runs
 * the same files (tests/test_conformance_client.py). The format is in spec/conformance/README.md.
 */
import { describe, expect, test } from "vitest";
import type { AgentStreamError } from "../src/errors";
import { type Action, type FeedOutcome, type LostKind, ResumeCore } from "../src/resume";
import { DEFAULT_RETRY_POLICY } from "../src/retry";
import { loadVectors } from "./vectors";

type Expect = "read" | { retry_ms: number } | { give_up: { reason: string; code: string } };

interface Step {
  request?: { last_event_id: string | null; resume_url: string | null; idempotency_key: boolean };
  response?: { status: number; headers: Record<string, string>; body?: string };
  expect?: Expect;
  feed?: string;
  deliver?: [string, string][];
  outcome?: "done" | "reconnect" | Expect;
  invalid?: string[];
  lost?: LostKind;
  stop?: true;
  check?: {
    last_event_id?: string;
    stream_id?: string | null;
    reconnects?: number;
    liveness_ms?: number;
    resume_window_ms?: number | null;
    max_event_bytes?: number;
  };
  at_ms?: number;
}

interface Vector {
  name: string;
  options?: {
    max_retries?: number;
    backoff_base_ms?: number;
    backoff_max_ms?: number;
    retry_statuses?: number[];
    resume_with?: "request" | "resume_url";
    random?: number | number[];
    max_event_bytes?: number;
  };
  steps: Step[];
}

const NOW_MS = 1_700_000_000_000;
const KEY = "key-1";
const files = loadVectors<Vector>("client");

function makeCore(options: Vector["options"] = {}): ResumeCore {
  const draws = options.random ?? 0.5;
  const values = Array.isArray(draws) ? draws : [draws];
  let next = 0;
  return new ResumeCore({
    retry: {
      ...DEFAULT_RETRY_POLICY,
      maxRetries: options.max_retries ?? 8,
      baseDelayMs: options.backoff_base_ms ?? 1000,
      maxDelayMs: options.backoff_max_ms ?? 30_000,
      retryStatuses: options.retry_statuses ?? [],
    },
    random: () => values[next++ % values.length] as number,
    resumeWith: options.resume_with ?? "request",
    idempotencyKey: KEY,
    maxEventSize: options.max_event_bytes ?? null,
  });
}

function actionOf(action: Action | FeedOutcome | null): unknown {
  if (action === null) return "read";
  if (action === "done" || action === "reconnect") return action;
  if (action.kind === "retry") return { retry_ms: action.delayMs };
  return { give_up: { reason: action.reason, code: action.code } };
}

/** The live liveness deadline: 2.5 x heartbeat + 1000 ms, the client's default. */
function livenessMs(core: ResumeCore): number {
  return 2.5 * core.heartbeatMs + 1000;
}

test("there are at least 40 client vectors", () => {
  expect(files.reduce((n, file) => n + file.vectors.length, 0)).toBeGreaterThanOrEqual(40);
});

describe.each(files)("$file", ({ vectors }) => {
  test.each(vectors)("$name", (vector) => {
    const core = makeCore(vector.options);
    vector.steps.forEach((step, number) => {
      const where = `step ${number}: ${JSON.stringify(step).slice(0, 120)}`;
      const at = step.at_ms ?? 0;
      if (step.response !== undefined || step.feed !== undefined) core.alive(at);
      if (step.request !== undefined) {
        const plan = core.request();
        expect({ last_event_id: plan.lastEventId, resume_url: plan.resumeUrl, idempotency_key: plan.idempotencyKey === KEY }, where).toEqual(step.request);
      } else if (step.response !== undefined) {
        const { status, headers, body } = step.response;
        const action = core.response(status, new Headers(headers), { method: "POST", url: "http://test/api/chat", statusText: "", body: body ?? "", nowMs: NOW_MS });
        expect(actionOf(action), where).toEqual(step.expect);
      } else if (step.feed !== undefined) {
        const delivered: [string, string][] = [];
        const invalid: AgentStreamError[] = [];
        const outcome = core.feed(new TextEncoder().encode(step.feed), (event, id) => delivered.push([event.type, id ?? ""]), (error) => invalid.push(error));
        expect(delivered, where).toEqual(step.deliver);
        expect(outcome === null ? undefined : actionOf(outcome), where).toEqual(step.outcome);
        expect(
          invalid.map((error) => error.code),
          where,
        ).toEqual(step.invalid ?? []);
      } else if (step.lost !== undefined) {
        expect(actionOf(core.lost(step.lost, null, at)), where).toEqual(step.expect);
      } else if (step.stop === true) {
        core.stop();
      } else if (step.check !== undefined) {
        const got: Record<string, unknown> = {
          last_event_id: core.lastEventId ?? "",
          stream_id: core.streamId,
          reconnects: core.reconnects,
          liveness_ms: livenessMs(core),
          resume_window_ms: core.resumeWindowMs,
          max_event_bytes: core.maxEventSize,
        };
        const wanted = step.check as Record<string, unknown>;
        expect(Object.fromEntries(Object.keys(wanted).map((key) => [key, got[key]])), where).toEqual(wanted);
      }
    });
  });
});
