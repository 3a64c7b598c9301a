"""Request-head, body and send deadlines for uvicorn, which has none of them (slowloris).

uvicorn's ``timeout_keep_alive`` is cancelled by every byte that arrives, so a client that sends
its request head one byte a second holds a connection for as long as it likes, and one whose
body is shorter than its ``Content-Length`` waits forever (ASGI middleware cannot help: the app
is called only once the head is complete). :class:`RequestDeadlineProtocol` wraps the protocol
uvicorn would pick (``auto``: httptools, else h11) and closes the connection when a request's
head has not arrived whole ``head_timeout_s`` after its first byte (or after the connection
opened), or its body ``body_timeout_s`` after its head. It follows request boundaries with its
own ``h11.Connection`` fed the same bytes.

It also aborts a connection whose client takes none of the response's bytes for
``send_timeout_s`` while the server's writes wait for it. ASGI gives an app no way to drop a
connection, and uvicorn's ``transport.close()`` keeps the socket until its buffered bytes are
sent, which a client that stopped reading never allows: so a stalled reader that a response
gave up on (agent-stream reaps them after ``send_timeout_s``, then waits to end its response)
would hold its socket and those bytes until it left. A client that reads, however slowly, is
never affected::

    uvicorn.run(app, http=RequestDeadlineProtocol)   # or a subclass with other timeouts

Limits come from the class attributes, or from ``AGENT_STREAM_HEAD_TIMEOUT_S``,
``AGENT_STREAM_BODY_TIMEOUT_S`` (plus 5 s, so that a route's own 408 comes first) and
``AGENT_STREAM_SEND_TIMEOUT_S`` when set: how ``agent-stream demo`` configures its workers.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any, cast

from .._extras import missing_extra

try:
    import h11
    from uvicorn.protocols.http.auto import AutoHTTPProtocol
except ImportError as exc:
    raise missing_extra("agent_stream.server.uvicorn_deadlines", exc, "server") from exc

__all__ = ["RequestDeadlineProtocol"]

logger = logging.getLogger("agent_stream")


def _env_seconds(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    return float(raw) if raw else default


class RequestDeadlineProtocol(asyncio.Protocol):
    """An asyncio protocol around uvicorn's own that enforces request deadlines.

    Constructed by uvicorn exactly as its own protocol class is (``http=`` this class).
    """

    head_timeout_s = 10.0
    body_timeout_s = 30.0
    send_timeout_s = 30.0  # StreamOptions.send_timeout_s's default: a reaped reader goes at once

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._inner: asyncio.Protocol = AutoHTTPProtocol(*args, **kwargs)
        self._head_s = _env_seconds("AGENT_STREAM_HEAD_TIMEOUT_S", self.head_timeout_s)
        # A route reading with read_json(timeout_s=...) answers 408 first; closing is the
        # backstop for routes that do not bound their reads.
        self._body_s = _env_seconds("AGENT_STREAM_BODY_TIMEOUT_S", self.body_timeout_s) + 5.0
        self._send_s = _env_seconds("AGENT_STREAM_SEND_TIMEOUT_S", self.send_timeout_s)
        self._tracker: h11.Connection | None = h11.Connection(h11.SERVER)
        self._transport: asyncio.BaseTransport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._send_timer: asyncio.TimerHandle | None = None
        self._unsent = 0  # bytes the transport held at the last look while writes waited

    # --- asyncio.Protocol, delegated ---------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport
        self._arm(self._head_s, "request head")
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        self._track(data)
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self._stop_send_timer()
        self._tracker = None
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self._inner.pause_writing()
        # the transport holds more than its high-water mark: writes wait for the client
        # (uvloop's transports are not asyncio.WriteTransport subclasses, but have its methods)
        transport = cast("asyncio.WriteTransport | None", self._transport)
        if transport is not None and self._send_timer is None:
            self._unsent = transport.get_write_buffer_size()
            loop = asyncio.get_running_loop()
            self._send_timer = loop.call_later(self._send_s, self._check_send, transport)

    def resume_writing(self) -> None:
        self._stop_send_timer()
        self._inner.resume_writing()

    # --- deadlines ---------------------------------------------------------------------------

    def _track(self, data: bytes) -> None:
        tracker = self._tracker
        if tracker is None:
            return
        try:
            tracker.receive_data(data)
            while True:
                event = tracker.next_event()
                if event is h11.NEED_DATA:
                    # Part of a next request's head came: its clock starts now. (Nothing
                    # buffered: the connection is idle or streaming a response; not ours.)
                    if (
                        tracker.their_state is h11.IDLE
                        and tracker.trailing_data[0]
                        and self._timer is None
                    ):
                        self._arm(self._head_s, "request head")
                    return
                if event is h11.PAUSED:
                    self._next_cycle(tracker)
                    if tracker.their_state is not h11.IDLE:  # an upgrade or CONNECT
                        self._stop_tracking()
                        return
                    continue
                if isinstance(event, h11.Request):
                    self._disarm()
                    if tracker.their_state is h11.SEND_BODY:
                        self._arm(self._body_s, "request body")
                elif isinstance(event, h11.EndOfMessage):
                    self._disarm()
                elif isinstance(event, h11.ConnectionClosed):
                    self._stop_tracking()
                    return
        except h11.RemoteProtocolError:
            self._stop_tracking()  # uvicorn answers the bad bytes itself

    @staticmethod
    def _next_cycle(tracker: h11.Connection) -> None:
        # This tracker never answers anything; it stands in an empty response so that h11
        # moves on to the next request on the connection.
        if tracker.our_state is h11.SEND_RESPONSE:
            tracker.send(h11.Response(status_code=204, headers=[]))
        if tracker.our_state is h11.SEND_BODY:
            tracker.send(h11.EndOfMessage())
        if tracker.our_state is h11.DONE and tracker.their_state is h11.DONE:
            tracker.start_next_cycle()

    def _stop_tracking(self) -> None:
        self._disarm()
        self._tracker = None

    def _arm(self, seconds: float, what: str) -> None:
        self._disarm()
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(seconds, self._expire, seconds, what)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _stop_send_timer(self) -> None:
        if self._send_timer is not None:
            self._send_timer.cancel()
            self._send_timer = None

    def _check_send(self, transport: asyncio.WriteTransport) -> None:
        self._send_timer = None
        unsent = transport.get_write_buffer_size()
        if unsent < self._unsent:  # the client took some: slow, not stalled
            self._unsent = unsent
            loop = asyncio.get_running_loop()
            self._send_timer = loop.call_later(self._send_s, self._check_send, transport)
            return
        peer = transport.get_extra_info("peername")
        logger.info(
            "aborting connection to %s: it took no bytes for %g s (%d waiting)",
            peer,
            self._send_s,
            unsent,
        )
        transport.abort()  # close() would wait for those bytes to be sent

    def _expire(self, seconds: float, what: str) -> None:
        self._timer = None
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        peer = transport.get_extra_info("peername")
        logger.info("closing connection from %s: %s not received within %g s", peer, what, seconds)
        transport.close()
