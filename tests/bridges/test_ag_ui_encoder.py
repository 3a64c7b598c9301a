"""AGUIEncoder: every event type maps to schema-valid AG-UI events in a valid order; resumes
from any seq send exactly the rest of an unbroken stream."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec
import pytest
from ag_ui.core import Event
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from agent_stream.bridges.ag_ui import AGUIEncoder
from agent_stream.events import (
    AgentEvent,
    Done,
    InputRequired,
    Thinking,
    Token,
    ToolResult,
    ToolUse,
    Turn,
)

from .runs import ALL_RUNS, EVERY_TYPE, decoded, stored, wire

SID = "s_AbC-123"
EVENT = TypeAdapter(Event)


def encoder() -> AGUIEncoder:
    return AGUIEncoder(SID, thread_id="thread-1", run_id="run-1")


def ag_ui_events(events: Sequence[AgentEvent], *, after: int = 0) -> list[dict[str, Any]]:
    return [
        msgspec.json.decode(ev.data) for ev in decoded(wire(encoder(), stored(events), after=after))
    ]


def check_schema(event: dict[str, Any]) -> None:
    """Valid against ag-ui-protocol's model, with no key the model does not name."""
    model = EVENT.validate_python(event)
    known = {field.alias or name for name, field in type(model).model_fields.items()}
    assert set(event) <= known, f"{event['type']}: unknown keys {set(event) - known}"


def check_order(events: list[dict[str, Any]]) -> None:
    """AG-UI's lifecycle rules (as @ag-ui/client's verifier applies them)."""
    assert events[0]["type"] == "RUN_STARTED"
    text: set[object] = set()
    reasoning: set[object] = set()
    steps: set[object] = set()
    ended = False
    for event in events[1:]:
        kind = event["type"]
        if kind == "RUN_STARTED":  # a new run may follow a finished one (AG-UI's verifier too)
            assert ended, "RUN_STARTED while a run is active"
            ended = False
            continue
        assert not ended, f"{kind} after the run ended"
        if kind == "TEXT_MESSAGE_START":
            assert not text
            text.add(event["messageId"])
        elif kind in ("TEXT_MESSAGE_CONTENT", "TEXT_MESSAGE_END"):
            assert event["messageId"] in text
            if kind == "TEXT_MESSAGE_END":
                text.discard(event["messageId"])
        elif kind == "REASONING_START":
            reasoning.add(event["messageId"])
        elif kind.startswith("REASONING_MESSAGE_") or kind == "REASONING_END":
            assert event["messageId"] in reasoning
            if kind == "REASONING_END":
                reasoning.discard(event["messageId"])
        elif kind == "STEP_STARTED":
            assert event["stepName"] not in steps
            steps.add(event["stepName"])
        elif kind == "STEP_FINISHED":
            steps.remove(event["stepName"])
        elif kind == "RUN_FINISHED":
            assert not (text or reasoning or steps)
            ended = True
        elif kind == "RUN_ERROR":
            ended = True
    assert ended


@pytest.mark.parametrize("name", sorted(ALL_RUNS))
def test_every_run_is_schema_valid_and_in_order(name: str) -> None:
    events = ag_ui_events(ALL_RUNS[name])
    for event in events:
        check_schema(event)
    check_order(events)


def test_every_type_maps_as_documented() -> None:
    events = ag_ui_events(EVERY_TYPE)
    kinds = [event["type"] for event in events]
    assert kinds[:4] == ["RUN_STARTED", "STEP_STARTED", "CUSTOM", "REASONING_START"]
    for kind in (
        "REASONING_MESSAGE_START",
        "REASONING_MESSAGE_CONTENT",
        "REASONING_MESSAGE_END",
        "REASONING_END",
        "TOOL_CALL_START",
        "TOOL_CALL_ARGS",
        "TOOL_CALL_END",
        "TOOL_CALL_RESULT",
        "TEXT_MESSAGE_START",
        "TEXT_MESSAGE_CONTENT",
        "TEXT_MESSAGE_END",
        "STEP_FINISHED",
    ):
        assert kind in kinds
    assert kinds[-1] == "RUN_FINISHED"
    customs = {event["name"] for event in events if event["type"] == "CUSTOM"}
    assert customs == {"progress", "creation", "custom_thing", "error"}
    args = [event for event in events if event["type"] == "TOOL_CALL_ARGS"]
    assert [msgspec.json.decode(a["delta"]) for a in args] == [{"q": "Lisbon"}, {}]
    results = [event for event in events if event["type"] == "TOOL_CALL_RESULT"]
    assert [r["content"] for r in results] == ['["a","b"]', "boom"]
    interrupted = next(e for e in events if e["type"] == "RUN_FINISHED")
    assert interrupted["outcome"]["type"] == "interrupt"
    (interrupt,) = interrupted["outcome"]["interrupts"]
    assert interrupt["id"] == "rq_1" and interrupt["message"] == "Which city?"
    assert interrupt["responseSchema"] == {"type": "string", "enum": ["Lisbon", "Porto"]}
    assert kinds.count("RUN_STARTED") == 2  # the answer's run goes on after the interrupt
    finished = events[-1]
    assert finished["outcome"] == {"type": "success"}
    assert finished["result"]["model"] == "demo"
    assert {finished["threadId"], finished["runId"]} == {"thread-1", "run-1"}


