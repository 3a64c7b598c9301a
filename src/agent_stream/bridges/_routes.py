"""What the bridge route factories share: request bodies, ``Last-Event-ID``, error answers,
finding a question in a stream."""

from __future__ import annotations

from .._extras import missing_extra

try:
    import anyio as _anyio  # noqa: F401
    import starlette as _starlette  # noqa: F401
except ImportError as exc:
    raise missing_extra("agent_stream.bridges", exc, "server") from exc

import time
from collections.abc import AsyncIterable, AsyncIterator
from contextlib import aclosing

import msgspec
from starlette.requests import Request

from ..server._asgi import last_event_id
from ..server.manager import RunManager
from ..server.request_body import check_json_depth, error_response
from ..server.request_body import read_body as read_bounded
from ..server.run import SourceItem
from ..server.store import StreamStore
from .index import StreamIndex

__all__ = [
    "MAX_BODY_BYTES",
    "error_response",
    "find_event",
    "kept_in_index",
    "last_event_id",
    "manager_for",
    "read_body",
]

MAX_BODY_BYTES = 1 << 20
_READ_LIMIT = 4096


def manager_for(manager: RunManager | None, request: Request) -> RunManager:
    return manager if manager is not None else RunManager.for_app(request.app)


async def read_body(request: Request) -> bytes:
    """The request body, refused past :data:`MAX_BODY_BYTES` (413, by ``Content-Length``
    before reading), after 10 s (408), or nested deeper than JSON may be decoded (400): the
    shared reader of :mod:`agent_stream.server.request_body`."""
    body = await read_bounded(request, max_bytes=MAX_BODY_BYTES)
    check_json_depth(body)  # JSON nested 1,000 deep: 400, not a RecursionError 500
    return body


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


async def kept_in_index(
    source: AsyncIterable[SourceItem], index: StreamIndex, key: str, value: str, ttl_s: float
) -> AsyncIterator[SourceItem]:
    """``source``, keeping ``index[key]`` (``value``: the stream id first) while it runs: set
    again at an event once a quarter of ``ttl_s`` has passed, and when the source ends, so a
    run that outlives ``ttl_s`` still re-attaches and stops by its chat or thread. Never over
    a newer run's entry (the entry is kept as it is while it names this stream: an AG-UI
    answer names its own run). During an idle wait longer than ``ttl_s`` (an unanswered
    question) the entry lapses until the next event. Closing it closes ``source`` (the
    agent's ``finally`` runs, as without it)."""
    iterator = aiter(source)
    last_s = time.monotonic()
    async with aclosing(iterator):  # type: ignore[type-var]
        async for item in iterator:
            yield item
            now_s = time.monotonic()
            if now_s - last_s >= ttl_s / 4:
                last_s = now_s
                await _keep(index, key, value, ttl_s)
    await _keep(index, key, value, ttl_s)


async def _keep(index: StreamIndex, key: str, value: str, ttl_s: float) -> None:
    entry = await index.get(key)
    if entry is None:
        await index.set(key, value, ttl_s=ttl_s)
    elif entry.partition(" ")[0] == value.partition(" ")[0]:
        await index.set(key, entry, ttl_s=ttl_s)
