"""A bridged :class:`~agent_stream.starlette.AgentStreamResponse`: a bridge encoder as its wire
format (``framing=``), and the one thing a framing cannot do itself: end the response at a
question.

The response keeps doing everything it does (start or resume the run, owner and cursor checks,
heartbeats, disconnect policy, shutdown); its connection writes through the encoder, which
reads the stream from its start and folds the events the client has. When the encoder has just
sent a question (an AG-UI interrupt, an AI SDK tool approval) and nothing more is stored, the
bridged run is over for this client while ours waits for the answer: the body ends there and
the connection is told the client left.
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

from ..server.manager import RunManager
from ..server.store import StreamStore
from ..starlette import AgentStreamResponse

__all__ = ["BridgedResponse", "FrameEncoder", "find_event"]

_READ_LIMIT = 4096


class FrameEncoder(Protocol):
    stream_id: str
    sent_seq: int

    @property
    def is_paused(self) -> bool: ...
    def priming(self, cursor: int) -> bytes: ...
    def encode(self, seq: int, event_type: str, data: bytes) -> bytes: ...
    def skip(self, seq: int, event_type: str, data: bytes) -> None: ...


class BridgedResponse(Response):
    """``inner`` (an AgentStreamResponse) written through ``make_encoder(stream_id)``, ending at
    a question; error answers (JSON) pass unchanged."""

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
        made: list[FrameEncoder] = []

        def framing(stream_id: str) -> FrameEncoder:
            made.append(self.make_encoder(stream_id))
            return made[-1]

        self.inner.framing = framing  # type: ignore[assignment]
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

        async def is_paused() -> bool:
            # This response sent a question and nothing after it, and nothing more is stored
            # (a replay that reaches an answered question goes on).
            if not made or not made[-1].is_paused or made[-1].sent_seq == 0:
                return False
            encoder = made[-1]
            info = await self.manager.store.info(encoder.stream_id)
            return info is None or info.last_seq <= encoder.sent_seq

        async def bridged_send(message: Message) -> None:
            if ended.is_set():
                return
            if message["type"] == "http.response.body" and await is_paused():
                ended.set()
                message = {**message, "more_body": False}
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
