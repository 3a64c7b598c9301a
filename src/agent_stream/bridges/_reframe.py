"""Serve an :class:`~agent_stream.starlette.AgentStreamResponse` in a bridged wire format.

The response keeps doing everything it does (start or resume the run, owner and cursor checks,
heartbeats, disconnect policy, shutdown); :class:`BridgedResponse` only rewrites the body it
sends: each of our frames goes through a bridge encoder, ``: ping`` comments pass as they are,
the priming frame becomes the encoder's (same cursor) and ``reconnect`` is left out (a bridged
client sees a drop and resumes). A resume after seq ``N`` first replays events ``1..N`` from the
store into the encoder, so it continues exactly where the client stopped.
"""

from __future__ import annotations

from .._extras import missing_extra

try:
    import anyio as _anyio  # noqa: F401
    import starlette as _starlette  # noqa: F401
except ImportError as exc:
    raise missing_extra("agent_stream.bridges", exc, "server") from exc

import asyncio
from collections.abc import Callable
from typing import Protocol

import msgspec
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from ..emitter import parse_event_id
from ..server.manager import RunManager
from ..server.store import StreamStore
from ..starlette import AgentStreamResponse

__all__ = ["BridgedResponse", "FrameEncoder", "find_event"]

_READ_LIMIT = 4096


class FrameEncoder(Protocol):
    @property
    def is_paused(self) -> bool: ...
    def priming(self, cursor: int) -> bytes: ...
    def encode(self, seq: int, event_type: str, data: bytes) -> bytes: ...
    def skip(self, seq: int, event_type: str, data: bytes) -> None: ...


def _fields(frame: bytes) -> tuple[bytes, bytes, bytes]:
    # (id, event, data) of one of our frames: single-line fields, one data line (PROTOCOL.md)
    event_id = event = data = b""
    for line in frame.split(b"\n"):
        name, _, value = line.partition(b": ")
        if name == b"id":
            event_id = value
        elif name == b"event":
            event = value
        elif name == b"data":
            data = value
    return event_id, event, data


def _seq(event_id: bytes) -> tuple[str, int]:
    parsed = parse_event_id(event_id.decode())
    if parsed is None:
        raise ValueError(f"not an agent-stream event id: {event_id!r}")
    return parsed


class _Reframer:
    """Our SSE body -> the bridged format, frame by frame (frames never span two writes, but
    a partial tail is kept all the same)."""

    __slots__ = (
        "_buffer",
        "_encoder",
        "_has_sent",
        "_make_encoder",
        "_store",
        "last_seq",
        "stream_id",
    )

    @property
    def is_paused(self) -> bool:
        """This response sent an interrupt and nothing after it: it should end here. (A
        response that resumes right after an interrupt goes on: it carries the answer's run.)"""
        return self._has_sent and self._encoder is not None and self._encoder.is_paused

    def __init__(self, make_encoder: Callable[[str], FrameEncoder], store: StreamStore) -> None:
        self._make_encoder = make_encoder
        self._store = store
        self._encoder: FrameEncoder | None = None
        self._buffer = b""
        self._has_sent = False
        self.stream_id = ""
        self.last_seq = 0  # the last event sent

    async def feed(self, chunk: bytes) -> bytes:
        data = self._buffer + chunk if self._buffer else chunk
        end = data.rfind(b"\n\n")
        if end < 0:
            self._buffer = data
            return b""
        self._buffer = data[end + 2 :]
        out: list[bytes] = []
        for frame in data[:end].split(b"\n\n"):
            if frame.startswith(b":"):
                out.append(frame + b"\n\n")
                continue
            event_id, event, payload = _fields(frame)
            if event == b"reconnect" or not event_id:
                continue
            stream_id, seq = _seq(event_id)
            if event == b"start":
                encoder = self._encoder = self._make_encoder(stream_id)
                self.stream_id = stream_id
                await self._replay_into(encoder, stream_id, seq)
                out.append(encoder.priming(seq))
            elif self._encoder is not None:
                out.append(self._encoder.encode(seq, event.decode(), payload))
                self._has_sent = True
                self.last_seq = seq
        return b"".join(out)

    async def _replay_into(self, encoder: FrameEncoder, stream_id: str, cursor: int) -> None:
        seq = 0
        while seq < cursor:
            result = await self._store.read(stream_id, seq, limit=min(_READ_LIMIT, cursor - seq))
            if not result.events:
                break
            for event_type, payload in result.events:
                seq += 1
                encoder.skip(seq, event_type, payload)


class BridgedResponse(Response):
    """``inner`` (an AgentStreamResponse) with its event-stream body re-encoded by
    ``make_encoder(stream_id)``; error answers (JSON) pass unchanged."""

    def __init__(
        self,
        inner: AgentStreamResponse,
        make_encoder: Callable[[str], FrameEncoder],
        manager: RunManager,
    ) -> None:
        self.inner = inner
        self.make_encoder = make_encoder
        self.manager = manager
        self.background = None
        self.status_code = inner.status_code

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        reframer = _Reframer(self.make_encoder, self.manager.store)
        is_stream = False
        # Set once the body ended at an interrupt (the bridged run is over; ours waits for
        # its answer): the response tells its connection the client left, and sends nothing.
        ended = asyncio.Event()

        async def bridged_receive() -> Message:
            if ended.is_set():
                return {"type": "http.disconnect"}
            receiving = asyncio.ensure_future(receive())
            waiting = asyncio.ensure_future(ended.wait())
            try:
                await asyncio.wait((receiving, waiting), return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiting.cancel()
            if receiving.done():
                return receiving.result()
            receiving.cancel()
            return {"type": "http.disconnect"}

        async def is_answered() -> bool:
            # A replay reaches the interrupt with the rest already stored: go on then.
            info = await self.manager.store.info(reframer.stream_id)
            return info is not None and info.last_seq > reframer.last_seq

        async def bridged_send(message: Message) -> None:
            nonlocal is_stream
            if ended.is_set():
                return
            if message["type"] == "http.response.start":
                headers = dict(message.get("headers", []))
                is_stream = headers.get(b"content-type", b"").startswith(b"text/event-stream")
            elif message["type"] == "http.response.body" and is_stream:
                body = await reframer.feed(message.get("body", b""))
                if reframer.is_paused and not await is_answered():
                    ended.set()
                    await send({"type": "http.response.body", "body": body, "more_body": False})
                    return
                message = {**message, "body": body}
            await send(message)

        await self.inner(scope, bridged_receive, bridged_send)


async def find_event(
    store: StreamStore, stream_id: str, event_type: str, key: str, value: str
) -> int:
    """The seq of the first stored ``event_type`` whose data has ``key == value``; 0 if none."""
    seq = 0
    while True:
        result = await store.read(stream_id, seq, limit=_READ_LIMIT)
        for stored_type, payload in result.events:
            seq += 1
            if stored_type == event_type and msgspec.json.decode(payload).get(key) == value:
                return seq
        if not result.events or (result.is_done and seq >= result.last_seq):
            return 0
