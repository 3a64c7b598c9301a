"""Sans-I/O Server-Sent Events: an incremental WHATWG decoder and the field checks.

Bytes in, events out; no sockets, no asyncio. :class:`SSEDecoder` implements the WHATWG HTML
"interpreting an event stream" algorithm (https://html.spec.whatwg.org/multipage/
server-sent-events.html#event-stream-interpretation) for any chunking of the input::

    decoder = SSEDecoder()
    for chunk in response_chunks:
        for event in decoder.feed(chunk):
            handle(event.event, event.data, event.id)
    for event in decoder.close():  # end of stream: an unfinished event is dropped
        handle(event.event, event.data, event.id)

:func:`check_event_name` and :func:`check_event_id` refuse event names and ids that would
inject fields (CWE-93); :mod:`agent_stream.framing` writes frames with them.

Speed is part of the design, in pure Python: a chunk that cannot end a blank line (no LF LF,
LF CR or CR CR, in it or across its start) is appended to a ``bytearray`` and nothing more;
when one can, CR and CRLF become LF in the bytes (they are never part of a multi-byte UTF-8
sequence), the buffered bytes are decoded once, and one compiled regex, run with ``findall``
over the decoded text, turns each frame of a common shape into an event without a per-line
Python step: one ``data`` line after an optional ``id`` and ``event`` in either order (ours
``id, event, data``; agent-event-stream 0.1's ``event, data``; OpenAI's and AG-UI's ``data``
alone). Every other line (comments, ``retry``, multi-line data, fields without a colon) takes
a per-line path that follows the WHATWG steps one by one. ``bench/bench_parse.py`` measures
it against httpx-sse on each shape.
"""

from __future__ import annotations

import re
from codecs import utf_8_decode
from collections.abc import Callable
from typing import Any, Final, NoReturn

import msgspec

from .errors import ProtocolError, UsageError, truncate

__all__ = [
    "Frame",
    "SSEDecoder",
    "ServerSentEvent",
    "check_event_id",
    "check_event_name",
    "parse_frame",
]


class ServerSentEvent(msgspec.Struct, frozen=True, gc=False):
    """One dispatched event.

    ``id`` is the last event id in force when the event was dispatched (it persists across
    events, WHATWG); ``retry`` is the valid ``retry`` field of this event's own block, if any.
    """

    event: str = "message"
    data: str = ""
    id: str = ""
    retry: int | None = None


#: One event as :meth:`SSEDecoder.feed_frames` returns it: ``(event, data, id, retry)``, the
#: fields of :class:`ServerSentEvent` in its order.
Frame = tuple[str, str, str, int | None]

# A frame of a common shape, or else any one whole line. Since the last alternative matches at
# every position that has a line end after it, ``findall`` never skips text: its matches tile
# the input, and a tuple either is a frame (last group empty) or carries a line (last group
# set). A frame is an optional ``id`` line, an optional ``event`` line, an optional ``id`` line
# (ids in either place), one ``data`` line and the blank line; each tuple is ``(id, event,
# id, data, line)``. `` ?`` drops one leading space, as WHATWG does. Id and event values must
# not be empty nor start with a space (such lines take the line path), so an empty group means
# the line was absent: an absent id keeps the id buffer, and an absent event keeps what an
# earlier line of the block set. (``(?:...|)`` rather than ``(?:...)?``: sre runs an optional
# group through its general repeat machinery, ~20 % slower here.)
_FRAME = (
    r"(?:id: ?({id})\n|)(?:event: ?([^\n ][^\n]*)\n|)(?:id: ?({id})\n|)data: ?([^\n]*)\n\n"
    r"|([^\n]*\n)"
)
_FRAME_OR_LINE: Final = re.compile(_FRAME.format(id=r"[^\n ][^\n]*"))
# The same for text holding a NUL: WHATWG ignores an id field containing NUL, so such frames
# must take the line path. (A separate pattern: excluding NUL costs every frame ~20 % more.)
_FRAME_OR_LINE_NUL: Final = re.compile(_FRAME.format(id=r"[^\n\x00 ][^\n\x00]*"))
# Our own shape only (``id, event, data``, one space each), in the same tuple layout: ~20 %
# cheaper than the general pattern on it, so it is used when the text looks like it (see
# _lines). Other frames then take the line path, which is right, only slower.
_OURS_OR_LINE: Final = re.compile(r"id: ([^\n]+)\nevent: ([^\n]+)\n()data: ([^\n]*)\n\n|([^\n]*\n)")
_CR_NOT_BEFORE_LF: Final = re.compile(rb"\r[^\n]")
# Exactly one frame as AgentStreamEmitter writes it: an optional id line, event, one data line.
_ONE_FRAME: Final = re.compile(r"(?:id: [^\r\n]*\n)?event: ([^\r\n]*)\ndata: ([^\r\n]*)\n\n")
_DIGITS_MAX: Final = 18  # retry values beyond ~31 years of ms cannot be meant; ignore them


