"""AISDKEncoder: every event type maps to UI message stream v1 chunks in a valid order; resumes
from any seq send exactly the rest of an unbroken stream."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent_stream.bridges.ai_sdk import AISDKEncoder
from agent_stream.events import AgentEvent, Done, Thinking, Token, ToolResult, ToolUse, Turn

from .runs import ALL_RUNS, EVERY_TYPE, decoded, stored, wire

SID = "s_AbC-123"


def chunks(events: Sequence[AgentEvent], *, after: int = 0) -> list[Any]:
    body = wire(AISDKEncoder(SID), stored(events), after=after)
    return [
        ev.data if ev.data == "[DONE]" else msgspec.json.decode(ev.data) for ev in decoded(body)
    ]


def check_order(out: list[Any]) -> None:
    """What useChat's processUIMessageStream needs: parts opened before use, steps balanced."""
    assert out[-1] == "[DONE]"
    chunks_ = [c for c in out[:-1] if isinstance(c, dict)]
    assert len(chunks_) == len(out) - 1
    assert chunks_[0]["type"] == "start"
    assert chunks_[-1]["type"] == "finish"
    open_parts: dict[str, str] = {}
    tools: set[str] = set()
    step = False
    for chunk in chunks_[1:-1]:
        kind = chunk["type"]
        if kind in ("text-start", "reasoning-start"):
            assert not open_parts
            open_parts[chunk["id"]] = kind.split("-")[0]
        elif kind.endswith("-delta") or kind in ("text-end", "reasoning-end"):
            assert open_parts.get(chunk["id"]) == kind.split("-")[0]
            if kind.endswith("-end"):
                del open_parts[chunk["id"]]
        elif kind == "start-step":
            assert not step
            step = True
        elif kind == "finish-step":
            assert step and not open_parts
            step = False
        elif kind == "tool-input-start":
            assert step
            tools.add(chunk["toolCallId"])
        elif kind in ("tool-input-available", "tool-output-available", "tool-output-error"):
            assert chunk["toolCallId"] in tools
        elif kind in ("error", "abort"):
            pass
        else:
            assert kind.startswith("data-"), kind
        if kind.endswith(("-start", "-delta")):
            assert step, f"{kind} outside a step"
    assert not open_parts and not step


@pytest.mark.parametrize("name", sorted(ALL_RUNS))
def test_every_run_is_in_order(name: str) -> None:
    check_order(chunks(ALL_RUNS[name]))


def test_small_run_chunk_by_chunk() -> None:
    run: list[AgentEvent] = [
        Turn(turn_number=1),
        Thinking(text="plan"),
        ToolUse(tool_name="search", tool_use_id="tu_1", input_summary="q=x", input={"q": "x"}),
        ToolResult(tool_name="search", tool_use_id="tu_1", output={"hits": 3}),
        Token(text="Olá "),
        Token(text="🎉"),
        Done(num_turns=1, tool_count=1, model="demo"),
    ]
    out = chunks(run)
    message_id = AISDKEncoder(SID).message_id
    rsn, txt = out[2]["id"], out[8]["id"]
    assert out == [
        {"type": "start", "messageId": message_id},
        {"type": "start-step"},
        {"type": "reasoning-start", "id": rsn},
        {"type": "reasoning-delta", "id": rsn, "delta": "plan"},
        {"type": "reasoning-end", "id": rsn},
        {
            "type": "tool-input-start",
            "toolCallId": "tu_1",
            "toolName": "search",
            "dynamic": True,
            "title": "q=x",
        },
        {
            "type": "tool-input-available",
            "toolCallId": "tu_1",
            "toolName": "search",
            "input": {"q": "x"},
            "dynamic": True,
        },
        {
            "type": "tool-output-available",
            "toolCallId": "tu_1",
            "output": {"hits": 3},
            "dynamic": True,
        },
        {"type": "text-start", "id": txt},
        {"type": "text-delta", "id": txt, "delta": "Olá "},
        {"type": "text-delta", "id": txt, "delta": "🎉"},
        {"type": "text-end", "id": txt},
        {"type": "finish-step"},
        {
            "type": "finish",
            "finishReason": "stop",
            "messageMetadata": {
                "message_id": "",
                "num_turns": 1,
                "tool_count": 1,
                "duration_ms": 0,
                "model": "demo",
                "total_cost_usd": 0.0,
            },
        },
        "[DONE]",
    ]


