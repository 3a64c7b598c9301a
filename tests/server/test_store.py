"""MemoryStore: order, bounds, trimming (410 with the earliest id), TTL, idempotency keys."""

from __future__ import annotations

import anyio
import pytest

from agent_stream.errors import ResumeError, UsageError
from agent_stream.server import MemoryStore, StoredEvent

pytestmark = pytest.mark.anyio


def events(first: int, count: int, last_type: str = "token") -> list[StoredEvent]:
    out = [("token", b'{"text":"%d"}' % seq) for seq in range(first, first + count)]
    if last_type != "token":
        out[-1] = (last_type, b"{}")
    return out


async def append(
    store: MemoryStore, stream_id: str, first: int, count: int, last_type: str = "token"
) -> None:
    await store.append(stream_id, first, events(first, count, last_type))


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_read_after_cursor_in_order() -> None:
    store = MemoryStore()
    await store.create("s", owner="o")
    await append(store, "s", 1, 5)
    result = await store.read("s", 2)
    assert list(result.events) == events(3, 3)
    assert not result.is_done and result.last_seq == 5
    with pytest.raises(UsageError):
        await append(store, "s", 7, 1)  # gap
    with pytest.raises(ResumeError) as info:
        await store.read("s", 9)
    assert info.value.code == "malformed-id"


async def test_done_closes_the_stream() -> None:
    store = MemoryStore()
    await store.create("s", owner="o")
    await append(store, "s", 1, 3, last_type="done")
    result = await store.read("s", 0)
    assert result.is_done and len(result.events) == 3
    with pytest.raises(UsageError):
        await append(store, "s", 4, 1)


async def test_read_waits_for_new_events() -> None:
    store = MemoryStore()
    await store.create("s", owner="o")
    got: list[int] = []

    async def reader() -> None:
        result = await store.read("s", 0, wait_s=5)
        got.append(len(result.events))

    with anyio.fail_after(2):
        async with anyio.create_task_group() as tg:
            tg.start_soon(reader)
            await anyio.wait_all_tasks_blocked()
            await append(store, "s", 1, 2)
    assert got == [2]


async def test_trimmed_cursor_raises_expired_with_earliest_id() -> None:
    store = MemoryStore(max_events=10)
    await store.create("s", owner="o")
    for first in range(1, 101, 10):
        await append(store, "s", first, 10)
    info = await store.info("s")
    assert info is not None and 90 <= info.earliest_seq <= 92
    with pytest.raises(ResumeError) as error:
        await store.read("s", 5)
    assert error.value.code == "expired"
    assert error.value.earliest_id == f"s:{info.earliest_seq}"
    ok = await store.read("s", info.earliest_seq - 1)
    assert len(ok.events) == 100 - info.earliest_seq + 1


async def test_total_bound_evicts_ended_streams_first() -> None:
    data_size = len(events(1, 1)[0][1])
    store = MemoryStore(max_total_bytes=data_size * 15)
    for name in ("a", "b"):
        await store.create(name, owner="o")
    await append(store, "a", 1, 10, last_type="done")
    await append(store, "b", 1, 10)
    assert await store.info("a") is None  # the ended stream went first
    assert store.total_bytes <= data_size * 15
    await append(store, "b", 11, 10)
    info = await store.info("b")
    assert info is not None and info.earliest_seq > 1 and store.total_bytes <= data_size * 15


async def test_ttl_after_done() -> None:
    clock = Clock()
    store = MemoryStore(ttl_s=60, clock=clock)
    await store.create("s", owner="o")
    await append(store, "s", 1, 1, last_type="done")
    clock.now = 59
    assert await store.info("s") is not None
    clock.now = 61
    assert await store.info("s") is None
    with pytest.raises(ResumeError) as error:
        await store.read("s", 0)
    assert error.value.code == "unknown-stream"


async def test_bind_key_first_binder_wins() -> None:
    store = MemoryStore()
    await store.create("s1", owner="o")
    assert await store.bind_key("k", "s1", ttl_s=60) == "s1"
    assert await store.bind_key("k", "s2", ttl_s=60) == "s1"
