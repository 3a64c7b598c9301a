"""Run the language-neutral client vectors in spec/conformance/client/ against ResumeCore.

The TypeScript client runs the same files (js/packages/client/test/conformance-client.test.ts);
the format is described in spec/conformance/README.md.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from agent_stream.resume import GiveUp, ResumeCore, Retry, RetryPolicy

VECTOR_DIR = Path(__file__).resolve().parent.parent / "spec" / "conformance" / "client"
NOW_S = 1_700_000_000.0
KEY = "key-1"


def load() -> list[Any]:
    cases = []
    for path in sorted(VECTOR_DIR.glob("*.json")):
        for vector in json.loads(path.read_text("utf-8"))["vectors"]:
            cases.append(pytest.param(vector, id=f"{path.stem}: {vector['name']}"))
    return cases


def make_core(options: dict[str, Any]) -> ResumeCore:
    draws = options.get("random", 0.5)
    values = itertools.cycle(draws if isinstance(draws, list) else [draws])
    policy = RetryPolicy(
        max_retries=options.get("max_retries", 8),
        backoff_base_s=options.get("backoff_base_ms", 1000) / 1000,
        backoff_max_s=options.get("backoff_max_ms", 30_000) / 1000,
    )
    return ResumeCore(
        policy=policy,
        random=lambda: next(values),
        retry_statuses=frozenset(options.get("retry_statuses", [])),
        resume_with=options.get("resume_with", "request"),
        idempotency_key=KEY,
        max_event_bytes=options.get("max_event_bytes"),
    )


def action_of(action: Retry | GiveUp | None) -> object:
    if action is None:
        return "read"
    if isinstance(action, Retry):
        return {"retry_ms": round(action.delay_s * 1000, 6)}
    assert action.done.synthetic is True and action.done.reason == action.reason
    return {"give_up": {"reason": action.reason, "code": action.code}}


def test_there_are_at_least_40_vectors() -> None:
    assert len(load()) >= 40


@pytest.mark.parametrize("vector", load())
def test_client_vector(vector: dict[str, Any]) -> None:
    core = make_core(vector.get("options", {}))
    for number, step in enumerate(vector["steps"]):
        where = f"step {number}: {json.dumps(step, ensure_ascii=False)[:120]}"
        at_s = step.get("at_ms", 0) / 1000
        if "response" in step or "feed" in step:
            core.alive(at_s)
        if "request" in step:
            plan = core.request()
            got = {
                "last_event_id": plan.last_event_id,
                "resume_url": plan.resume_url,
                "idempotency_key": plan.idempotency_key == KEY,
            }
            assert got == step["request"], where
        elif "response" in step:
            response = step["response"]
            action = core.response(
                response["status"],
                response["headers"],
                body=response.get("body", ""),
                method="POST",
                url="http://test/api/chat",
                now_s=NOW_S,
            )
            assert action_of(action) == step["expect"], where
        elif "feed" in step:
            before = len(core.invalid_events)
            events = core.feed(step["feed"].encode())
            assert [[e.type, e.id] for e in events] == step["deliver"], where
            outcome = core.outcome
            expected = step.get("outcome")
            if isinstance(outcome, GiveUp):
                assert action_of(outcome) == expected, where
            else:
                assert outcome == expected, where
            codes = [error.code for error in core.invalid_events[before:]]
            assert codes == step.get("invalid", []), where
        elif "lost" in step:
            assert action_of(core.lost(step["lost"], now_s=at_s)) == step["expect"], where
        elif "stop" in step:
            core.stop()
        else:
            checks = step["check"]
            got_checks = {
                "last_event_id": core.last_id,
                "stream_id": core.stream_id,
                "reconnects": core.reconnects,
                "liveness_ms": round(core.liveness_s * 1000, 6),
                "resume_window_ms": core.resume_window_ms,
                "max_event_bytes": core.max_event_bytes,
            }
            assert {key: got_checks[key] for key in checks} == checks, where
