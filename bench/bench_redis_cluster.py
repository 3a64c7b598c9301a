"""RedisStore on a Redis Cluster: what ``min_replicas_acked=1`` (``WAIT`` per batch) costs.

One process, the store alone (no HTTP): a producer appends to streams spread over the 3 masters
of a local cluster (3 masters + 3 replicas, ``tests/redis_cluster_helpers.py``), against one
plain ``redis-server`` for reference. Two workloads, rounds interleaved:

- ``paced``: one event per ``append`` awaited (a model's token, store-before-send): the wall
  time from append to acknowledgement (p50, p99) and the producer's CPU per event;
- ``burst``: ``--burst`` events per stream queued at once over ``--streams`` streams, awaited
  at the end: events per second and the producer's CPU per event.

CPU is ``time.process_time`` of this process (the store's work; Redis's own CPU is not in it).
Run: ``.venv/bin/python bench/bench_redis_cluster.py [--events 2000] [--burst 20000]
[--streams 6] [--rounds 3]``
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "src")]

from agent_stream.server.redis import RedisStore  # noqa: E402

_prefixes = itertools.count()
Row = tuple[float, float, float]  # (p50 ms or events/s, p99 ms or 0, CPU µs per event)


def event(seq: int) -> tuple[str, bytes]:
    return ("token", b'{"text":"token %d "}' % seq)


async def paced(url: str, acks: int, events: int) -> Row:
    store = RedisStore.from_url(url, prefix=f"bench{next(_prefixes)}", min_replicas_acked=acks)
    try:
        sid = uuid.uuid4().hex[:22]
        await store.create(sid, owner="")
        await store.append(sid, 1, [event(1)])  # connections and scripts ready
        waits: list[float] = []
        cpu0 = time.process_time()
        for seq in range(2, events + 2):
            t0 = time.perf_counter()
            await store.append(sid, seq, [event(seq)])
            waits.append((time.perf_counter() - t0) * 1000)
        cpu = time.process_time() - cpu0
        waits.sort()
        return statistics.median(waits), waits[int(len(waits) * 0.99)], cpu / events * 1e6
    finally:
        await store.aclose()


async def burst(url: str, acks: int, per_stream: int, streams: int) -> Row:
    store = RedisStore.from_url(url, prefix=f"bench{next(_prefixes)}", min_replicas_acked=acks)
    try:
        sids = [uuid.uuid4().hex[:22] for _ in range(streams)]
        for sid in sids:
            await store.create(sid, owner="")
            await store.append(sid, 1, [event(1)])
        cpu0, t0 = time.process_time(), time.perf_counter()
        for first in range(2, per_stream + 2, 100):
            count = min(100, per_stream + 2 - first)
            for sid in sids:
                store.append_nowait(sid, first, [event(s) for s in range(first, first + count)])
        await asyncio.gather(
            *(store.append(sid, per_stream + 2, [event(per_stream + 2)]) for sid in sids)
        )
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        total = per_stream * streams
        return total / wall, 0.0, cpu / total * 1e6
    finally:
        await store.aclose()


def main() -> None:
    from tests.redis_cluster_helpers import RedisClusterServers
    from tests.redis_helpers import RedisServer

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--burst", type=int, default=20000)
    parser.add_argument("--streams", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(
        f"Python {platform.python_version()}, redis-py {version('redis')}, "
        f"{platform.machine()} {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}\n"
    )
    with tempfile.TemporaryDirectory() as tmp:
        with (
            RedisServer(Path(tmp) / "single") as single,
            RedisClusterServers(Path(tmp) / "cluster") as cluster,
        ):
            configs = {
                "one redis-server": (single.url, 0),
                "cluster": (cluster.url, 0),
                "cluster, min_replicas_acked=1": (cluster.url, 1),
            }
            results: dict[str, dict[str, list[Row]]] = {
                name: {"paced": [], "burst": []} for name in configs
            }
            for _ in range(args.rounds):  # interleaved: load drifts alike for every config
                for name, (url, acks) in configs.items():
                    results[name]["paced"].append(asyncio.run(paced(url, acks, args.events)))
                    results[name]["burst"].append(
                        asyncio.run(burst(url, acks, args.burst, args.streams))
                    )
    print(f"load after: {os.getloadavg()[0]:.1f}; median of {args.rounds} rounds\n")
    print(
        f"| store | paced p50 ms | paced p99 ms | paced CPU µs/event | burst events/s "
        f"({args.streams} streams) | burst CPU µs/event |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for name, rows in results.items():
        p50, p99, pcpu = (statistics.median(r[i] for r in rows["paced"]) for i in range(3))
        rate, _, bcpu = (statistics.median(r[i] for r in rows["burst"]) for i in range(3))
        print(f"| {name} | {p50:.2f} | {p99:.2f} | {pcpu:.0f} | {rate:,.0f} | {bcpu:.1f} |")


if __name__ == "__main__":
    main()
