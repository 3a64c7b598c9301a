"""A stream's owner is kept as a fixed-size digest, however large the credential it came from."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from agent_stream import Token
from agent_stream.errors import ResumeError
from agent_stream.server import MemoryStore, RunManager

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def _agent() -> AsyncIterator[Token]:
    yield Token(text="hi")


async def test_a_megabyte_owner_is_stored_as_64_characters() -> None:
    store = MemoryStore()
    manager = RunManager(store)
    huge = "Bearer " + "x" * 1_000_000
    run = await manager.start(_agent(), owner=huge, stream_id="s" * 22)
    info = await store.info(run.stream_id)
    assert info is not None and len(info.owner) == 64
    assert huge[:32] not in info.owner
    # the same credential resumes it; a different one of the same size does not
    await manager.check_resume(run.stream_id, 0, huge)
    with pytest.raises(ResumeError) as raised:
        await manager.check_resume(run.stream_id, 0, huge[:-1] + "y")
    assert raised.value.code == "unknown-stream"
    anonymous = await manager.start(_agent(), owner="", stream_id="a" * 22)
    assert (await store.info(anonymous.stream_id)).owner == ""  # type: ignore[union-attr]
    manager.shutdown()
    await store.aclose()
