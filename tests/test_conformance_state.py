"""Run the language-neutral state-folding vectors in spec/conformance/state/."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agent_stream.events import UNSET, parse_event
from agent_stream.state import StreamState

VECTOR_DIR = Path(__file__).resolve().parent.parent / "spec" / "conformance" / "state"
CHECKED_FIELDS = {
    "text",
    "thinking",
    "is_streaming",
    "is_done",
    "active_tools",
    "tools",
    "progress",
    "error",
    "turn",
    "done_reason",
    "input_required",
    "answers",
}


def _load() -> list[Any]:
    params = []
    for path in sorted(VECTOR_DIR.glob("*.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        for vector in document["vectors"]:
            params.append(pytest.param(vector, id=f"{path.stem}: {vector['name']}"))
    return params


VECTORS = _load()


def checked_view(state: StreamState) -> dict[str, Any]:
    """The state in the vectors' snake_case JSON shape."""
    return {
        "text": state.text,
        "thinking": state.thinking,
        "is_streaming": state.is_streaming,
        "is_done": state.is_done,
        "active_tools": list(state.active_tools),
        "tools": [
            {"tool_use_id": t.tool_use_id, "status": t.status, "duration_ms": t.duration_ms}
            for t in state.tools
        ],
        "progress": None
        if state.progress is None
        else {
            "step": state.progress.step,
            "percentage": state.progress.percentage,
            "message": state.progress.message,
        },
        "error": None
        if state.error is None
        else {"error_type": state.error.error_type, "message": state.error.message},
        "turn": state.turn,
        "done_reason": state.done_reason,
        "input_required": None if state.input_required is None else state.input_required.request_id,
        "answers": [
            {"request_id": a.request_id, "status": a.status}
            | ({} if a.answer is UNSET else {"answer": a.answer})
            for a in state.answers
        ],
    }


def test_there_are_enough_vectors() -> None:
    assert len(VECTORS) >= 25


@pytest.mark.parametrize("vector", VECTORS)
def test_state_vector(vector: dict[str, Any]) -> None:
    assert set(vector["state"]) <= CHECKED_FIELDS, "vector checks a field the format lacks"
    state = StreamState()
    for event in vector["events"]:
        state = state.apply(parse_event(event["type"], event["data"]))
    view = checked_view(state)
    assert {key: view[key] for key in vector["state"]} == vector["state"]


@pytest.mark.parametrize("vector", VECTORS)
def test_state_vector_from_json_bytes(vector: dict[str, Any]) -> None:
    """The same events parsed from their JSON text fold to the same state."""
    events = [
        parse_event(event["type"], json.dumps(event["data"]).encode()) for event in vector["events"]
    ]
    view = checked_view(StreamState().apply_all(events))
    assert {key: view[key] for key in vector["state"]} == vector["state"]