class _Refusing(bytearray):
    """Stands in for the byte buffer of a closed or failed decoder: parking bytes raises.

    This keeps a state check off :meth:`SSEDecoder.feed`'s hot path.
    """

    __slots__ = ("_decoder",)

    def __init__(self, decoder: SSEDecoder) -> None:
        super().__init__()
        self._decoder = decoder

    def __iadd__(self, other: object, /) -> NoReturn:
        self._decoder._refuse()


class SSEDecoder:
    """Incremental, WHATWG-conformant SSE decoder: ``feed(bytes)`` returns completed events.

    ``max_event_bytes`` bounds memory: a line, or the data of one event, longer than that
    (counted in decoded characters, so ASCII counts bytes exactly) raises
    :class:`~agent_stream.errors.ProtocolError` with code ``event-too-large``. Invalid UTF-8
    becomes U+FFFD, or raises ``ProtocolError`` code ``invalid-utf8`` when ``strict_utf8``.

    Nothing is lost to an error: when a chunk completes events before its bad input,
    :meth:`feed` returns those events and the error is raised by the next :meth:`feed` or
    :meth:`close`; when it completes none, the error is raised at once. After an error every
    call raises it again. ``on_comment`` is called with each comment line's text (the text
    after ``:``, one leading space removed) when the line is parsed: at the latest when its
    event block ends, as for :attr:`retry`.
    """

    __slots__ = (
        "_at_start",
        "_block_retry",
        "_buf",
        "_closed",
        "_data",
        "_data_len",
        "_error",
        "_errors",
        "_event",
        "_id",
        "_last_event_id",
        "_max",
        "_on_comment",
        "_retry",
        "_skip_lf",
        "_tail",
        "_tuples",
    )

    def __init__(
        self,
        *,
        max_event_bytes: int = 1 << 20,
        strict_utf8: bool = False,
        on_comment: Callable[[str], object] | None = None,
    ) -> None:
        if max_event_bytes < 1:
            raise UsageError(
                f"max_event_bytes must be a positive int, got {max_event_bytes!r}",
                code="invalid-option",
            )
        self._max = max_event_bytes
        self._errors = "strict" if strict_utf8 else "replace"
        self._on_comment = on_comment
        # Bytes not yet decoded: chunks parked until a line end comes, and an incomplete UTF-8
        # sequence held back from the last decode.
        self._buf = bytearray()
        self._at_start = True  # WHATWG: one BOM is stripped, at the start of the stream only
        self._skip_lf = False  # the last character seen was CR: a LF next is half of a CRLF
        self._tail = ""  # decoded text of the unterminated last line
        self._data: list[str] = []  # data buffer, as lines
        self._data_len = 0
        self._event = ""  # event type buffer
        self._block_retry: int | None = None
        self._id = ""  # last event ID buffer
        self._last_event_id = ""
        self._retry: int | None = None
        self._error: ProtocolError | None = None  # once set, raised by every call
        self._closed = False
        self._tuples = False  # the entry point running returns Frame tuples

    @property
    def max_event_bytes(self) -> int:
        """The limit on a line or an event's data; settable, for the input not parsed yet."""
        return self._max

    @max_event_bytes.setter
    def max_event_bytes(self, value: int) -> None:
        if value < 1:
            raise UsageError(
                f"max_event_bytes must be a positive int, got {value!r}", code="invalid-option"
            )
        self._max = value

    @property
    def error(self) -> ProtocolError | None:
        """The error that stopped decoding (the next call raises it), or ``None``."""
        return self._error

    @property
    def last_event_id(self) -> str:
        """The last event id in force (set at each dispatch, like ``EventSource.lastEventId``)."""
        return self._last_event_id

    @property
    def retry(self) -> int | None:
        """The reconnection time in ms the stream asked for, or ``None`` if it never did.

        Updated when a ``retry`` line is parsed: at the latest when its event block ends, or at
        :meth:`close`.
        """
        return self._retry

    def feed(self, data: bytes | bytearray, /) -> list[ServerSentEvent]:
        """Events completed by ``data`` (``bytes`` or ``bytearray``); the rest is kept."""
        # Parse only when an event may have ended, i.e. a blank line: LF LF, LF CR or CR CR in
        # ``data``, or across its start (see _may_blank). CR LF alone is one line end (WHATWG).
        # Otherwise park the bytes: appending to a bytearray is amortised O(1), so a line fed in
        # tiny slices stays O(n), and a frame is decoded whole, so the frame regex sees it.
        # (``10 in data`` is several times faster than ``b"\n" in data``, which goes through
        # the buffer protocol.)
        try:
            has_lf = 10 in data
        except TypeError:
            raise UsageError(
                f"SSEDecoder.feed() takes bytes, got {type(data).__name__} {truncate(data)}; "
                "pass the response's raw bytes (or text.encode())",
                code="invalid-input",
            ) from None
        if has_lf:  # LF
            if data.find(b"\n\n") >= 0:
                return self._decode(data, final=False)
            if 13 in data:
                if data.find(b"\n\r") >= 0 or data.find(b"\r\r") >= 0:
                    return self._decode(data, final=False)
                if data[0] == 13 and self._may_blank(13):
                    return self._decode(data, final=False)
            if data[0] == 10 and self._may_blank(10):
                return self._decode(data, final=False)
        elif 13 in data:  # CR
            if data.find(b"\r\r") >= 0 or (data[0] == 13 and self._may_blank(13)):
                return self._decode(data, final=False)
        buf = self._buf
        buf += data  # raises once closed or failed (see _Refusing)
        if len(buf) > self._max:  # parse to enforce the limit
            return self._decode(b"", final=False)
        return []

    def feed_frames(self, data: bytes | bytearray, /) -> list[Frame]:
        """As :meth:`feed`, with each event as a :data:`Frame` tuple ``(event, data, id, retry)``.

        The same events as ``feed`` for any bytes and any chunking (one decoder may mix the
        two calls), without a :class:`ServerSentEvent` object each: for a consumer that
        unpacks every event at once, such as the client's hot loop.
        """
        self._tuples = True
        try:
            return self.feed(data)  # type: ignore[return-value]  # tuples, by _tuples
        finally:
            self._tuples = False

    def _may_blank(self, first: int) -> bool:
        """Whether a line end ``first`` (10 or 13) starting a chunk ends a blank line."""
        buf = self._buf
        if buf:
            last = buf[-1]
        elif self._tail:
            return False  # the last character seen is inside a line
        else:  # the last decoded text ended on a line end (or nothing came yet)
            last = 13 if self._skip_lf else 10
        # LF then LF or CR; CR then CR. CR then LF is one CRLF.
        return last == 10 or (last == 13 and first == 13)

    def close(self) -> list[ServerSentEvent]:
        """End of stream: events completed by the last bytes; an unfinished event is dropped.

        Lines completed before the end still take effect (a ``retry`` line sets :attr:`retry`).
        Afterwards :meth:`feed` raises :class:`~agent_stream.errors.UsageError`; calling
        ``close()`` again returns ``[]``.
        """
        if self._closed:
            return []
        out = self._decode(b"", final=True)
        # WHATWG: "any pending data must be discarded" at end of file.
        self._tail = ""
        self._reset_block()
        self._closed = True
        self._buf = _Refusing(self)
        return out

    def _decode(self, data: bytes | bytearray, *, final: bool) -> list[Any]:
        """Decode the buffered bytes plus ``data`` and process every line they complete."""
        if self._error is not None or self._closed:
            self._refuse()
        buf = self._buf
        source: bytes | bytearray = data
        if buf:
            buf += data
            source = buf
        if self._skip_lf:
            self._skip_lf = False
            if source[:1] == b"\n":  # the LF of a CRLF whose CR ended the last decode
                source = source[1:]
        if 13 in source:
            # CR, LF and CRLF all end a line (WHATWG); lines hold neither, so mapping every
            # line end to LF keeps the lines. Done on the bytes: CR is never part of a
            # multi-byte UTF-8 sequence. A CR ending these bytes may be half of a CRLF.
            ends_on_cr = self._skip_lf = source[-1] == 13
            if _CR_NOT_BEFORE_LF.search(source) is None:
                # CRLF only (and maybe a last CR): deleting CRs is ~3x faster than replace()
                source = source.translate(None, b"\r")
                if ends_on_cr:
                    source += b"\n"
            else:
                source = source.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        bad: ProtocolError | None = None
        try:
            text, used = utf_8_decode(source, self._errors, final)
        except UnicodeDecodeError as exc:  # only with strict_utf8
            text, used = utf_8_decode(source[: exc.start], "strict", True)
            bad = ProtocolError(
                f"invalid UTF-8 {bytes(source[exc.start : exc.start + 4])!r} in the event "
                f"stream ({exc.reason}); SSE is UTF-8 only (WHATWG), or use "
                "SSEDecoder(strict_utf8=False) to read bad bytes as U+FFFD",
                code="invalid-utf8",
                line=truncate(bytes(source[max(0, exc.start - 40) : exc.start + 4])),
            )
        # Keep an incomplete UTF-8 sequence (at most 3 bytes) for the next chunk.
        if used == len(source):
            if buf:
                buf.clear()
        else:
            self._buf = bytearray(source[used:])

        if self._at_start and text:
            # WHATWG "UTF-8 decode": one BOM is stripped, at the start of the stream only.
            self._at_start = False
            if text[0] == "\ufeff":
                text = text[1:]
        end = text.rfind("\n") + 1
        tail = self._tail
        if tail:
            text = tail + text
            if end:
                end += len(tail)
        out: list[Any] = []  # ServerSentEvent, or Frame when _tuples
        self._tail = text[end:] if end else text
        try:
            if end:
                self._lines(text, end, out)
            if len(self._tail) > self._max:
                self._too_large("line", self._tail)
        except ProtocolError as exc:
            bad = exc
        if bad is not None:
            self._error = bad
            self._buf = _Refusing(self)
            if not out:
                raise bad
        return out

    def _refuse(self) -> NoReturn:
        if self._error is not None:
            raise self._error
        raise UsageError(
            "SSEDecoder.feed() called after close(); make a new SSEDecoder per stream",
            code="decoder-closed",
        )

    def _lines(self, text: str, end: int, out: list[Any]) -> None:
        """Process the whole lines ``text[:end]``, appending dispatched events to ``out``."""
        limit = self._max
        # A frame no longer than the limit cannot hold a line or data beyond it.
        check = end > limit
        sse = ServerSentEvent
        tuples = self._tuples
        append = out.append
        id_buffer = self._id
        data = self._data
        # The frame path keeps the id buffer in a local; ``dispatched`` says whether it also
        # dispatched last, which sets the last event id (WHATWG dispatch step 1).
        dispatched = False
        # Whether the per-line path left a block open (data, event or retry): a frame that
        # follows is then part of that block, and takes the line path too.
        pending = bool(data) or bool(self._event) or self._block_retry is not None
        # Which pattern: ours if the text starts with a frame of our shape, or has one just
        # after its first blank line (a decode may start anywhere in a frame).
        at = 0 if text.startswith("id: ") else text.find("\n\n") + 2
        if "\x00" in text:
            pattern = _FRAME_OR_LINE_NUL
        elif text.startswith("id: ", at) and text.startswith("event: ", text.find("\n", at) + 1):
            pattern = _OURS_OR_LINE
        else:
            pattern = _FRAME_OR_LINE
        for frame_id, frame_event, frame_id2, frame_data, line in pattern.findall(text, 0, end):
            if not line:
                if not pending and not (
                    check
                    and max(
                        len(frame_id) + 4,
                        len(frame_event) + 7,
                        len(frame_id2) + 4,
                        len(frame_data) + 6,
                    )
                    > limit
                ):
                    if frame_id2:
                        id_buffer = frame_id2
                    elif frame_id:
                        id_buffer = frame_id
                    dispatched = True
                    if tuples:
                        append((frame_event or "message", frame_data, id_buffer, None))
                    else:
                        append(sse(frame_event or "message", frame_data, id_buffer, None))
                    continue
                lines = [f"id: {frame_id}"] if frame_id else []
                if frame_event:
                    lines.append(f"event: {frame_event}")
                if frame_id2:
                    lines.append(f"id: {frame_id2}")
                lines += [f"data: {frame_data}", ""]
            else:
                lines = [line[:-1]]
            self._id = id_buffer
            if dispatched:
                self._last_event_id = id_buffer
                dispatched = False
            for one in lines:
                self._line(one, out)
            id_buffer = self._id
            data = self._data
            pending = bool(data) or bool(self._event) or self._block_retry is not None
        self._id = id_buffer
        if dispatched:
            self._last_event_id = id_buffer

    def _line(self, line: str, out: list[Any]) -> None:
        """One line, by the WHATWG steps (line end removed)."""
        if not line:
            self._last_event_id = self._id
            if self._data:
                fields = (
                    self._event or "message",
                    "\n".join(self._data),
                    self._id,
                    self._block_retry,
                )
                out.append(fields if self._tuples else ServerSentEvent(*fields))
            self._reset_block()
            return
        if len(line) > self._max:
            self._too_large("line", line)
        if line[0] == ":":
            if self._on_comment is not None:
                comment = line[1:]
                self._on_comment(comment[1:] if comment[:1] == " " else comment)
            return
        name, _, value = line.partition(":")
        if value[:1] == " ":
            value = value[1:]
        if name == "data":
            self._data_len += len(value) + 1
            if self._data_len > self._max + 1:
                self._too_large("event's data", "\n".join([*self._data, value]))
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\x00" not in value:
                self._id = value
        elif name == "retry":
            if value.isascii() and value.isdigit() and len(value.lstrip("0")) <= _DIGITS_MAX:
                self._retry = self._block_retry = int(value)
        # Any other field name is ignored (WHATWG).

    def _reset_block(self) -> None:
        self._data = []
        self._data_len = 0
        self._event = ""
        self._block_retry = None

    def _too_large(self, what: str, text: str) -> NoReturn:
        raise ProtocolError(
            f"{what} of {len(text)} characters exceeds max_event_bytes={self._max}; "
            "the peer is not sending SSE frames of a sane size, or raise the limit: "
            "SSEDecoder(max_event_bytes=...), AgentStreamClient(max_event_bytes=...)",
            code="event-too-large",
            line=truncate(text[:100]),
        )