def test_text_is_verbatim_and_split_by_message_id() -> None:
    events = ag_ui_events(EVERY_TYPE)
    messages: dict[object, str] = {}
    for event in events:
        if event["type"] == "TEXT_MESSAGE_CONTENT":
            messages[event["messageId"]] = messages.get(event["messageId"], "") + event["delta"]
    texts = list(messages.values())
    assert texts[0] == 'Olá, naïve café ☕ — 🎉👩‍👩‍👧 line\nbreak \u2028 and "quotes" \\ '
    assert "m_2" in messages
    assert messages["m_2"] == "second message after a recoverable error"  # error: no break
    reasoning = "".join(str(e["delta"]) for e in events if e["type"] == "REASONING_MESSAGE_CONTENT")
    assert reasoning == "The user asks “¿qué tal?” — think in 中文 too 🤔"


def test_failed_run_ends_with_run_error_naming_the_error() -> None:
    events = ag_ui_events(ALL_RUNS["failed"])
    assert events[-1] == {
        "type": "RUN_ERROR",
        "message": "the agent raised ValueError: bad",
        "code": "ValueError",
    }


def test_interrupted_run_ends_with_run_error_interrupted() -> None:
    events = ag_ui_events(ALL_RUNS["interrupted"])
    assert events[-1]["type"] == "RUN_ERROR"
    assert events[-1]["code"] == "interrupted"
    assert [e["type"] for e in events].count("STEP_FINISHED") == 1  # the open progress step


def test_cancelled_run_finishes_with_cancelled_outcome() -> None:
    events = ag_ui_events(ALL_RUNS["cancelled"])
    assert events[-1]["type"] == "RUN_FINISHED"
    assert events[-1]["outcome"] == {"type": "cancelled"}


def test_empty_run_is_started_and_finished() -> None:
    assert [e["type"] for e in ag_ui_events([Done()])] == ["RUN_STARTED", "RUN_FINISHED"]


def test_last_block_of_each_event_carries_its_id() -> None:
    body = wire(encoder(), stored(EVERY_TYPE))
    for seq, event_type, data in stored(EVERY_TYPE):
        chunk = encoder_after(seq - 1).encode(seq, event_type, data)
        assert chunk.count(b"id: ") == 1
        assert f"id: {SID}:{seq}\n".encode() in chunk.rsplit(b"\n\n", 2)[-2] + b"\n"
        assert chunk in body


def encoder_after(cursor: int) -> AGUIEncoder:
    enc = encoder()
    for seq, event_type, data in stored(EVERY_TYPE):
        if seq <= cursor:
            enc.skip(seq, event_type, data)
    return enc


