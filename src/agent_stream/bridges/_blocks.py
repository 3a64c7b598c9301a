"""SSE blocks for the bridges (written by :mod:`agent_stream.framing`): one ``data:`` line of
JSON per block, our id on the last.

Both bridged formats (AG-UI, the AI SDK UI message stream) send one JSON object per SSE block.
One of our events may become several blocks; only the last carries ``id: <stream_id>:<seq>``, so
a client that loses the connection inside the group resumes from the previous event and gets
the whole group again (never half of it). An event that becomes no block still sends its id,
alone in a block, which no SSE client dispatches.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Final

import msgspec

from ..events import EVENT_TYPES, AgentEvent, JSONValue, Start, Token, parse_event
from ..framing import data_after_id, id_prefix, priming_block
from ..framing import data_blocks as join_blocks

__all__ = [
    "BlockEncoder",
    "TextDelta",
    "derived_id",
    "encode_json",
    "join_blocks",
    "priming_block",
]

encode_json = msgspec.json.Encoder().encode


_TEXT_HEAD: Final = b'{"text":"'
_TEXT_END: Final = b'"}'
_ID_KEY: Final = b'"message_id":'
_TEXT_DECODER: Final = msgspec.json.Decoder(Token)  # thinking has the same two fields


class TextDelta:
    """How a ``token`` or ``thinking`` event that continues the open part is sent: one chunk,
    :attr:`head` + the text as a JSON string + ``}``.

    The text's JSON string is cut from the stored data, not decoded and re-encoded, where the
    data is laid out as :func:`~agent_stream.events.encode_data` writes it, compact and
    starting ``{"text":"``: ``{"text":"...","message_id":"..."}``. A quote inside a JSON string
    always follows a backslash, so ``,"`` never occurs inside the text: the first ``,"`` ends
    it. Data laid out otherwise is decoded: other field order, more fields, and frames an
    agent wrote itself with ``json.dumps`` (``{"text": "...", ...}``), stored as they are.
    """

    __slots__ = ("block_head", "end", "event_type", "head", "id_cut", "id_tail", "message_id")

    def __init__(
        self,
        event_type: str,
        head: bytes,
        message_id: str | None = None,
        *,
        end: tuple[bytes, ...],
    ) -> None:
        self.event_type = event_type
        """``token`` or ``thinking``: the events that continue the part."""
        self.head = head
        """The chunk's JSON up to the text, e.g. ``{"type":"text-delta","id":"t1","delta":``."""
        self.block_head = data_after_id(head)
        """What follows a block's id up to the text."""
        self.end = end
        """The bodies that close the part."""
        self.message_id = message_id
        """The ``message_id`` an event may carry (or none) to continue the part; None: any."""
        # How the data of an event of this message ends, from the text's closing quote, and
        # where the text's JSON string ends then. For any message: the message of the last
        # event seen (at first an end no data has: it is one line).
        if message_id is None:
            self.id_tail = b"\n"
        else:
            self.id_tail = b'",%b%b}' % (_ID_KEY, encode_json(message_id))
        self.id_cut = 1 - len(self.id_tail)

    def text(self, data: bytes) -> bytes | None:
        """The text of the token or thinking with ``data``, as a JSON string, if the event
        continues the part; None if it carries another message id.

        The commonest cases, data ending with :attr:`id_tail` or with no message id, are
        inlined in :meth:`BlockEncoder.encode`: there the layout is taken as encode_data's.
        """
        if data.endswith(self.id_tail):
            return data[8 : self.id_cut]
        if data.startswith(_TEXT_HEAD) and data.endswith(_TEXT_END):
            end = data.find(b',"', 9)
            if end < 0:  # {"text":"..."}
                return data[8:-1]
            if (
                self.message_id is None
                and data.startswith(_ID_KEY, end + 1)
                and data.find(b',"', end + 2) < 0
            ):  # {"text":"...","message_id":"..."}, any message continues
                self.id_tail, self.id_cut = data[end - 1 :], end - len(data)
                return data[8:end]
        return self._decoded_text(data)

    def _decoded_text(self, data: bytes) -> bytes | None:
        try:
            event = _TEXT_DECODER.decode(data)
        except msgspec.MsgspecError:
            return None  # not a text event's data: the bridge's decoder names the fault
        carried = event.message_id
        if isinstance(carried, str) and self.message_id not in (None, carried):
            return None
        return encode_json(event.text)


_DECODERS: Final = {name: msgspec.json.Decoder(cls) for name, cls in EVENT_TYPES.items()}


def _parse(event_type: str, data: bytes) -> AgentEvent:
    """:func:`~agent_stream.events.parse_event` for stored data, without its checks of other
    inputs where the data is valid (which it raises the typed error for)."""
    decoder = _DECODERS.get(event_type)
    if decoder is not None:
        try:
            event: AgentEvent = decoder.decode(data)
            return event
        except msgspec.MsgspecError:
            pass
    return parse_event(event_type, data)


def derived_id(kind: str, stream_id: str, seq: int = 0) -> str:
    """A stable id for something a bridge names (a message, a part) from its stream and seq.

    Deterministic, so a replay names it the same way; a digest, so the stream id (which a
    resume needs) does not leak into UI state that may be stored or shared.
    """
    digest = hashlib.blake2b(f"{stream_id}:{seq}".encode(), digest_size=9).hexdigest()
    return f"{kind}_{digest}"


def as_text(value: JSONValue) -> str:
    """A JSON value as text: strings as they are, anything else as compact JSON."""
    if isinstance(value, str):
        return value
    return encode_json(value).decode()


class BlockEncoder:
    """What both bridge encoders share: our stored events in, SSE blocks out, and the framing
    interface (:class:`agent_stream.framing.Framing`) a connection writes through.

    A subclass maps one event to its blocks' JSON bodies in :meth:`_bodies`, keeping whatever
    state its format needs; that state is rebuilt on a resume by folding every earlier event.
    """

    __slots__ = (
        "_cursor",
        "_delta",
        "_ends_response",
        "_id_head",
        "_is_finished",
        "_is_paused",
        "_sid",
        "retry_ms",
        "sent_seq",
        "stream_id",
    )

    media_type = "text/event-stream"

    def __init__(self, stream_id: str, *, retry_ms: int) -> None:
        self.stream_id = stream_id
        self.retry_ms = retry_ms
        self._sid = stream_id.encode()
        self._id_head = id_prefix(stream_id).encode()
        # how events continue the part that is open, if one is (set by the subclass)
        self._delta: TextDelta | None = None
        self._cursor = 0  # events up to it are folded, not sent (see read_after)
        self.sent_seq = 0  # the last event events() sent (0: none yet)
        self._is_finished = False
        self._is_paused = False
        self._ends_response = False

    def _bodies(self, seq: int, event: AgentEvent) -> list[bytes]:
        """The JSON bodies of the blocks event ``seq`` becomes (possibly none)."""
        raise NotImplementedError

    def _delta_body(self, text: str) -> bytes:
        """The body that sends ``text`` in the open part."""
        assert self._delta is not None, "a part is open"
        return b"%b%b}" % (self._delta.head, encode_json(text))

    def priming(self, cursor: int) -> bytes:
        """The first bytes of a response that continues after ``cursor``."""
        return priming_block(self.stream_id, cursor, self.retry_ms)

    def encode(self, seq: int, event_type: str, data: bytes) -> bytes:
        """The SSE blocks for stored event ``seq``; the last one carries its id."""
        delta = self._delta
        if delta is not None and event_type == delta.event_type:  # most events: one block
            # TextDelta.text's commonest cases, inlined: the part's message id, or none
            if data.endswith(delta.id_tail):
                cut = data[8 : delta.id_cut]
                return b"%b%d%b%b}\n\n" % (self._id_head, seq, delta.block_head, cut)
            # {"text":"..."}: compact from its head (byte 8 is the text's quote, where
            # json.dumps has a space), and then no ,"
            if data[8] == 34 and data.find(b',"', 9) < 0:
                return b"%b%d%b%b}\n\n" % (self._id_head, seq, delta.block_head, data[8:-1])
            text = delta.text(data)
            if text is not None:
                return b"%b%d%b%b}\n\n" % (self._id_head, seq, delta.block_head, text)
        return join_blocks(self._bodies(seq, _parse(event_type, data)), self._sid, seq)

    def encode_event(self, seq: int, event: AgentEvent) -> bytes:
        """:meth:`encode` for an event already parsed."""
        return join_blocks(self._bodies(seq, event), self._sid, seq)

    def skip(self, seq: int, event_type: str, data: bytes) -> None:
        """Advance past an event the client already has, sending nothing."""
        delta = self._delta
        if delta is not None and event_type == delta.event_type and delta.text(data) is not None:
            return  # continues the open part: nothing changes
        self._bodies(seq, _parse(event_type, data))

    # The wire-format interface a connection writes through (agent_stream.framing.Framing).

    def read_after(self, cursor: int) -> int:
        """Read from the start: the output after ``cursor`` depends on every earlier event,
        which :meth:`events` folds without sending."""
        self._cursor = cursor
        return 0

    def open(self, start: Start, *, cursor: int, retry_ms: int) -> bytes:
        """The priming block for ``cursor`` (our ``start`` event has no counterpart)."""
        self.retry_ms = retry_ms
        return self.priming(cursor)

    def events(self, first_seq: int, events: Sequence[tuple[str, bytes]], /) -> bytes:
        """The bytes of stored events from ``first_seq`` on; those up to the cursor only fold."""
        out = []
        for seq, (event_type, data) in enumerate(events, first_seq):
            if seq <= self._cursor:
                self.skip(seq, event_type, data)
            else:
                out.append(self.encode(seq, event_type, data))
                self.sent_seq = seq
        # a question this response sent ends it (a resume that folds one waits for more)
        self._ends_response = self._is_paused and self.sent_seq == first_seq + len(events) - 1
        return b"".join(out)

    @property
    def ends_response(self) -> bool:
        """Whether the last event :meth:`events` sent ends this response: a question (the
        bridged run or message ends there; the client's next request answers it)
        (:class:`~agent_stream.framing.EndingFraming`)."""
        return self._ends_response

    def ping(self) -> bytes:
        return b": ping\n\n"

    def reconnect(self) -> bytes:
        """Nothing: a bridged client sees the connection end and resumes."""
        return b""