def test_every_type_maps_as_documented() -> None:
    out = chunks(EVERY_TYPE)
    kinds = [c["type"] for c in out if isinstance(c, dict)]
    for kind in (
        "data-progress",
        "data-creation",
        "data-input-required",
        "data-custom_thing",
        "data-error",
        "tool-output-error",
    ):
        assert kind in kinds
    progress = [c for c in out if isinstance(c, dict) and c["type"] == "data-progress"]
    assert {c["id"] for c in progress} == {"plan"}  # one part per step, updated in place
    assert [c["data"]["percentage"] for c in progress] == [0, 50, 100]
    error = next(c for c in out if isinstance(c, dict) and c["type"] == "tool-output-error")
    assert error["errorText"] == "boom"
    text = "".join(c["delta"] for c in out if isinstance(c, dict) and c["type"] == "text-delta")
    assert text == (
        'Olá, naïve café ☕ — 🎉👩‍👩‍👧 line\nbreak \u2028 and "quotes" \\ '
        "second message after a recoverable error"
    )


def test_failed_run_sends_error_then_finish_error() -> None:
    out = chunks(ALL_RUNS["failed"])
    assert out[-3:] == [
        {"type": "error", "errorText": "the agent raised ValueError: bad"},
        {
            "type": "finish",
            "finishReason": "error",
            "messageMetadata": {**_done(), "reason": "error"},
        },
        "[DONE]",
    ]


def test_interrupted_run_finishes_interrupted() -> None:
    out = chunks(ALL_RUNS["interrupted"])
    assert out[-2] == {
        "type": "finish",
        "finishReason": "interrupted",
        "messageMetadata": {**_done(), "reason": "interrupted"},
    }
    assert not any(isinstance(c, dict) and c["type"] == "error" for c in out)


def test_cancelled_run_aborts() -> None:
    out = chunks(ALL_RUNS["cancelled"])
    assert out[-3:-1] == [
        {"type": "abort", "reason": "cancelled"},
        {
            "type": "finish",
            "finishReason": "other",
            "messageMetadata": {**_done(), "reason": "cancelled"},
        },
    ]


def test_empty_run() -> None:
    out = chunks([Done()])
    assert [c["type"] if isinstance(c, dict) else c for c in out] == ["start", "finish", "[DONE]"]


def test_message_id_is_stable_per_stream() -> None:
    assert AISDKEncoder(SID).message_id == AISDKEncoder(SID).message_id
    assert AISDKEncoder(SID).message_id != AISDKEncoder(SID + "x").message_id
    assert SID not in AISDKEncoder(SID).message_id
    assert AISDKEncoder(SID, message_id="m1").message_id == "m1"


def _done() -> dict[str, object]:
    return {
        "message_id": "",
        "num_turns": 0,
        "tool_count": 0,
        "duration_ms": 0,
        "model": "",
        "total_cost_usd": 0.0,
    }


def _resumed(events: list[tuple[int, str, bytes]], after: int) -> bytes:
    return wire(AISDKEncoder(SID), events, after=after)


@pytest.mark.parametrize("name", sorted(ALL_RUNS))
def test_resume_from_every_seq_sends_exactly_the_rest(name: str) -> None:
    events = stored(ALL_RUNS[name])
    full = wire(AISDKEncoder(SID), events)
    pieces = [AISDKEncoder(SID).priming(0)]
    continuing = AISDKEncoder(SID)
    pieces += [continuing.encode(*e) for e in events]
    assert full == b"".join(pieces)
    for after in range(len(events) + 1):
        priming = AISDKEncoder(SID).priming(after)
        assert (
            full[len(pieces[0]) :]
            == b"".join(pieces[1 : after + 1]) + _resumed(events, after)[len(priming) :]
        )


_texts = st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=12)
_events = st.lists(
    st.one_of(
        st.builds(Token, text=_texts),
        st.builds(Token, text=_texts, message_id=st.sampled_from(["a", "b"])),
        st.builds(Thinking, text=_texts),
        st.builds(Turn, turn_number=st.integers(1, 3)),
        st.builds(ToolUse, tool_name=st.just("t"), tool_use_id=st.just("1")),
        st.builds(ToolResult, tool_name=st.just("t"), tool_use_id=st.just("1")),
    ),
    max_size=25,
)