def test_input_required_ends_the_ag_ui_run_with_an_interrupt_and_pauses() -> None:
    approval = InputRequired(
        request_id="rq_9",
        prompt="Run search?",
        choices=["approve", "deny"],
        tool_name="search",
        tool_use_id="tu_9",
        tool_input={"q": "x"},
        expires_at="2030-01-01T00:00:00Z",
    )
    run: list[AgentEvent] = [Turn(turn_number=1), Token(text="Let me check. "), approval]
    enc = encoder()
    for seq, event_type, data in stored(run):
        enc.encode(seq, event_type, data)
    assert enc.is_paused and not enc.is_finished
    events = ag_ui_events(run)
    kinds = [e["type"] for e in events]
    assert kinds[-3:] == ["TEXT_MESSAGE_END", "STEP_FINISHED", "RUN_FINISHED"]
    (interrupt,) = events[-1]["outcome"]["interrupts"]
    assert interrupt["reason"] == "tool_approval" and interrupt["toolCallId"] == "tu_9"
    assert interrupt["expiresAt"] == "2030-01-01T00:00:00Z"
    assert interrupt["metadata"]["agent_stream"]["tool_input"] == {"q": "x"}
    check_schema(events[-1])
    # the answer's run: a new RUN_STARTED with the encoder's (the resuming request's) run id
    later = AGUIEncoder(SID, thread_id="thread-1", run_id="run-2")
    for seq, event_type, data in stored(run):
        later.skip(seq, event_type, data)
    states = [later.is_paused]
    body = later.encode(4, "token", b'{"text":"ok"}')
    states.append(later.is_paused)
    assert states == [True, False]
    first = msgspec.json.decode(decoded(body)[0].data)
    assert first == {"type": "RUN_STARTED", "threadId": "thread-1", "runId": "run-2"}


def test_priming_block_names_the_cursor_and_is_not_dispatched() -> None:
    enc = encoder()
    assert enc.priming(7) == f"id: {SID}:7\nretry: 1000\n\n".encode()
    assert decoded(enc.priming(7)) == []


@pytest.mark.parametrize("name", sorted(ALL_RUNS))
def test_resume_from_every_seq_sends_exactly_the_rest(name: str) -> None:
    events = stored(ALL_RUNS[name])
    full = wire(encoder(), events)
    for after in range(len(events) + 1):
        resumed = wire(encoder(), events, after=after)
        priming = encoder().priming(after)
        assert full.endswith(resumed[len(priming) :])
        continuing = encoder_after_run(events, after)
        rest = b"".join(continuing.encode(*e) for e in events[after:])
        assert resumed == priming + rest


def encoder_after_run(events: list[tuple[int, str, bytes]], after: int) -> AGUIEncoder:
    enc = encoder()
    for seq, event_type, data in events[:after]:
        enc.skip(seq, event_type, data)
    return enc


_texts = st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=12)
_events = st.lists(
    st.one_of(
        st.builds(Token, text=_texts),
        st.builds(Token, text=_texts, message_id=st.sampled_from(["a", "b"])),
        st.builds(Thinking, text=_texts),
        st.builds(Turn, turn_number=st.integers(1, 3)),
        st.builds(ToolUse, tool_name=st.just("t"), tool_use_id=st.sampled_from(["1", "2"])),
        st.builds(ToolResult, tool_name=st.just("t"), tool_use_id=st.sampled_from(["1", "2"])),
    ),
    max_size=25,
)


@settings(max_examples=150, deadline=None)
@given(_events, st.sampled_from(["completed", "error", "cancelled", "interrupted"]))
def test_any_run_is_valid_and_resumable(events: list[AgentEvent], reason: str) -> None:
    run = [*events, Done(reason=reason)]  # type: ignore[arg-type]
    out = ag_ui_events(run)
    for event in out:
        check_schema(event)
    check_order(out)
    triples = stored(run)
    full = wire(encoder(), triples)
    after = len(triples) // 2
    resumed = wire(encoder(), triples, after=after)
    assert full.endswith(resumed[len(encoder().priming(after)) :])


def test_token_counts_of_done_are_run_finished_usage() -> None:
    done = Done(
        model="claude-x",
        input_tokens=120,
        output_tokens=30,
        cache_read_tokens=100,
        cache_write_tokens=15,
    )
    finished = ag_ui_events([Token(text="hi"), done])[-1]
    check_schema(finished)
    # both count prompt tokens the same way: cache reads and writes are parts of input
    assert finished["usage"] == [
        {
            "model": "claude-x",
            "inputTokens": 120,
            "outputTokens": 30,
            "totalTokens": 150,
            "cachedInputTokens": 100,
            "cacheWriteInputTokens": 15,
        }
    ]
    only_output = ag_ui_events([Done(output_tokens=7)])[-1]
    assert only_output["usage"] == [{"outputTokens": 7}]  # no total: input was not reported
    assert "usage" not in ag_ui_events([Done(model="m")])[-1]  # no counts: no usage
    refused = ag_ui_events([Done(input_tokens=-1, output_tokens=2**53)])[-1]
    check_schema(refused)
    assert "usage" not in refused  # counts AG-UI's schema refuses are left out
