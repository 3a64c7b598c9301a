from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent_stream.errors import InvalidEventError, ProtocolError, UsageError
from agent_stream.events import (
    EVENT_TYPES,
    UNSET,
    AgentEvent,
    Creation,
    Done,
    Error,
    InputRequired,
    InputResponse,
    Progress,
    Reconnect,
    Start,
    Thinking,
    Token,
    ToolResult,
    ToolUse,
    Turn,
    UnknownEvent,
    encode_data,
    event_to_dict,
    parse_event,
)

SAMPLES: list[tuple[str, dict[str, Any], AgentEvent]] = [
    ("token", {"text": "hi 😀\n"}, Token(text="hi 😀\n")),
    ("token", {"text": "a", "message_id": "m"}, Token(text="a", message_id="m")),
    ("thinking", {"text": "hm"}, Thinking(text="hm")),
    (
        "tool_use",
        {"tool_name": "t", "tool_use_id": "u", "input_summary": "s", "status": "running"},
        ToolUse(tool_name="t", tool_use_id="u", input_summary="s"),
    ),
    (
        "tool_use",
        {"tool_name": "t", "tool_use_id": "u", "input": {"q": [1, None]}},
        ToolUse(tool_name="t", tool_use_id="u", input={"q": [1, None]}),
    ),
    (
        "tool_result",
        {"tool_name": "t", "tool_use_id": "u", "duration_ms": 5, "status": "error"},
        ToolResult(tool_name="t", tool_use_id="u", duration_ms=5, status="error"),
    ),
    ("turn", {"turn_number": 2}, Turn(turn_number=2)),
    (
        "progress",
        {"step": "s", "percentage": 12.5, "message": "m", "sub_progress": {"a": 1}},
        Progress(step="s", percentage=12.5, message="m", sub_progress={"a": 1}),
    ),
    (
        "creation",
        {"creation_type": "file", "count": 1, "items": [{"n": 1}]},
        Creation(creation_type="file", count=1, items=[{"n": 1}]),
    ),
    ("error", {"error_type": "E", "message": "m"}, Error(error_type="E", message="m")),
    ("done", {}, Done()),
    ("done", {"reason": "cancelled", "synthetic": True}, Done(reason="cancelled", synthetic=True)),
    (
        "input_required",
        {"request_id": "r", "prompt": "p", "choices": ["a"], "schema": {"type": "string"}},
        InputRequired(request_id="r", prompt="p", choices=["a"], schema={"type": "string"}),
    ),
    (
        "input_response",
        {"request_id": "r", "answer": {"city": "Faro"}},
        InputResponse(request_id="r", answer={"city": "Faro"}),
    ),
    (
        "input_response",
        {"request_id": "r", "status": "expired"},
        InputResponse(request_id="r", status="expired"),
    ),
    ("start", {"stream_id": "s", "resumed": True}, Start(stream_id="s", resumed=True)),
    ("reconnect", {}, Reconnect()),
]


@pytest.mark.parametrize(("event_type", "data", "expected"), SAMPLES)
def test_parse_each_type_from_dict_str_and_bytes(
    event_type: str, data: dict[str, Any], expected: AgentEvent
) -> None:
    text = json.dumps(data)
    assert parse_event(event_type, data) == expected
    assert parse_event(event_type, text) == expected
    assert parse_event(event_type, text.encode()) == expected
    assert expected.type == event_type


def test_every_type_has_a_sample() -> None:
    assert {event_type for event_type, _, _ in SAMPLES} == set(EVENT_TYPES)


@pytest.mark.parametrize(("event_type", "data", "expected"), SAMPLES)
def test_round_trip_through_json(
    event_type: str, data: dict[str, Any], expected: AgentEvent
) -> None:
    encoded = encode_data(expected)
    assert b"\n" not in encoded and b"\r" not in encoded
    assert parse_event(event_type, encoded) == expected
    assert json.loads(encoded) == event_to_dict(expected)


