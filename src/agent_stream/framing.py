"""Wire formats: how stored events become the bytes of a response (sans-I/O).

This is the one module that writes SSE field lines (``id:``, ``event:``, ``data:``,
``retry:``) and comments; a test keeps it so. Everything else hands it events:

- :class:`Framing` is what a connection writes through, one instance per response: the priming
  bytes (:meth:`~Framing.open`), the bytes of consecutive stored events
  (:meth:`~Framing.events`), a keep-alive (:meth:`~Framing.ping`) and the shutdown notice
  (:meth:`~Framing.reconnect`). Runs and stores know nothing of it: another wire format is one
  class, passed to a response as ``framing=`` (a callable of the stream id, e.g. the class).
  An :class:`EndingFraming` may also end a response before its stream ends.
- :class:`SSEFraming` is agent-stream's own format (spec/PROTOCOL.md): per event
  ``id: <stream_id>:<seq>`` + ``event: <type>`` + one ``data: <json>`` line + a blank line.
- :func:`encode_frame` / :func:`encode_comment` write any SSE frame (checked fields, multi-line
  data); :func:`encode_frame_bytes` one of ours from trusted parts; :func:`id_prefix`,
  :func:`event_head`, :func:`data_blocks`, :func:`data_after_id` and :func:`priming_block` are the
  pieces the emitter and the bridges build theirs from.

Example, a wire format that sends only the text of ``token`` events, one SSE block each::

    class TextOnly:
        media_type = "text/event-stream"

        def __init__(self, stream_id: str) -> None:
            self.stream_id = stream_id

        def read_after(self, cursor: int) -> int:
            return cursor

        def open(self, start: Start, *, cursor: int, retry_ms: int) -> bytes:
            return encode_comment("open").encode()

        def events(self, first_seq: int, events: Sequence[tuple[str, bytes]]) -> bytes:
            texts = [msgspec.json.decode(d)["text"] for t, d in events if t == "token"]
            return b"".join(encode_frame(data=text).encode() for text in texts)

        def ping(self) -> bytes:
            return PING

        def reconnect(self) -> bytes:
            return b""

    AgentStreamResponse(agent(), framing=TextOnly)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Final, Protocol, TypeAlias, runtime_checkable

from .errors import UsageError, truncate
from .events import EVENT_TYPES, Reconnect, Start, encode_data
from .sse import check_event_id, check_event_name

__all__ = [
    "PING",
    "RECONNECT",
    "EndingFraming",
    "Framing",
    "FramingFactory",
    "SSEFraming",
    "data_after_id",
    "data_blocks",
    "encode_comment",
    "encode_frame",
    "encode_frame_bytes",
    "event_head",
    "id_prefix",
    "priming_block",
]

_Event: TypeAlias = tuple[str, bytes]  # a stored event: its type and its one-line JSON data

PING: Final = b": ping\n\n"
"""The keep-alive comment (receivers skip it; proxies see traffic)."""

RECONNECT: Final = b"event: reconnect\ndata: %b\n\n" % encode_data(
    Reconnect(reason="server-shutdown")
)
"""``reconnect`` without an id: the server is going away, resume now (elsewhere)."""

_TYPE_BYTES: Final = {name: name.encode() for name in EVENT_TYPES}
_LINE_BREAK: Final = re.compile(r"\r\n|\r|\n")


@runtime_checkable
class Framing(Protocol):
    """One response's wire format: stored events in, bytes out. No I/O, no clock.

    Made per response by a :data:`FramingFactory` given the stream id; a connection calls
    :meth:`read_after` once, :meth:`open` once, then :meth:`events` for each batch it read
    (consecutive seqs, in order), :meth:`ping` when it has been quiet for a heartbeat and
    :meth:`reconnect` at shutdown. Return ``b""`` to send nothing.
    """

    media_type: str
    """The response's content type, e.g. ``"text/event-stream"``."""

    def read_after(self, cursor: int) -> int:
        """The seq after which the connection reads, given the client's ``cursor``.

        A stateless format returns ``cursor``; one whose output depends on earlier events may
        return 0 and drop (while folding) the events up to ``cursor`` in :meth:`events`.
        """
        ...

    def open(self, start: Start, *, cursor: int, retry_ms: int) -> bytes:
        """The first bytes of the response, sent at once (``start`` says where to resume)."""
        ...

    def events(self, first_seq: int, events: Sequence[_Event], /) -> bytes:
        """The bytes of ``events`` (``(type, data)`` pairs: the event name and its compact,
        single-line JSON), the first of which has seq ``first_seq``."""
        ...

    def ping(self) -> bytes:
        """A keep-alive that no client turns into an event (always the same object)."""
        ...

    def reconnect(self) -> bytes:
        """What tells the client, at shutdown, to resume now."""
        ...