@settings(max_examples=150, deadline=None)
@given(_events, st.sampled_from(["completed", "error", "cancelled", "interrupted"]))
def test_any_run_is_in_order_and_resumable(events: list[AgentEvent], reason: str) -> None:
    run = [*events, Done(reason=reason)]  # type: ignore[arg-type]
    check_order(chunks(run))
    triples = stored(run)
    full = wire(AISDKEncoder(SID), triples)
    after = len(triples) // 2
    resumed = _resumed(triples, after)
    assert full.endswith(resumed[len(AISDKEncoder(SID).priming(after)) :])


def test_tool_approval_ends_the_message_and_the_answer_continues_it() -> None:
    from agent_stream.events import InputRequired, InputResponse

    ask = InputRequired(
        request_id="rq_1",
        prompt="Allow search?",
        choices=["approve", "deny"],
        tool_name="search",
        tool_use_id="tu_1",
        tool_input={"q": "x"},
    )
    run: list[AgentEvent] = [
        Turn(turn_number=1),
        ask,
        InputResponse(request_id="rq_1", answer="approve"),
        ToolUse(tool_name="search", tool_use_id="tu_1", input={"q": "x"}),
        ToolResult(tool_name="search", tool_use_id="tu_1", output="3 hits"),
        Token(text="Done."),
        Done(),
    ]
    triples = stored(run)
    first = AISDKEncoder(SID)
    body = b"".join(first.encode(*e) for e in triples[:2])
    assert first.is_paused
    out: list[Any] = [
        ev.data if ev.data == "[DONE]" else msgspec.json.decode(ev.data) for ev in decoded(body)
    ]
    assert [c if c == "[DONE]" else c["type"] for c in out] == [
        "start",
        "start-step",
        "tool-input-start",
        "tool-input-available",
        "tool-approval-request",
        "finish-step",
        "finish",
        "[DONE]",
    ]
    assert out[4] == {"type": "tool-approval-request", "approvalId": "rq_1", "toolCallId": "tu_1"}
    assert out[3]["input"] == {"q": "x"}
    # the POST with the approval continues after the question: the same message, no second
    # tool-input for the call it already showed, then its output
    rest = chunks(run, after=2)
    assert rest[0] == {"type": "start", "messageId": first.message_id}
    kinds = [c if c == "[DONE]" else c["type"] for c in rest]
    assert "tool-input-start" not in kinds and "tool-output-available" in kinds
    output = next(c for c in rest if c != "[DONE]" and c["type"] == "tool-output-available")
    assert output["toolCallId"] == "tu_1" and output["output"] == "3 hits"
    assert rest[-2]["finishReason"] == "stop" and rest[-1] == "[DONE]"


def test_denied_tool_call_is_marked_denied() -> None:
    from agent_stream.events import InputRequired, InputResponse

    run: list[AgentEvent] = [
        InputRequired(request_id="rq_2", prompt="?", tool_name="rm", tool_use_id="tu_2"),
        InputResponse(request_id="rq_2", answer="deny"),
        Token(text="Skipped."),
        Done(),
    ]
    rest = chunks(run, after=1)
    assert {"type": "tool-output-denied", "toolCallId": "tu_2"} in rest


def test_result_of_a_call_never_announced_gets_its_tool_part_first() -> None:
    # adapters send tool_result without tool_use for a call made before the stream began
    # (LangGraph's tool messages, Anthropic's server tools); useChat refuses an output for a
    # call it has no part of ("No tool invocation found"), and the whole chat fails
    run: list[AgentEvent] = [
        Token(text="Looked it up."),
        ToolResult(tool_name="search", tool_use_id="tu_7", output={"hits": 3}),
        ToolResult(tool_name="fetch", tool_use_id="tu_8", output_summary="404", status="error"),
        Done(),
    ]
    out = chunks(run)
    check_order(out)
    kinds = [c["type"] for c in out if isinstance(c, dict)]
    assert kinds[kinds.index("text-end") + 1 :] == [
        "tool-input-start",
        "tool-input-available",
        "tool-output-available",
        "tool-input-start",
        "tool-input-available",
        "tool-output-error",
        "finish-step",
        "finish",
    ]
    available = [c for c in out if isinstance(c, dict) and c["type"] == "tool-input-available"]
    assert [(c["toolCallId"], c["toolName"], c["input"]) for c in available] == [
        ("tu_7", "search", {}),
        ("tu_8", "fetch", {}),
    ]
