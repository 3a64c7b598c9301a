"""A real Redis Cluster on loopback: masters with one replica each, every node its own
``redis-server`` process in its own directory, with deadlines on every wait.

::

    with RedisClusterServers(tmp_path) as cluster:     # 3 masters + 3 replicas
        cluster.url                       # redis://127.0.0.1:<port>/0?cluster=1 (RedisStore)
        node = cluster.master_for("agent-stream:{sid}:events")
        cluster.kill(node)                # SIGKILL; then wait for its replica to take over:
        promoted = cluster.wait_promoted(node)
        cluster.rejoin(node)              # start it again: it comes back as a replica

``cluster-node-timeout`` is short (``node_timeout_ms``) so a failover takes about a second or
two; nothing here calls ``CLUSTER FAILOVER``: a master is killed and the cluster notices.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import TypeVar

import redis

from tests.redis_helpers import RedisServer, free_port

REDIS_CLI = shutil.which("redis-cli") or "/usr/bin/redis-cli"
_T = TypeVar("_T")


def wait_for(what: str, probe: Callable[[], _T | None], timeout_s: float) -> _T:
    """``probe()``'s first value that is not ``None``, polled until ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            value = probe()
        except (redis.exceptions.RedisError, OSError):
            value = None
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"Redis Cluster: {what} not within {timeout_s:g}s")
        time.sleep(0.05)  # polling other processes' cluster state, bounded by the deadline


class RedisClusterServers:
    """``masters`` masters with ``replicas`` replicas each (``redis-cli --cluster create``)."""

    def __init__(
        self,
        directory: Path,
        *,
        masters: int = 3,
        replicas: int = 1,
        node_timeout_ms: int = 1000,
        ready_timeout_s: float = 30.0,
    ) -> None:
        self.directory = directory
        self.masters = masters
        self.replicas = replicas
        self.ready_timeout_s = ready_timeout_s
        # the bus port is set: its default (port + 10000) overflows for ephemeral ports
        options = [
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            "nodes.conf",
            "--cluster-node-timeout",
            str(node_timeout_ms),
        ]
        self._slots_of_killed: dict[int, list[int]] = {}
        self.nodes = [
            RedisServer(
                directory / f"node{i}", extra_args=[*options, "--cluster-port", str(free_port())]
            )
            for i in range(masters * (1 + replicas))
        ]

    @property
    def url(self) -> str:
        """A ``RedisStore`` URL naming every node (the first as the URL's, the others in
        ``cluster_nodes``): a client made while one is down still finds the cluster."""
        others = ",".join(f"127.0.0.1:{node.port}" for node in self.nodes[1:])
        return f"{self.nodes[0].url}?cluster=1&cluster_nodes={others}"

    def client(self, node: RedisServer) -> redis.Redis:
        return redis.Redis(port=node.port, socket_timeout=2, socket_connect_timeout=2)

    def start(self) -> RedisClusterServers:
        try:
            for node in self.nodes:
                node.start()
        except BaseException:
            self.stop()  # the nodes already started
            raise
        addresses = [f"127.0.0.1:{node.port}" for node in self.nodes]
        replicas = ["--cluster-replicas", str(self.replicas), "--cluster-yes"]
        created = subprocess.run(
            [REDIS_CLI, "--cluster", "create", *addresses, *replicas],
            capture_output=True,
            timeout=self.ready_timeout_s,
            check=False,
        )
        if created.returncode != 0:
            self.stop()
            raise RuntimeError(f"redis-cli --cluster create failed:\n{created.stdout[-2000:]!r}")
        for node in self.nodes:
            ok = f"{node.port} cluster_state:ok"
            wait_for(ok, functools.partial(self._ok, node), self.ready_timeout_s)
        wait_for("replicas in sync", self._replicas_synced, self.ready_timeout_s)
        return self

    def _ok(self, node: RedisServer) -> bool | None:
        info = self.client(node).cluster("info")
        return True if info["cluster_state"] == "ok" else None

    def live_nodes(self) -> Iterator[RedisServer]:
        return (node for node in self.nodes if node.running)

    def roles(self) -> dict[int, str]:
        """port -> ``master`` / ``slave`` as the live nodes see themselves."""
        roles: dict[int, str] = {}
        for node in self.live_nodes():
            info = self.client(node).info("replication")
            roles[node.port] = str(info["role"])
        return roles

    def _replicas_synced(self) -> bool | None:
        replicas = [n for n in self.live_nodes() if self.roles()[n.port] == "slave"]
        if len(replicas) < self.masters * self.replicas:
            return None
        for node in replicas:
            if self.client(node).info("replication").get("master_link_status") != "up":
                return None
        return True

    def master_for(self, key: str) -> RedisServer:
        """The node serving ``key``'s slot now (as a live node tells it)."""
        for node in self.live_nodes():
            slot = int(self.client(node).cluster("keyslot", key))
            for start, end, master, *_ in self.client(node).cluster("slots"):
                if start <= slot <= end:
                    return self._by_port(int(master[1]))
        raise RuntimeError("no live node answered CLUSTER SLOTS")

    def replica_of(self, master: RedisServer) -> RedisServer:
        info = self.client(master).info("replication")
        return self._by_port(int(info["slave0"]["port"]))

    def _by_port(self, port: int) -> RedisServer:
        return next(node for node in self.nodes if node.port == port)

    def kill(self, node: RedisServer) -> list[int]:
        """SIGKILL: a master's replica takes its slots after ``cluster-node-timeout``. Returns
        the first slot of each range it served (none for a replica)."""
        self._slots_of_killed[node.port] = [
            start
            for start, _, master, *_ in self.client(node).cluster("slots")
            if int(master[1]) == node.port
        ]
        node.kill()
        return self._slots_of_killed[node.port]

    def wait_promoted(self, dead: RedisServer, timeout_s: float = 30.0) -> RedisServer:
        """The replica that took over the slots of ``dead`` (killed with :meth:`kill`), once
        every live node says so and says the cluster is ``ok``."""
        slots = self._slots_of_killed[dead.port]

        def promoted() -> RedisServer | None:
            owners: set[int] = set()
            for node in self.live_nodes():
                if self.client(node).cluster("info")["cluster_state"] != "ok":
                    return None
                for start, _, master, *_ in self.client(node).cluster("slots"):
                    if start in slots:
                        owners.add(int(master[1]))
            if len(owners) != 1 or dead.port in owners:
                return None
            return self._by_port(owners.pop())

        return wait_for(f"failover of {dead.port}", promoted, timeout_s)

    def rejoin(self, node: RedisServer, timeout_s: float = 30.0) -> None:
        """Start a killed node again (same port and ``nodes.conf``): it rejoins as a replica."""
        node.start()
        wait_for(f"{node.port} back as a synced replica", self._replicas_synced, timeout_s)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def __enter__(self) -> RedisClusterServers:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
