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

import msgspec

from ..events import AgentEvent, JSONValue, Start, parse_event
from ..framing import data_blocks as join_blocks
from ..framing import priming_block

__all__ = ["BlockEncoder", "derived_id", "encode_json", "join_blocks", "priming_block"]

encode_json = msgspec.json.Encoder().encode


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
        self._cursor = 0  # events up to it are folded, not sent (see read_after)
        self.sent_seq = 0  # the last event events() sent (0: none yet)
        self._is_finished = False
        self._is_paused = False

    def _bodies(self, seq: int, event: AgentEvent) -> list[bytes]:
        """The JSON bodies of the blocks event ``seq`` becomes (possibly none)."""
        raise NotImplementedError

    def priming(self, cursor: int) -> bytes:
        """The first bytes of a response that continues after ``cursor``."""
        return priming_block(self.stream_id, cursor, self.retry_ms)

    def encode(self, seq: int, event_type: str, data: bytes) -> bytes:
        """The SSE blocks for stored event ``seq``; the last one carries its id."""
        return join_blocks(self._bodies(seq, parse_event(event_type, data)), self._sid, seq)

    def encode_event(self, seq: int, event: AgentEvent) -> bytes:
        """:meth:`encode` for an event already parsed."""
        return join_blocks(self._bodies(seq, event), self._sid, seq)

    def skip(self, seq: int, event_type: str, data: bytes) -> None:
        """Advance past an event the client already has, sending nothing."""
        self._bodies(seq, parse_event(event_type, data))

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
        return b"".join(out)

    def ping(self) -> bytes:
        return b": ping\n\n"

    def reconnect(self) -> bytes:
        """Nothing: a bridged client sees the connection end and resumes."""
        return b""
