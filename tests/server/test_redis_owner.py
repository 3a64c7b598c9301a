"""RedisStore: another owner's stream is refused with exactly the work an unknown one costs.

Structural, not timed: the same Redis commands (INFO commandstats, which counts the commands
scripts run too) and the same reply bytes (counted by a pass-through proxy) for both.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest

from agent_stream.errors import ResumeError
from agent_stream.server import RunManager
from agent_stream.server.manager import owner_key
from tests.faultproxy import FaultProxy
from tests.redis_helpers import RedisServer

pytest.importorskip("redis")

import redis.asyncio

from agent_stream.server.redis import RedisStore

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

THEIRS = "t" * 22
UNKNOWN = "u" * 22


async def command_calls(client: Any) -> dict[str, int]:
    stats: dict[str, dict[str, int]] = await client.info("commandstats")
    return {name: int(values["calls"]) for name, values in stats.items()}


async def test_another_owners_stream_costs_what_an_unknown_one_costs(tmp_path: Path) -> None:
    with RedisServer(tmp_path) as redis_server:
        direct = redis.asyncio.Redis.from_url(redis_server.url)
        # the producer talks to Redis directly, with a lease long enough that it renews
        # nothing meanwhile; only the checking store's calls pass the proxy that counts bytes
        producer = RedisStore.from_url(redis_server.url, prefix="owners", lease_s=600)
        async with FaultProxy(redis_server.port) as proxy:
            checker = RedisStore.from_url(f"redis://127.0.0.1:{proxy.port}/0", prefix="owners")
            manager = RunManager(checker, handle_signals=False)
            try:
                await producer.create(THEIRS, owner=owner_key("alice"))
                assert (await manager.check_resume(THEIRS, 0, "alice")).stream_id == THEIRS
                costs = []
                for stream_id in (THEIRS, UNKNOWN, THEIRS, UNKNOWN):  # the first two warm up
                    calls, down = await command_calls(direct), proxy.stats.bytes_down
                    with pytest.raises(ResumeError) as refused:
                        await manager.check_resume(stream_id, 0, "bob")
                    after = await command_calls(direct)
                    commands = {k: v - calls.get(k, 0) for k, v in after.items()}
                    commands.pop("cmdstat_info")  # our own count of the counts
                    commands.pop("cmdstat_ping", None)  # pub/sub health checks, any time
                    costs.append(
                        (
                            {k: v for k, v in commands.items() if v},
                            proxy.stats.bytes_down - down,
                            refused.value.code,
                            refused.value.status_code,
                        )
                    )
            finally:
                with anyio.fail_after(5):
                    await checker.aclose()
                    await producer.aclose()
                await direct.aclose()
    theirs, unknown = costs[2:]
    assert theirs == unknown
    assert theirs[0] == {"cmdstat_evalsha": 1, "cmdstat_hget": 1}
    assert theirs[2:] == ("unknown-stream", 404)
