"""``RedisStore`` on one Redis or on a Redis Cluster: its clients, the errors worth a retry, and
``WAIT`` for replicas on the connection that wrote.

Part of :class:`~agent_stream.server.redis.RedisStore`. On a cluster (``?cluster=1`` in the URL,
``redis.asyncio.cluster.RedisCluster``) every key of a stream carries the ``{<sid>}`` hash tag, so
each script touches one slot; pub/sub channels are cluster-wide (``PUBLISH`` reaches a subscriber
on any node), and nothing scans keys.

``WAIT n`` counts the replicas that have every write *its connection* made, so it must follow
the writes on the same connection: it goes at the end of the same pipeline (on a cluster, one
``WAIT`` per node, sent with that node's commands).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.asyncio.client import Pipeline, PubSub
    from redis.asyncio.cluster import ClusterPipeline, RedisCluster

__all__ = [
    "ReplicaWait",
    "cluster_seeds",
    "is_cluster",
    "make_clients",
    "pubsub",
    "transient_errors",
]


def transient_errors(redis: Any) -> tuple[type[BaseException], ...]:
    """What a retry may cure: the connection, a timeout, and a cluster mid-failover (the
    slot is down, moving, or not covered yet)."""
    exceptions = redis.exceptions
    return (
        exceptions.ConnectionError,
        exceptions.TimeoutError,
        exceptions.ClusterError,  # CLUSTERDOWN, MASTERDOWN
        exceptions.TryAgainError,
        exceptions.AskError,  # MOVED / ASK left after redis-py's own redirects
        exceptions.RedisClusterException,  # no reachable node, slot not covered
        OSError,
        TimeoutError,
    )


def is_cluster(client: Any) -> bool:
    import redis.asyncio.cluster

    return isinstance(client, redis.asyncio.cluster.RedisCluster)


async def pubsub(client: Redis | RedisCluster) -> PubSub:
    """A pub/sub connection. On a cluster, to a node picked at random: a ``PUBLISH`` on any
    node reaches every node, and a node that died (whose slots a failover moved, while the
    client's map still names it) is left behind at the next try, not tried again forever."""
    if is_cluster(client):
        await client.initialize()
        return client.pubsub(node=random.choice(client.get_nodes()))  # type: ignore[union-attr]
    return client.pubsub()


def cluster_seeds(seeds: Sequence[str]) -> list[Any]:
    """``ClusterNode`` per ``host:port`` (``[::1]:7000`` too): more nodes to start from."""
    from redis.asyncio.cluster import ClusterNode

    nodes = []
    for seed in seeds:
        host, _, port = seed.rpartition(":")
        nodes.append(ClusterNode(host.strip("[]"), int(port)))
    return nodes


def make_clients(
    url: str,
    *,
    cluster: bool,
    timeout_s: float,
    max_connections: int,
    health_check_s: float,
    seeds: Sequence[str] = (),
) -> tuple[Redis | RedisCluster, Redis | RedisCluster]:
    """The store's client and its client for blocking reads (``XREAD BLOCK``, pub/sub);
    ``seeds`` (``host:port``) are more cluster nodes to start from than the URL's."""
    import redis
    import redis.asyncio
    import redis.asyncio.cluster

    # A pooled connection that Redis closed (it restarted) fails its next command with a
    # ConnectionError: redis-py reconnects and sends it once more, at once. A timeout is
    # never retried on one Redis (the command may still run); a cluster client also retries
    # once after a timeout or CLUSTERDOWN, having refreshed its slots. Every script is safe
    # to run twice (see the scripts' comments); a connection idle past the interval is
    # PINGed before use.
    retry_once = redis.asyncio.retry.Retry(
        redis.backoff.NoBackoff(), 1, supported_errors=(redis.exceptions.ConnectionError,)
    )
    common: dict[str, Any] = {
        "socket_connect_timeout": timeout_s,
        "retry": retry_once,
        "health_check_interval": health_check_s,
        "decode_responses": False,
    }
    factory: Any = redis.asyncio.Redis
    if cluster:
        # max_connections is per node; a slot left uncovered by a failover must not stop
        # the client from serving the others
        factory = redis.asyncio.cluster.RedisCluster
        common["require_full_coverage"] = False
        common["startup_nodes"] = cluster_seeds(seeds)
    client = factory.from_url(
        url, socket_timeout=timeout_s, max_connections=max_connections, **common
    )
    # blocking reads outlast op_timeout_s; each is bounded by a deadline instead
    blocking = factory.from_url(
        url, socket_timeout=None, max_connections=4 * max_connections, **common
    )
    return client, blocking


class ReplicaWait:
    """``WAIT replicas timeout`` after a pipeline's writes, per connection that wrote."""

    def __init__(self, client: Redis | RedisCluster, replicas: int, timeout_ms: int) -> None:
        self._client = client
        self._cluster: RedisCluster | None = client if is_cluster(client) else None  # type: ignore[assignment]
        self.replicas = replicas
        self.timeout_ms = timeout_ms

    def queue(self, pipe: Pipeline | ClusterPipeline, keys: Sequence[str]) -> list[Any]:
        """Queue the ``WAIT`` (one per node on a cluster) after the writes to ``keys`` (one
        key per write); returns what :meth:`acked` needs to tell which writes were waited
        for: the node of each write (``None`` on one Redis)."""
        if self._cluster is None:
            pipe.execute_command("WAIT", self.replicas, self.timeout_ms)
            return [None] * len(keys)
        nodes = [self._node(key) for key in keys]
        for node in self._distinct(nodes).values():
            pipe.execute_command("WAIT", self.replicas, self.timeout_ms, target_nodes=node)
        return nodes

    def _node(self, key: str) -> Any:
        import redis

        assert self._cluster is not None
        try:
            return self._cluster.get_node_from_key(key)
        except (KeyError, redis.exceptions.RedisClusterException):
            return None  # no slot map (being refreshed after a failure) or slot not covered

    async def ready(self) -> None:
        """Before :meth:`queue`: a cluster client knows its slots."""
        if self._cluster is not None:
            await self._cluster.initialize()

    @staticmethod
    def _distinct(nodes: list[Any]) -> dict[str, Any]:
        # a slot without a node (mid-failover) gets no WAIT: its writes count as not acked
        return {node.name: node for node in nodes if node is not None}

    def acked(self, keys: Sequence[str], nodes: list[Any], replies: Sequence[Any]) -> list[bool]:
        """Per write: did at least ``replicas`` replicas acknowledge it? ``replies`` are the
        ``WAIT`` replies in queue order. On a cluster a write redirected to another node
        (its slot moved meanwhile) was not waited for: it counts as not acknowledged."""
        if self._cluster is None:
            ok = _count(replies[0]) >= self.replicas
            return [ok] * len(keys)
        order = list(self._distinct(nodes))
        counts = {name: _count(reply) for name, reply in zip(order, replies, strict=True)}
        acked = []
        for key, node in zip(keys, nodes, strict=True):
            now = self._node(key)
            acked.append(
                node is not None
                and now is not None
                and now.name == node.name
                and counts[node.name] >= self.replicas
            )
        return acked


def _count(reply: Any) -> int:
    return reply if isinstance(reply, int) else -1  # an error: nobody acknowledged
