"""MemoryStore beyond the store contract (test_store_contract.py): the total bound, its clock."""

from __future__ import annotations

import pytest

from agent_stream.errors import ResumeError
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
