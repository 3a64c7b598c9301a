from __future__ import annotations

import inspect
import json
import re
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent_stream.emitter import (
    AgentStreamEmitter,
    check_stream_id,
    format_event_id,
    new_stream_id,
    parse_event_id,
)
from agent_stream.errors import UsageError
from agent_stream.events import Reconnect, Start, Token, UnknownEvent
from agent_stream.framing import encode_frame_bytes

ORIGINAL_METHODS = [
    "token",
    "thinking",
    "tool_use",
    "tool_result",
    "turn",
    "progress",
    "creation",
    "error",
    "done",
]

# The same calls made on the original 0.1 emitter and ours: positional and keyword forms,
# defaults, non-ASCII text, nested details.
CALLS: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = [
    ("token", ("Hello",), {}),
    ("token", ('ünïcödé 世界 😀\n"quoted" \\ </script>\u2028',), {}),
    ("token", ("",), {}),
    ("thinking", ("Let me think…",), {}),
    ("tool_use", ("search", "tu_1"), {}),
    ("tool_use", ("search", "tu_1", "query=foo"), {}),
    ("tool_use", ("search",), {"tool_use_id": "tu_2", "input_summary": "q"}),
    ("tool_result", ("search", "tu_1"), {}),
    ("tool_result", ("search", "tu_1", "3 results", 120), {}),
    ("tool_result", ("search", "tu_1", "boom", 5, True), {}),
    ("tool_result", ("search", "tu_1"), {"is_error": True, "duration_ms": 9}),
    ("turn", (1,), {}),
    ("turn", (2, 5), {}),
    ("progress", ("fetch", 50, "Halfway"), {}),
    ("progress", ("fetch", 99.5, "Almost", {"files": 3, "of": [1, 2]}), {}),
    ("creation", ("file", 2), {}),
    ("creation", ("file", 1, "tu_1", [{"name": "a.txt", "size": 3}]), {}),
    ("error", ("RuntimeError", "boom"), {}),
    ("error", ("RuntimeError", "boom", {"retry": True, "n": None}), {}),
    ("done", (), {}),
    ("done", ("msg_1", 2, 3, 4500, "claude", 0.0123), {}),
    ("done", (), {"message_id": "m", "model": "x", "total_cost_usd": 1}),
]


def split_frame(frame: str) -> tuple[dict[str, str], Any]:
    assert frame.endswith("\n\n")
    lines = frame[:-2].split("\n")
    fields = dict(line.split(": ", 1) for line in lines)
    return fields, json.loads(fields["data"])