def test_defaults_of_the_original_are_written_out() -> None:
    assert json.loads(encode_data(ToolUse(tool_name="t", tool_use_id="u"))) == {
        "tool_name": "t",
        "tool_use_id": "u",
        "input_summary": "",
        "status": "running",
    }
    assert json.loads(encode_data(Done())) == {
        "message_id": "",
        "num_turns": 0,
        "tool_count": 0,
        "duration_ms": 0,
        "model": "",
        "total_cost_usd": 0.0,
    }


@pytest.mark.parametrize(
    ("event_type", "data", "field"),
    [
        ("token", {}, "$.text"),
        ("token", {"text": 1}, "$.text"),
        ("tool_use", {"tool_name": "t"}, "$.tool_use_id"),
        ("tool_result", {"tool_name": "t", "tool_use_id": "u", "status": "ok"}, "$.status"),
        ("creation", {"creation_type": "f", "count": 1, "items": [1]}, "$.items[0]"),
        ("done", {"reason": "finished"}, "$.reason"),
        ("progress", {"step": "s", "message": "m"}, "$.percentage"),
        ("token", [], "$"),
    ],
)
def test_invalid_data_names_the_field(event_type: str, data: object, field: str) -> None:
    with pytest.raises(InvalidEventError) as caught:
        parse_event(event_type, json.dumps(data))
    assert caught.value.field == field
    assert caught.value.event_type == event_type
    assert caught.value.code == "invalid-event"
    if field != "$":
        assert field.rsplit(".", 1)[-1].split("[")[0] in str(caught.value)


def test_invalid_dict_names_the_field_too() -> None:
    with pytest.raises(InvalidEventError) as caught:
        parse_event("turn", {"turn_number": "one"})
    assert caught.value.field == "$.turn_number"


@pytest.mark.parametrize("data", [b"{", "not json", b"\xff\xfe", ""])
def test_data_that_is_not_json_is_a_protocol_error(data: bytes | str) -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_event("token", data)
    assert caught.value.code == "invalid-json"
    assert not isinstance(caught.value, InvalidEventError)


def test_unknown_types_are_kept_with_their_data() -> None:
    assert parse_event("citation", '{"url": "u"}') == UnknownEvent("citation", {"url": "u"})
    assert parse_event("citation", {"url": "u"}) == UnknownEvent("citation", {"url": "u"})
    assert parse_event("x", "[1, 2]") == UnknownEvent("x", [1, 2])
    assert parse_event("x", [1, 2]) == UnknownEvent("x", [1, 2])
    assert encode_data(UnknownEvent("x", [1])) == b"[1]"
    assert event_to_dict(UnknownEvent("x", {"a": 1})) == {"a": 1}
    assert event_to_dict(UnknownEvent("x", 5)) == {"value": 5}


def test_extra_fields_are_tolerated() -> None:
    event = parse_event("token", {"text": "a", "new": {"deep": [1]}})
    assert event == Token(text="a")


def test_unset_optional_fields_are_left_out() -> None:
    assert encode_data(Token(text="a")) == b'{"text":"a"}'
    assert Token(text="a").message_id is UNSET
    assert event_to_dict(Progress(step="s", percentage=1, message="m")) == {
        "step": "s",
        "percentage": 1,
        "message": "m",
    }


def test_events_are_frozen() -> None:
    event = Token(text="a")
    with pytest.raises(AttributeError):
        event.text = "b"  # type: ignore[misc]


def test_lone_surrogates_are_a_usage_error() -> None:
    with pytest.raises(UsageError) as caught:
        encode_data(Token(text="a\ud800b"))
    assert caught.value.code == "invalid-text"


def test_values_json_cannot_hold_become_strings_like_the_original() -> None:
    class Thing:
        def __str__(self) -> str:
            return "thing!"

    error = Error(error_type="E", message="m", details={"obj": Thing()})  # type: ignore[dict-item]
    assert json.loads(encode_data(error))["details"] == {"obj": "thing!"}


@given(st.text(st.characters(exclude_categories=["Cs"])))
def test_any_text_round_trips_on_one_line(text: str) -> None:
    encoded = encode_data(Token(text=text))
    assert b"\n" not in encoded and b"\r" not in encoded
    assert parse_event("token", encoded) == Token(text=text)
    assert msgspec.json.decode(encoded) == {"text": text}