@runtime_checkable
class EndingFraming(Framing, Protocol):
    """A :class:`Framing` whose format may end a response before the stream ends.

    After each :meth:`~Framing.events`, when :attr:`ends_response` is true and nothing more is
    stored, the connection sends those bytes and ends the response; the run goes on under its
    disconnect policy. The AG-UI and AI SDK bridges end a response at a question: the AG-UI
    run ends with an interrupt, the AI SDK message with a tool approval request, and the
    client's next request answers it.
    """

    @property
    def ends_response(self) -> bool:
        """Whether the bytes :meth:`~Framing.events` last returned end the response."""
        ...


FramingFactory: TypeAlias = Callable[[str], Framing]
"""Makes a response's :class:`Framing` from its stream id (a Framing class is one)."""


class SSEFraming:
    """agent-stream's SSE format: each event ``id: <sid>:<seq>``, ``event:``, one ``data:`` line.

    The priming frame carries the resume cursor's id and ``retry:`` with the ``start`` event.
    """

    media_type = "text/event-stream"

    __slots__ = ("_prefix",)

    def __init__(self, stream_id: str) -> None:
        self._prefix = b"id: %b:" % stream_id.encode()

    def read_after(self, cursor: int) -> int:
        return cursor

    def open(self, start: Start, *, cursor: int, retry_ms: int) -> bytes:
        return b"%b%d\nretry: %d\nevent: start\ndata: %b\n\n" % (
            self._prefix,
            cursor,
            retry_ms,
            encode_data(start),
        )

    def events(self, first_seq: int, events: Sequence[_Event], /) -> bytes:
        prefix, names = self._prefix, _TYPE_BYTES
        if len(events) == 1:
            event_type, data = events[0]
            return b"%b%d\nevent: %b\ndata: %b\n\n" % (
                prefix,
                first_seq,
                names.get(event_type) or event_type.encode(),
                data,
            )
        return b"".join(
            [
                b"%b%d\nevent: %b\ndata: %b\n\n"
                % (prefix, seq, names.get(event_type) or event_type.encode(), data)
                for seq, (event_type, data) in enumerate(events, first_seq)
            ]
        )

    def ping(self) -> bytes:
        return PING

    def reconnect(self) -> bytes:
        return RECONNECT


def encode_frame_bytes(event_type: str, data: bytes, event_id: str | None = None) -> bytes:
    """One SSE frame from an event name, its single-line JSON ``data`` and an optional id.

    Callers pass trusted names and ids (checked once elsewhere); ``data`` from
    :func:`~agent_stream.events.encode_data` never holds a line break.
    """
    if event_id is None:
        return b"event: %b\ndata: %b\n\n" % (event_type.encode(), data)
    return b"id: %b\nevent: %b\ndata: %b\n\n" % (event_id.encode(), event_type.encode(), data)


def id_prefix(stream_id: str) -> str:
    """``id: <stream_id>:``, the start of every numbered frame of a stream (the seq follows)."""
    return f"id: {stream_id}:"