# --- encoder ------------------------------------------------------------------------------


def parse_frame(text: str, /) -> tuple[str, str] | None:
    """``(event, data)`` when ``text`` is exactly one frame of the common shape (an optional
    ``id`` line, ``event``, one ``data`` line, LF line ends), else ``None``: feed such text to
    an :class:`SSEDecoder`. What it returns is what the decoder dispatches for the same text
    at the start of a stream; one regex match, for servers that get frames one at a time.
    """
    match = _ONE_FRAME.fullmatch(text)
    if match is None:
        return None
    return match[1] or "message", match[2]


def _field_error(what: str, value: str, problem: str, fix: str) -> UsageError:
    return UsageError(f"{what} {truncate(value)} contains {problem}; {fix}", code="invalid-field")


def check_event_name(name: str) -> str:
    """``name`` if it can be an ``event:`` field; else UsageError code ``invalid-field``.

    A CR, LF or NUL would end the field early and let the rest inject fields (CWE-93).
    """
    if "\n" in name or "\r" in name:
        raise _field_error(
            "event name",
            name,
            "a newline",
            "event names are single-line tokens such as 'token'",
        )
    if "\x00" in name:
        raise _field_error(
            "event name", name, "NUL", "event names are single-line tokens such as 'token'"
        )
    return name


def check_event_id(event_id: str) -> str:
    """``event_id`` if it can be an ``id:`` field; else UsageError code ``invalid-field``.

    A CR or LF would inject fields (CWE-93); receivers ignore an id holding NUL (WHATWG).
    """
    if "\n" in event_id or "\r" in event_id:
        raise _field_error(
            "event id", event_id, "a newline", "ids are single-line, such as '<stream_id>:<seq>'"
        )
    if "\x00" in event_id:
        raise _field_error(
            "event id",
            event_id,
            "NUL",
            "receivers ignore such ids (WHATWG); use ids such as '<stream_id>:<seq>'",
        )
    return event_id
