"""MemoryStore drops an ended stream when its TTL passes, without waiting for a request."""

from __future__ import annotations

import anyio
import pytest

from agent_stream.server import MemoryStore, StoredEvent

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_expired_streams_are_swept_without_a_request() -> None:
    store = MemoryStore(ttl_s=0.2)
    for n, stream_id in enumerate(["a", "b", "c"]):
        await store.create(stream_id, owner="o")
        events: list[StoredEvent] = [("token", b"{}"), ("done", b"{}")]
        await store.append(stream_id, 1, events)
        if n == 0:
            await store.create("open", owner="o")  # never ends: never expires
    assert len(store) == 4 and store.total_bytes > 0
    with anyio.fail_after(5):
        # the store has no expiry signal; nothing but this loop looks at it
        while len(store) > 1:  # noqa: ASYNC110
            await anyio.sleep(0.05)
    assert store.total_bytes == 0
    assert await store.info("open") is not None
    await store.aclose()
