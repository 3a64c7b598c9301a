"""``EventLimit``: a stream's event size limit, the client's own or the one ``start`` announces."""

from __future__ import annotations

import logging
from typing import Final

from ..errors import ProtocolError
from ..events import DEFAULT_MAX_EVENT_BYTES
from ..sse import SSEDecoder

__all__ = ["EventLimit"]

logger = logging.getLogger("agent_stream")

# The limit is on an event's data; its line also holds the field name and its colon and space.
_DATA_FIELD: Final = 6


class EventLimit:
    """The largest event data a stream accepts (PROTOCOL 2.8).

    ``own`` (the client's option) wins; without it each response starts at 1 MiB and takes
    what its ``start`` announces. The response's priming frame is decoded on its own
    (:meth:`priming_end`), so the announced limit applies from the next byte, even in the same
    chunk.
    """

    __slots__ = ("_ends_lf", "_own", "_source", "_warned", "bytes", "is_priming")

    def __init__(self, own: int | None) -> None:
        self._own = own
        #: The limit in force, in bytes of an event's data.
        self.bytes = own or DEFAULT_MAX_EVENT_BYTES
        self._source = "max_event_bytes" if own else "the default"
        self._warned = False
        #: Whether the first block of the response is still to be split off.
        self.is_priming = False
        self._ends_lf = False

    def decoder(self) -> SSEDecoder:
        """A decoder for a new response (and the limit back to its start)."""
        if self._own is None:  # until this response's start names its limit
            self.bytes = DEFAULT_MAX_EVENT_BYTES
            self._source = "the default"
        self.is_priming = self._own is None
        self._ends_lf = False
        return SSEDecoder(max_event_bytes=self.bytes + _DATA_FIELD)

    def priming_end(self, data: bytes) -> int:
        """Where the first block of the response ends in ``data`` (0: not in this chunk)."""
        if data[:1] == b"\n" and self._ends_lf:
            end = 1
        else:
            self._ends_lf = data[-1:] == b"\n"
            found = data.find(b"\n\n")
            end = found + 2 if found >= 0 else 0
        if end:
            self.is_priming = False
        return end

    def announced(self, limit: int, decoder: SSEDecoder) -> None:
        """The ``start`` event announced the server's largest event."""
        if limit < 1:
            return
        if self._own is None:
            self.bytes = limit
            self._source = "the server's start event"
            decoder.max_event_bytes = limit + _DATA_FIELD
        elif limit > self._own and not self._warned:
            self._warned = True
            logger.warning(
                "the server may send events of up to %d bytes, over this client's "
                "max_event_bytes=%d: such an event would end the stream",
                limit,
                self._own,
            )

    def error(self, error: ProtocolError, last_id: str) -> ProtocolError:
        """The decoder's ``event-too-large`` error, told in terms of this limit."""
        return ProtocolError(
            f"an event over this client's limit of {self.bytes} bytes (set by {self._source}) "
            f"arrived after {last_id or 'the start'}; the stream ends here (a resume would get "
            "the same event). Send big payloads by reference, or raise the limit: "
            "AgentStreamClient(max_event_bytes=...)",
            code=error.code,
            line=error.line,
        )
