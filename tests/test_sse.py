"""SSEDecoder and the frame encoder: properties over any input and any chunking.

A deliberately plain model of the WHATWG algorithm (whole input, one character at a time) is
the oracle; the decoder must agree with it however the bytes are cut.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent_stream.errors import ProtocolError, UsageError
from agent_stream.framing import encode_comment, encode_frame
from agent_stream.sse import (
    ServerSentEvent,
    SSEDecoder,
    check_event_id,
    check_event_name,
    parse_frame,
)

# Per test, not a loaded profile: a profile would change other files' hypothesis tests too.
examples = settings(max_examples=150, deadline=None)

Event = tuple[str, str, str, int | None]


def reference(stream: bytes) -> tuple[list[Event], str, int | None]:
    """WHATWG "interpreting an event stream", written for clarity over the whole input."""
    text = stream.decode("utf-8", "replace")
    if text.startswith("\ufeff"):
        text = text[1:]
    lines: list[str] = []
    current: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "\r" or char == "\n":
            lines.append("".join(current))
            current = []
            if char == "\r" and text[i + 1 : i + 2] == "\n":
                i += 1
        else:
            current.append(char)
        i += 1
    # The unterminated last line (in ``current``) is not a line: dropped at end of stream.
    events: list[Event] = []
    data: list[str] = []
    event_type = ""
    id_buffer = ""
    last_event_id = ""
    retry: int | None = None
    block_retry: int | None = None
    for line in lines:
        if line == "":
            last_event_id = id_buffer
            if data:
                events.append((event_type or "message", "\n".join(data), id_buffer, block_retry))
            data, event_type, block_retry = [], "", None
            continue
        if line.startswith(":"):
            continue
        if ":" in line:
            name, value = line.split(":", 1)
            if value.startswith(" "):
                value = value[1:]
        else:
            name, value = line, ""
        if name == "data":
            data.append(value)
        elif name == "event":
            event_type = value
        elif name == "id" and "\x00" not in value:
            id_buffer = value
        elif name == "retry" and re.fullmatch("[0-9]+", value):
            retry = block_retry = int(value)
    return events, last_event_id, retry


def decode(pieces: list[bytes], **options: Any) -> tuple[list[Event], str, int | None]:
    decoder = SSEDecoder(**options)
    out: list[ServerSentEvent] = []
    for piece in pieces:
        out.extend(decoder.feed(piece))
    out.extend(decoder.close())
    return [(e.event, e.data, e.id, e.retry) for e in out], decoder.last_event_id, decoder.retry


def cut(data: bytes, points: list[int]) -> list[bytes]:
    edges = sorted({p % (len(data) + 1) for p in points})
    return [data[a:b] for a, b in zip([0, *edges], [*edges, len(data)], strict=True)]


PIECES = [
    b"data",
    b"event",
    b"id",
    b"retry",
    b"foo",
    b":",
    b": ",
    b" ",
    b"\n",
    b"\r",
    b"\r\n",
    b"\n\n",
    b"x",
    b"42",
    b"-",
    b"\x00",
    b"\xff",
    b"\xef\xbb\xbf",
    "é".encode(),
    "😀".encode(),
    "😀".encode()[:2],
    "\u2028".encode(),
    b"id: s:1\nevent: token\ndata: {}\n\n",
    b"id: s:2\nevent: t\ndata: a\n",
    b"retry: 100\n",
    b": ping\n\n",
    # Every frame shape the decoder's fast path reads, and near misses of it.
    b"event: token\ndata: {}\n\n",
    b'data: {"type":"x"}\n\n',
    b"event: t\nid: s:3\ndata: b\n\n",
    b"id: s:4\r\nevent: t\r\ndata: c\r\n\r\n",
    b"event:t\rdata:d\r\r",
    b"id:\ndata:\n\n",
    b"id: a\nevent: e\nid: b\ndata:  two spaces\n\n",
    b"event: \ndata: e\n\n",
    b"data: a\ndata: b\n\n",
    b"data\n\n",
    b"id: s\x00:5\ndata: f\n\n",
]
streams = st.lists(st.sampled_from(PIECES), max_size=40).map(b"".join)
cut_points = st.lists(st.integers(min_value=0, max_value=10_000), max_size=12)


@examples
@given(stream=streams, points=cut_points)
def test_any_chunking_matches_the_reference(stream: bytes, points: list[int]) -> None:
    expected = reference(stream)
    assert decode([stream]) == expected
    assert decode(cut(stream, points)) == expected


@examples
@given(stream=streams)
def test_byte_by_byte_matches_the_reference(stream: bytes) -> None:
    assert decode([stream[i : i + 1] for i in range(len(stream))]) == reference(stream)


@examples
@given(stream=streams, points=cut_points)
def test_events_arrive_with_the_chunk_that_ends_them(stream: bytes, points: list[int]) -> None:
    # feed() parks chunks that cannot end a blank line: it must never park one that does, so
    # after each chunk the events so far are the reference's for the bytes so far.
    decoder = SSEDecoder()
    got: list[Event] = []
    fed = b""
    for piece in cut(stream, points):
        fed += piece
        got.extend((e.event, e.data, e.id, e.retry) for e in decoder.feed(piece))
        assert got == reference(fed)[0], fed


@examples
@given(stream=streams)
def test_events_arrive_with_the_byte_that_ends_them(stream: bytes) -> None:
    decoder = SSEDecoder()
    got: list[Event] = []
    for i in range(len(stream)):
        got.extend((e.event, e.data, e.id, e.retry) for e in decoder.feed(stream[i : i + 1]))
        assert got == reference(stream[: i + 1])[0], stream[: i + 1]


def test_a_blank_line_split_as_lf_then_crlf_dispatches_at_once() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\n") == []
    assert decoder.feed(b"\r\nid: 2\n") == [ServerSentEvent(data="a")]


def decode_frames(pieces: list[bytes], mix: list[bool]) -> tuple[list[Event], str, int | None]:
    """As :func:`decode` through ``feed_frames``, or ``feed`` for the pieces ``mix`` marks."""
    decoder = SSEDecoder()
    out: list[Event] = []
    for i, piece in enumerate(pieces):
        if mix and mix[i % len(mix)]:
            out.extend((e.event, e.data, e.id, e.retry) for e in decoder.feed(piece))
        else:
            out.extend(decoder.feed_frames(piece))
    out.extend((e.event, e.data, e.id, e.retry) for e in decoder.close())
    return out, decoder.last_event_id, decoder.retry


@examples
@given(
    stream=streams | st.binary(max_size=200),
    points=cut_points,
    mix=st.lists(st.booleans(), max_size=5),
)
def test_feed_frames_agrees_with_feed(stream: bytes, points: list[int], mix: list[bool]) -> None:
    pieces = cut(stream, points)
    expected = decode(pieces)
    assert decode_frames(pieces, []) == expected
    assert decode_frames(pieces, mix) == expected
    assert decode_frames([stream[i : i + 1] for i in range(len(stream))], []) == expected


def test_feed_frames_keeps_events_before_an_error() -> None:
    decoder = SSEDecoder(max_event_bytes=30)
    frames = decoder.feed_frames(b"id: s:1\nevent: t\ndata: a\n\ndata: " + b"x" * 40 + b"\n\n")
    assert frames == [("t", "a", "s:1", None)]
    with pytest.raises(ProtocolError) as raised:
        decoder.feed_frames(b"data: c\n\n")
    assert raised.value.code == "event-too-large"


@examples
@given(stream=st.binary(max_size=200), points=cut_points)
def test_arbitrary_bytes_match_the_reference(stream: bytes, points: list[int]) -> None:
    assert decode(cut(stream, points)) == reference(stream)


# --- encoder -------------------------------------------------------------------------------

valid_text = st.text(st.characters(codec="utf-8"), max_size=60)
line_text = st.text(st.characters(codec="utf-8", exclude_characters="\r\n\x00"), max_size=30)


@examples
@given(
    data=valid_text
    | st.lists(st.sampled_from(["a", "\r", "\n", "\r\n", "\u2028", "\x00", "😀"])).map("".join),
    event=st.none() | line_text,
    event_id=st.none() | line_text,
    retry=st.none() | st.integers(min_value=0, max_value=10**12),
    points=cut_points,
)
def test_encode_then_decode_round_trips(
    data: str, event: str | None, event_id: str | None, retry: int | None, points: list[int]
) -> None:
    frame = encode_frame(data=data, event=event, id=event_id, retry=retry).encode()
    events, last_event_id, retry_in_force = decode(cut(frame, points))
    # Receivers join data lines with LF, so CR and CRLF arrive as LF (WHATWG).
    sent = data.replace("\r\n", "\n").replace("\r", "\n")
    assert events == [(event or "message", sent, event_id or "", retry)]
    assert last_event_id == (event_id or "")
    assert retry_in_force == retry


def test_encode_frame_shape() -> None:
    assert encode_frame(data='{"text":"hi"}', event="token", id="s:1") == (
        'id: s:1\nevent: token\ndata: {"text":"hi"}\n\n'
    )
    assert encode_frame(data="a\r\nb\rc\nd", retry=3000) == (
        "retry: 3000\ndata: a\ndata: b\ndata: c\ndata: d\n\n"
    )
    assert encode_frame(data="") == "data: \n\n"
    assert encode_comment() == ": ping\n\n"
    assert encode_comment("a\nb") == ": a\n: b\n\n"


@examples
@given(
    stream=streams,
    comment=st.text(st.characters(codec="utf-8"), max_size=20),
    points=cut_points,
)
def test_comments_change_no_events(stream: bytes, comment: str, points: list[int]) -> None:
    seen: list[str] = []
    framed = encode_comment(comment).encode() + stream
    decoder_events = decode(cut(framed, points), on_comment=seen.append)
    assert decoder_events == reference(framed)
    lines = re.split(r"\r\n|\r|\n", comment)
    assert seen[: len(lines)] == lines


@pytest.mark.parametrize("bad", ["tok\nen", "tok\ren", "\r\n", "a\x00b", "token\n"])
def test_event_names_with_line_breaks_or_nul_are_refused(bad: str) -> None:
    with pytest.raises(UsageError) as info:
        encode_frame(data="x", event=bad)
    assert info.value.code == "invalid-field"
    assert repr(bad)[:20] in str(info.value)
    assert "event names are single-line tokens such as 'token'" in str(info.value)
    with pytest.raises(UsageError):
        check_event_name(bad)


def test_event_name_message_names_the_value_and_the_fix() -> None:
    with pytest.raises(UsageError) as info:
        check_event_name("tok\nen")
    assert str(info.value) == (
        "event name 'tok\\nen' contains a newline; "
        "event names are single-line tokens such as 'token'"
    )


@examples
@given(
    good=line_text,
    bad=st.sampled_from(["\r", "\n", "\x00"]),
    at=st.integers(min_value=0, max_value=30),
)
def test_ids_with_line_breaks_or_nul_are_refused(good: str, bad: str, at: int) -> None:
    event_id = good[:at] + bad + good[at:]
    with pytest.raises(UsageError) as info:
        encode_frame(data="x", id=event_id)
    assert info.value.code == "invalid-field"
    with pytest.raises(UsageError):
        check_event_id(event_id)
    assert check_event_id(good) == good


@pytest.mark.parametrize(
    ("data", "event", "event_id"),
    [("a\ud800b", None, None), ("x", "\udfff", None), ("x", None, "1\ud83d")],
)
def test_lone_surrogates_are_refused(data: str, event: str | None, event_id: str | None) -> None:
    with pytest.raises(UsageError, match="lone surrogate") as info:
        encode_frame(data=data, event=event, id=event_id)
    assert info.value.code == "invalid-text"
    with pytest.raises(UsageError, match="lone surrogate"):
        encode_comment("\udc80")


@pytest.mark.parametrize("retry", [-1, 1.5, True, "10"])
def test_bad_retry_is_refused(retry: Any) -> None:
    with pytest.raises(UsageError, match="retry"):
        encode_frame(data="x", retry=retry)


# --- limits, errors, lifecycle -------------------------------------------------------------


@examples
@given(size=st.integers(min_value=1, max_value=300), points=cut_points)
def test_max_event_bytes_is_enforced_for_any_chunking(size: int, points: list[int]) -> None:
    limit = 64
    stream = b"data: ok\n\ndata: " + b"x" * size + b"\n\n"
    pieces = cut(stream, points)
    if size + 6 <= limit:
        assert decode(pieces, max_event_bytes=limit)[0] == [
            ("message", "ok", "", None),
            ("message", "x" * size, "", None),
        ]
        return
    decoder = SSEDecoder(max_event_bytes=limit)
    got: list[ServerSentEvent] = []
    with pytest.raises(ProtocolError) as info:
        for piece in pieces:
            got.extend(decoder.feed(piece))
        got.extend(decoder.close())
    assert info.value.code == "event-too-large"
    assert got == [ServerSentEvent(data="ok")]


def test_error_after_events_in_the_same_chunk_is_raised_next_call() -> None:
    decoder = SSEDecoder(max_event_bytes=16)
    events = decoder.feed(b"data: a\n\ndata: b\n\ndata: " + b"x" * 40 + b"\n\n")
    assert [e.data for e in events] == ["a", "b"]
    with pytest.raises(ProtocolError) as info:
        decoder.feed(b"data: c\n\n")
    assert info.value.code == "event-too-large"
    assert "max_event_bytes=16" in str(info.value)
    with pytest.raises(ProtocolError) as again:
        decoder.close()
    assert again.value is info.value


def test_error_with_no_events_in_the_chunk_is_raised_at_once() -> None:
    decoder = SSEDecoder(strict_utf8=True)
    with pytest.raises(ProtocolError) as info:
        decoder.feed(b"data: \xff\n\n")
    assert info.value.code == "invalid-utf8"
    assert "strict_utf8=False" in str(info.value)
    with pytest.raises(ProtocolError):
        decoder.feed(b"x")  # the parking path refuses too


def test_a_huge_line_fed_in_tiny_slices_stays_linear() -> None:
    """4 MiB in 16-byte slices: re-joining the line per slice would take hours, not ms."""
    decoder = SSEDecoder(max_event_bytes=8 << 20)
    assert decoder.feed(b"data: ") == []
    slice_ = b"0123456789abcdef"
    for _ in range((4 << 20) // len(slice_)):
        assert decoder.feed(slice_) == []
    (event,) = decoder.feed(b"\n\n")
    assert len(event.data) == 4 << 20


def test_pending_bytes_without_a_line_end_are_bounded() -> None:
    decoder = SSEDecoder(max_event_bytes=1000)
    with pytest.raises(ProtocolError, match="max_event_bytes=1000"):
        for _ in range(1000):
            decoder.feed(b"abc")


def test_feed_after_close_is_a_usage_error() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\n\ndata: b\n") == [ServerSentEvent(data="a")]
    assert decoder.close() == []
    assert decoder.close() == []
    for chunk in [b"x", b"\n\n", b""]:
        with pytest.raises(UsageError, match="after close") as info:
            decoder.feed(chunk)
        assert info.value.code == "decoder-closed"


def test_a_cr_ending_a_chunk_ends_its_line_at_once() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\n\r") == [ServerSentEvent(data="a")]
    assert decoder.feed(b"\nretry: 5\r") == []  # that LF was half of a CRLF: no extra line
    assert decoder.close() == []
    assert decoder.retry == 5


def test_retry_and_last_event_id_in_force() -> None:
    decoder = SSEDecoder()
    assert (decoder.retry, decoder.last_event_id) == (None, "")
    decoder.feed(b"retry: 1000\nid: s:0\n\n")
    assert (decoder.retry, decoder.last_event_id) == (1000, "s:0")
    decoder.feed(b"id: s:1\nevent: t\ndata: x\n\nid: s:2\n")
    assert decoder.last_event_id == "s:1"  # s:2's block has not ended
    decoder.close()
    assert decoder.last_event_id == "s:1"


def test_invalid_options_are_refused() -> None:
    with pytest.raises(UsageError, match="max_event_bytes"):
        SSEDecoder(max_event_bytes=0)


def test_server_sent_event_defaults_and_immutability() -> None:
    event = ServerSentEvent(data="x")
    assert (event.event, event.data, event.id, event.retry) == ("message", "x", "", None)
    assert event == ServerSentEvent("message", "x", "", None)
    with pytest.raises(AttributeError):
        event.data = "y"  # type: ignore[misc]
    assert msgspec.json.decode(msgspec.json.encode(event), type=ServerSentEvent) == event


def test_feeding_text_says_to_pass_bytes() -> None:
    with pytest.raises(UsageError, match="takes bytes, got str") as info:
        SSEDecoder().feed("data: x\n\n")  # type: ignore[arg-type]
    assert info.value.code == "invalid-input"
    assert SSEDecoder().feed(bytearray(b"data: x\n\n")) == [ServerSentEvent(data="x")]


@pytest.mark.parametrize(
    "text",
    [
        'id: s:1\nevent: token\ndata: {"text":"a"}\n\n',
        'event: token\ndata: {"text":"a"}\n\n',
        "event: \ndata: x\n\n",
        "event:  spaced\ndata:  two\n\n",
        "id: s:1\x00\nevent: token\ndata: x\n\n",
        "event: token\rdata: x\n\n",
        "event: token\ndata: a\ndata: b\n\n",
        ": ping\n\nevent: token\ndata: x\n\n",
        "\ufeffevent: token\ndata: x\n\n",
        "event: token\ndata: x\n",
        "retry: 5\nevent: token\ndata: x\n\n",
    ],
)
def test_parse_frame_agrees_with_the_decoder_or_declines(text: str) -> None:
    parsed = parse_frame(text)
    events = SSEDecoder().feed(text.encode())
    if parsed is not None:
        assert [(e.event, e.data) for e in events] == [parsed]


@examples
@given(
    st.text(alphabet=st.characters(exclude_characters="\r\n", codec="utf-8")),
    st.text(alphabet=st.characters(codec="utf-8")),
)
def test_parse_frame_of_any_one_line_fields(event: str, data: str) -> None:
    text = f"event: {event}\ndata: {data}\n\n"
    parsed = parse_frame(text)
    if parsed is not None:
        assert [(e.event, e.data) for e in SSEDecoder().feed(text.encode())] == [parsed]
