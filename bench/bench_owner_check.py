"""RedisStore: how long refusing another owner's stream takes beside refusing an unknown one.

A resume or stop of a stream that is not yours must not be told apart from one of an unknown
stream, by its answer or by its time (PROTOCOL 5.2). Two paths, each timed for another owner's
stream and for an unknown one, interleaved and in both orders (the first call of a pair pays for
whatever the previous call left cold):

- ``info``: ``StreamStore.info`` then a comparison in Python (what the manager did before
  #17 defect 9: another owner's stream fetches its whole record),
- ``owned_info``: one script that compares the owner in Redis and answers ``{-1}`` for both.

redis-server (Debian) on a free loopback port, no persistence. Wall time per call (the Redis
round trip included), median of ``--calls`` calls per cell. Run:
``.venv/bin/python bench/bench_owner_check.py [--calls 3000]``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "src")]

from tests.redis_helpers import RedisServer  # noqa: E402

from agent_stream.server.manager import owner_key  # noqa: E402
from agent_stream.server.redis import RedisStore  # noqa: E402

THEIRS, UNKNOWN = "t" * 22, "u" * 22


async def run(calls: int) -> None:
    with RedisServer(Path(tempfile.mkdtemp())) as server:
        store = RedisStore.from_url(server.url, prefix="owner-bench", lease_s=60)
        bob = owner_key("bob")
        await store.create(THEIRS, owner=owner_key("alice"), meta={"route": "/api/chat"})
        await store.append(THEIRS, 1, [("token", b'{"text":"hello world "}')] * 10)

        async def by_info(stream_id: str) -> bool:
            info = await store.info(stream_id)
            return info is not None and info.owner == bob

        async def by_owned_info(stream_id: str) -> bool:
            return await store.owned_info(stream_id, bob) is not None

        paths: dict[str, Callable[[str], Awaitable[bool]]] = {
            "info": by_info,
            "owned_info": by_owned_info,
        }
        orders = {"theirs first": (THEIRS, UNKNOWN), "unknown first": (UNKNOWN, THEIRS)}
        times: dict[tuple[str, str, str], list[float]] = {}
        for _ in range(calls):
            for order, stream_ids in orders.items():
                for name, path in paths.items():
                    for stream_id in stream_ids:
                        began = time.perf_counter()
                        assert not await path(stream_id)
                        elapsed = time.perf_counter() - began
                        times.setdefault((name, order, stream_id), []).append(elapsed)
        await store.aclose()
    print(f"load average {os.getloadavg()[0]:.1f}; median of {calls} calls, microseconds")
    print("| path | order | another owner's | unknown | difference |")
    print("| --- | --- | ---: | ---: | ---: |")
    for name in paths:
        for order in orders:
            theirs = statistics.median(times[(name, order, THEIRS)]) * 1e6
            unknown = statistics.median(times[(name, order, UNKNOWN)]) * 1e6
            print(f"| {name} | {order} | {theirs:.0f} | {unknown:.0f} | {theirs - unknown:+.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--calls", type=int, default=3000)
    asyncio.run(run(parser.parse_args().calls))


if __name__ == "__main__":
    main()
