"""Text that continues an open part (most events) is sent by cutting its JSON string out of the
stored data, not by decoding and re-encoding it: for every event the bytes equal those of the
decoding path (``encode_event(seq, parse_event(...))``), on the benchmark corpus and on any text."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent_stream.bridges.ag_ui import AGUIEncoder
from agent_stream.bridges.ai_sdk import AISDKEncoder
from agent_stream.events import (
    AgentEvent,
    Done,
    DoneReason,
    Error,
    Progress,
    Thinking,
    Token,
    ToolResult,
    ToolUse,
    Turn,
    encode_data,
    parse_event,
)

from .runs import ALL_RUNS, Stored, decoded, stored, wire

SID = "s_AbC-123"
Encoder = AISDKEncoder | AGUIEncoder
ENCODERS: dict[str, Callable[[], Encoder]] = {
    "ai-sdk": lambda: AISDKEncoder(SID),
    "ag-ui": lambda: AGUIEncoder(SID, thread_id="t", run_id="r"),
}


def by_decoding(make: Callable[[], Encoder], events: Sequence[Stored]) -> list[bytes]:
    """Each event decoded to its type, its blocks encoded from it: the path with no cuts."""
    encoder = make()
    return [encoder.encode_event(seq, parse_event(kind, data)) for seq, kind, data in events]


def by_cutting(make: Callable[[], Encoder], events: Sequence[Stored]) -> list[bytes]:
    encoder = make()
    return [encoder.encode(seq, kind, data) for seq, kind, data in events]


def assert_same_bytes(make: Callable[[], Encoder], events: Sequence[Stored]) -> None:
    expected = by_decoding(make, events)
    assert by_cutting(make, events) == expected
    full = b"".join(expected)
    for after in {0, 1, len(events) // 2, len(events) - 1}:
        priming = make().priming(after)
        # a resume skips the first events (cutting too), then sends exactly the rest
        assert wire(make(), events, after=after)[len(priming) :] == b"".join(expected[after:])
    assert decoded(make().priming(0) + full)  # parses as SSE


def _bench_corpus() -> ModuleType:
    path = Path(__file__).resolve().parents[2] / "bench" / "corpus.py"
    spec = importlib.util.spec_from_file_location("bench_corpus", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", sorted(ENCODERS))
def test_the_benchmark_corpus_gives_the_same_bytes(name: str) -> None:
    corpus = _bench_corpus().corpus_events(20_000)
    events = stored([parse_event(kind, data) for kind, data in corpus])
    kinds = {kind for _, kind, _ in events}
    assert {"token", "thinking", "tool_use", "tool_result", "turn", "progress", "done"} <= kinds
    assert_same_bytes(ENCODERS[name], events)


@pytest.mark.parametrize("name", sorted(ENCODERS))
@pytest.mark.parametrize("run", sorted(ALL_RUNS))
def test_every_run_gives_the_same_bytes(name: str, run: str) -> None:
    assert_same_bytes(ENCODERS[name], stored(ALL_RUNS[run]))


# Text that breaks a naive cut: quotes and backslashes (escaped), the very bytes that end a
# text in the data, control characters, line separators, emoji and other multibyte UTF-8.
_TRICKY = [
    '"',
    "\\",
    '\\"',
    '","message_id":"a"}',
    ',"message_id":',
    '"}',
    ",",
    "\n",
    "\r\n",
    "\t",
    "\x00",
    "\x1f",
    "\x7f",
    "\u2028",
    "\u2029",
    "é",
    "中文",
    "🙂",
    "👩‍👩‍👧",
    "\ufeff",
    "",
    "plain words ",
]
_texts = st.lists(
    st.one_of(
        st.sampled_from(_TRICKY), st.text(st.characters(blacklist_categories=["Cs"]), max_size=4)
    ),
    max_size=5,
).map("".join)
_ids = st.sampled_from(["a", "b", "", 'q"uote', "back\\slash", "é🙂"])
_events = st.lists(
    st.one_of(
        st.builds(Token, text=_texts),
        st.builds(Token, text=_texts, message_id=_ids),
        st.builds(Thinking, text=_texts),
        st.builds(Thinking, text=_texts, message_id=_ids),
        st.builds(Turn, turn_number=st.integers(1, 3)),
        st.builds(ToolUse, tool_name=st.just("t"), tool_use_id=st.just("1")),
        st.builds(ToolResult, tool_name=st.just("t"), tool_use_id=st.just("1")),
        st.builds(Progress, step=st.just("s"), percentage=st.integers(0, 100)),
        st.builds(Error, error_type=st.just("E"), message=_texts),
    ),
    max_size=30,
)


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(sorted(ENCODERS)),
    _events,
    st.sampled_from(["completed", "error", "cancelled", "interrupted"]),
)
def test_any_text_gives_the_same_bytes(
    name: str, events: list[AgentEvent], reason: DoneReason
) -> None:
    assert_same_bytes(ENCODERS[name], stored([*events, Done(reason=reason)]))


@pytest.mark.parametrize("name", sorted(ENCODERS))
@pytest.mark.parametrize(
    "data",
    [
        b'{"message_id":"m","text":"other order"}',
        b'{"text":"more fields","message_id":"m","x":1}',
        b'{"text":"more fields","x":[1,","]}',
        b'{"x":{"text":"nested"},"text":"first is not text"}',
        b'{"text":"another message","message_id":"n"}',
        b'{"text":"","message_id":"m"}',
    ],
)
def test_data_laid_out_otherwise_is_decoded(name: str, data: bytes) -> None:
    # compact JSON, but not as encode_data writes a token: the same bytes as decoding gives
    events: list[Stored] = [
        (1, "token", encode_data(Token(text="first", message_id="m"))),
        (2, "token", data),
        (3, "thinking", data),
        (4, "thinking", data),
        (5, "token", data),
    ]
    assert_same_bytes(ENCODERS[name], events)


@pytest.mark.parametrize("name", sorted(ENCODERS))
@pytest.mark.parametrize("kind", ["token", "thinking"])
@pytest.mark.parametrize("message_id", ["m", None])
def test_text_goes_out_as_stored(name: str, kind: str, message_id: str | None) -> None:
    # json.dumps escapes all non-ASCII: the text's JSON string is cut from the data as it is
    # (not decoded and encoded again, which would write UTF-8), and holds the same text
    fields = {"text": "café 🙂 \u2028"} | ({"message_id": message_id} if message_id else {})
    data = json.dumps(fields, separators=(",", ":")).encode()
    first: AgentEvent = Thinking(text="1") if kind == "thinking" else Token(text="1")
    if kind == "token" and message_id is not None:
        first = Token(text="1", message_id=message_id)  # opens the part of that message
    events: list[Stored] = [(1, kind, encode_data(first)), (2, kind, data), (3, kind, data)]
    for cut, again in zip(
        by_cutting(ENCODERS[name], events)[1:], by_decoding(ENCODERS[name], events)[1:], strict=True
    ):
        assert b"caf\\u00e9 \\ud83d\\ude42 \\u2028" in cut
        assert [msgspec.json.decode(ev.data) for ev in decoded(cut)] == [
            msgspec.json.decode(ev.data) for ev in decoded(again)
        ]


def test_text_events_hold_text_and_message_id_only() -> None:
    # the cut relies on these two fields being all a token or a thinking carries
    for kind in (Token, Thinking):
        assert kind.__struct_fields__ == ("text", "message_id")