@pytest.mark.parametrize(("method", "args", "kwargs"), CALLS)
def test_data_json_equals_the_original(
    original_emitter_module: ModuleType,
    method: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> None:
    original = getattr(original_emitter_module.AgentStreamEmitter(), method)(*args, **kwargs)
    ours = getattr(AgentStreamEmitter(), method)(*args, **kwargs)
    (original_fields, original_data), (our_fields, our_data) = (
        split_frame(original),
        split_frame(ours),
    )
    assert our_data == original_data
    assert list(our_fields) == ["event", "data"] == list(original_fields)
    assert our_fields["event"] == original_fields["event"] == method
    # Same keys in the same order, so even a byte-minded reader sees the same object.
    assert list(our_data) == list(original_data)


@pytest.mark.parametrize("method", ORIGINAL_METHODS)
def test_signatures_keep_the_original_names_defaults_and_order(
    original_emitter_module: ModuleType, method: str
) -> None:
    original = inspect.signature(getattr(original_emitter_module.AgentStreamEmitter, method))
    ours = inspect.signature(getattr(AgentStreamEmitter, method))
    original_params = list(original.parameters.values())
    our_positional = [
        p for p in ours.parameters.values() if p.kind is not inspect.Parameter.KEYWORD_ONLY
    ]
    assert [(p.name, p.default, p.kind) for p in our_positional] == [
        (p.name, p.default, p.kind) for p in original_params
    ]
    added = [p for p in ours.parameters.values() if p.kind is inspect.Parameter.KEYWORD_ONLY]
    assert all(p.default is not inspect.Parameter.empty for p in added)


def test_frames_are_numbered_from_one_with_the_stream_id() -> None:
    emitter = AgentStreamEmitter("stream_A-1")
    frames = [emitter.token("a"), emitter.thinking("b"), emitter.done()]
    assert [split_frame(f)[0]["id"] for f in frames] == [
        "stream_A-1:1",
        "stream_A-1:2",
        "stream_A-1:3",
    ]
    assert emitter.seq == 3
    assert frames[0] == 'id: stream_A-1:1\nevent: token\ndata: {"text":"a"}\n\n'


def test_start_seq_continues_a_stream() -> None:
    emitter = AgentStreamEmitter("s", start_seq=41)
    assert emitter.seq == 40
    assert emitter.token("x").startswith("id: s:41\n")
    with pytest.raises(UsageError):
        AgentStreamEmitter("s", start_seq=0)


def test_without_a_stream_id_frames_have_no_id_like_the_original() -> None:
    emitter = AgentStreamEmitter()
    assert emitter.token("a") == 'event: token\ndata: {"text":"a"}\n\n'
    assert emitter.seq == 1


def test_emit_and_emit_bytes_agree_with_the_methods() -> None:
    a, b, c = AgentStreamEmitter("s"), AgentStreamEmitter("s"), AgentStreamEmitter("s")
    assert a.token("é") == b.emit(Token(text="é")) == c.emit_bytes(Token(text="é")).decode()
    assert c.emit_bytes(Token(text="x")) == b'id: s:2\nevent: token\ndata: {"text":"x"}\n\n'


def test_message_id_goes_through_the_typed_path() -> None:
    frame = AgentStreamEmitter().token("a", message_id="m1")
    assert split_frame(frame)[1] == {"text": "a", "message_id": "m1"}


def test_added_keyword_fields() -> None:
    emitter = AgentStreamEmitter()
    assert split_frame(emitter.tool_use("t", "u", input={"q": 1}))[1]["input"] == {"q": 1}
    assert split_frame(emitter.tool_result("t", "u", output=[1]))[1]["output"] == [1]
    assert split_frame(emitter.done(reason="cancelled"))[1]["reason"] == "cancelled"
    frame = AgentStreamEmitter().input_required("r1", "Pick one", ["a", "b"], respond_url="/x")
    fields, data = split_frame(frame)
    assert fields["event"] == "input_required"
    assert data == {
        "request_id": "r1",
        "prompt": "Pick one",
        "choices": ["a", "b"],
        "respond_url": "/x",
    }


emit_calls: list[Callable[[AgentStreamEmitter], object]] = [
    lambda e: e.token("late"),
    lambda e: e.token("late", message_id="m"),
    lambda e: e.thinking("late"),
    lambda e: e.tool_use("t", "u"),
    lambda e: e.done(),
    lambda e: e.emit(Token(text="x")),
    lambda e: e.emit_bytes(Token(text="x")),
]


@pytest.mark.parametrize("call", emit_calls)
def test_emit_after_done_is_a_usage_error(call: Callable[[AgentStreamEmitter], object]) -> None:
    emitter = AgentStreamEmitter("s")
    emitter.done()
    with pytest.raises(UsageError, match="after 'done'") as caught:
        call(emitter)
    assert caught.value.code == "emit-after-done"
    assert emitter.seq == 1
    assert emitter.is_done


@pytest.mark.parametrize(
    "stream_id",
    ["", "has space", "new\nline", "cr\rx", "nul\x00", "colon:x", "é", "x" * 129, "a/b"],
)
def test_invalid_stream_ids_are_usage_errors(stream_id: str) -> None:
    with pytest.raises(UsageError) as caught:
        AgentStreamEmitter(stream_id)
    assert caught.value.code == "invalid-stream-id"
    with pytest.raises(UsageError):
        check_stream_id(stream_id)


@pytest.mark.parametrize("text", ["\ud800", "a\udfffb", "\ud83d"])
def test_lone_surrogates_are_usage_errors(text: str) -> None:
    emitter = AgentStreamEmitter("s")
    for call in (emitter.token, emitter.thinking, lambda t: emitter.error("E", t)):
        with pytest.raises(UsageError) as caught:
            call(text)
        assert caught.value.code == "invalid-text"
    assert emitter.seq == 0


def test_transport_events_are_not_emitted_by_agents() -> None:
    emitter = AgentStreamEmitter("s")
    for event in (Start(stream_id="s"), Reconnect()):
        with pytest.raises(UsageError) as caught:
            emitter.emit(event)
        assert caught.value.code == "transport-event"


@pytest.mark.parametrize("name", ["bad\nname", "bad\r", "nul\x00", "", "with space", "x" * 129])
def test_unknown_event_names_cannot_inject_fields(name: str) -> None:
    with pytest.raises(UsageError) as caught:
        AgentStreamEmitter().emit(UnknownEvent(name, {}))
    assert caught.value.code == "invalid-event-name"


def test_custom_event_types_are_emitted() -> None:
    frame = AgentStreamEmitter("s").emit(UnknownEvent("x-vendor.citation", {"url": "u"}))
    assert frame == 'id: s:1\nevent: x-vendor.citation\ndata: {"url":"u"}\n\n'


def test_new_stream_ids_are_unguessable_and_valid() -> None:
    ids = {new_stream_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{22}", i) for i in ids)


def test_event_ids_format_and_parse() -> None:
    assert format_event_id("abc", 7) == "abc:7"
    assert parse_event_id("abc:7") == ("abc", 7)
    assert parse_event_id("abc:0") == ("abc", 0)
    for bad in [
        "abc",
        "abc:",
        ":1",
        "abc:01",
        "abc:-1",
        "abc:1:2",
        "a b:1",
        "abc:1\n",
        "a:" + "9" * 19,
    ]:
        assert parse_event_id(bad) is None, bad


def test_encode_frame_bytes() -> None:
    assert encode_frame_bytes("token", b'{"text":"a"}') == b'event: token\ndata: {"text":"a"}\n\n'
    assert encode_frame_bytes("done", b"{}", "s:3") == b"id: s:3\nevent: done\ndata: {}\n\n"


@given(st.text(st.characters(exclude_categories=["Cs"])))
def test_any_token_text_is_one_frame_with_one_data_line(text: str) -> None:
    frame = AgentStreamEmitter("s").token(text)
    _, data = split_frame(frame)
    assert data == {"text": text}
    assert frame.count("\n") == 4
