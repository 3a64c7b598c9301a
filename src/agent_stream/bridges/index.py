"""Which stream a chat (AI SDK) or a thread (AG-UI) is running: a small key -> stream index.

Both UIs re-attach by *their* id (``GET <api>/<chatId>/stream``, ``connect()`` on a thread),
not by our stream id, so the bridge routes record the latest stream of each, per owner. Use
:class:`MemoryStreamIndex` in one process and :class:`RedisStreamIndex` beside a ``RedisStore``,
so a re-attach can land on any process.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from .._extras import install_hint
from ..errors import UsageError

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.asyncio.cluster import RedisCluster

__all__ = ["MemoryStreamIndex", "RedisStreamIndex", "StreamIndex", "index_key"]

_MISSING = f"RedisStreamIndex needs redis: {install_hint('redis')}"


def index_key(kind: str, owner: str, name: str) -> str:
    """The index key of a chat or thread ``name`` of ``owner``: a digest, so ids of any shape
    (and other owners') never collide or leak into key names."""
    digest = hashlib.sha256(f"{kind}\0{owner}\0{name}".encode("utf-8", "replace")).hexdigest()
    return f"{kind}:{digest}"


@runtime_checkable
class StreamIndex(Protocol):
    """Latest stream per key, kept ``ttl_s`` seconds after it was set."""

    async def set(self, key: str, value: str, *, ttl_s: float) -> None: ...

    async def get(self, key: str) -> str | None: ...


class MemoryStreamIndex:
    """In-process index, bounded to ``max_keys`` (the oldest set is forgotten first)."""

    def __init__(self, *, max_keys: int = 100_000) -> None:
        self.max_keys = max_keys
        self._entries: OrderedDict[str, tuple[str, float]] = OrderedDict()

    async def set(self, key: str, value: str, *, ttl_s: float) -> None:
        self._entries.pop(key, None)
        self._entries[key] = (value, time.monotonic() + ttl_s)
        while len(self._entries) > self.max_keys:
            self._entries.popitem(last=False)

    async def get(self, key: str) -> str | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[1] <= time.monotonic():
            del self._entries[key]
            return None
        return entry[0]


class RedisStreamIndex:
    """Index in Redis (``SET key value PX ttl`` / ``GET``) under ``prefix``; ``client`` may
    be a ``RedisCluster``."""

    def __init__(
        self, client: Redis | RedisCluster, *, prefix: str = "agent-stream:bridge"
    ) -> None:
        self._client = client
        self.prefix = prefix

    @classmethod
    def from_url(cls, url: str, *, prefix: str | None = None) -> RedisStreamIndex:
        """An index on the Redis at ``url``; a ``RedisStore`` URL works as is (its options,
        such as ``?prefix=...&lease_s=...``, are not redis-py's: they are taken out, and its
        ``prefix`` namespaces the index too)."""
        try:
            import redis.asyncio as redis_asyncio
            import redis.asyncio.cluster

            from ..server.redis import _split_store_options  # the store's own URL options
            from ..server.redis_cluster import cluster_seeds
        except ImportError as exc:
            raise UsageError(_MISSING, code="missing-extra") from exc
        plain, options = _split_store_options(url)
        if prefix is None:
            prefix = f"{options.get('prefix', 'agent-stream')}:bridge"
        client: Any = (
            # ?cluster=1: one key per call, any node of the URL's or cluster_nodes to start from
            redis.asyncio.cluster.RedisCluster.from_url(
                plain, startup_nodes=cluster_seeds(options.get("cluster_nodes", ()))
            )
            if options.get("cluster")
            else redis_asyncio.from_url(plain)
        )
        return cls(client, prefix=prefix)

    async def set(self, key: str, value: str, *, ttl_s: float) -> None:
        await self._client.set(f"{self.prefix}:{key}", value, px=max(1, round(ttl_s * 1000)))

    async def get(self, key: str) -> str | None:
        value = await self._client.get(f"{self.prefix}:{key}")
        if value is None:
            return None
        return value.decode() if isinstance(value, bytes) else str(value)

    async def aclose(self) -> None:
        await self._client.aclose()