def data_after_id(body_head: bytes) -> bytes:
    """The bytes between a block's id and the rest of its one data line: ``\ndata: `` and
    ``body_head``.

    ``b"%b%d%b%b\n\n" % (id_prefix(sid).encode(), seq, data_after_id(head), rest)`` is one
    numbered block of one data line, ``head + rest`` (how the bridges send most events).
    """
    return b"\ndata: " + body_head


def event_head(event_type: str, *, after_id: bool) -> str:
    """The text between a frame's id (or its start) and its JSON data.

    ``f"{id_prefix(sid)}{seq}{event_head(t, after_id=True)}{json}\n\n"`` is one numbered
    frame; ``f"{event_head(t, after_id=False)}{json}\n\n"`` one without an id.
    """
    return f"{chr(10) if after_id else ''}event: {event_type}\ndata: "


def data_blocks(bodies: Sequence[bytes], stream_id: bytes, seq: int) -> bytes:
    """``data: <body>`` blocks; the last (or a bare one, if none) with ``id: <sid>:<seq>``.

    For formats that send one JSON object per block: a client that loses the connection
    inside the group resumes from the previous id and gets the whole group again.
    """
    if len(bodies) == 1:  # most events (a token in an open message): one format, no joins
        return b"id: %b:%d\ndata: %b\n\n" % (stream_id, seq, bodies[0])
    if not bodies:
        return b"id: %b:%d\n\n" % (stream_id, seq)
    head = b"\n\ndata: ".join(bodies[:-1])
    return b"data: %b\n\nid: %b:%d\ndata: %b\n\n" % (head, stream_id, seq, bodies[-1])


def priming_block(stream_id: str, cursor: int, retry_ms: int) -> bytes:
    """An id and ``retry:`` with no data: never dispatched (WHATWG SSE), yet it sets the id."""
    return b"id: %b:%d\nretry: %d\n\n" % (stream_id.encode(), cursor, retry_ms)


def encode_frame(
    *,
    data: str,
    event: str | None = None,
    id: str | None = None,
    retry: int | None = None,
) -> str:
    """One SSE frame, ending with the blank line that dispatches it.

    ``data`` may span lines (CR, LF and CRLF each end one; receivers join lines with LF, so
    CR and CRLF arrive as LF). Raises UsageError for field injection (see
    :func:`check_event_name`, :func:`check_event_id`), a negative or non-int ``retry``, and
    text UTF-8 cannot encode (lone surrogates).
    """
    _check_text("data", data)
    head = ""
    if id is not None:
        _check_text("event id", id)
        head = f"id: {check_event_id(id)}\n"
    if retry is not None:
        if type(retry) is not int or retry < 0:
            raise UsageError(
                f"retry must be a non-negative int of milliseconds, got {truncate(retry)}",
                code="invalid-field",
            )
        head += f"retry: {retry}\n"
    if event is not None:
        _check_text("event name", event)
        head += f"event: {check_event_name(event)}\n"
    if "\n" in data or "\r" in data:
        data = "\ndata: ".join(_LINE_BREAK.split(data))
    return f"{head}data: {data}\n\n"


def encode_comment(text: str = "ping") -> str:
    """A comment block (``: ping\\n\\n`` by default): receivers skip it; it keeps proxies open.

    Multi-line text becomes one comment line per line.
    """
    _check_text("comment", text)
    if "\n" in text or "\r" in text:
        text = "\n: ".join(_LINE_BREAK.split(text))
    return f": {text}\n\n"


def _check_text(what: str, text: str) -> None:
    if text.isascii():
        return
    try:
        text.encode()
    except UnicodeEncodeError as exc:
        raise UsageError(
            f"{what} holds a lone surrogate {text[exc.start : exc.end]!r} at index {exc.start}, "
            "which UTF-8 cannot encode; pass valid text (decode bytes with "
            "errors='replace', or join surrogate pairs with .encode('utf-16', "
            "'surrogatepass').decode('utf-16'))",
            code="invalid-text",
        ) from None
