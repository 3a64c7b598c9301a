"""Fixtures: the test app (tests/server/app.py) under uvicorn, and an SSE frame reader."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from tests.uvicorn_helpers import UvicornProcess


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def server() -> Iterator[UvicornProcess]:
    """One shared test-app process; tests isolate themselves with a unique ``tag``."""
    with UvicornProcess(
        "tests.server.app:create_app", factory=True, args=["--no-access-log"]
    ) as process:
        yield process


@dataclass
class Frame:
    """One SSE block as sent: fields in order (a comment block has only ``comment``)."""

    id: str | None = None
    event: str | None = None
    data: str | None = None
    retry: int | None = None
    comment: str | None = None
    raw: bytes = field(default=b"", repr=False)

    @property
    def seq(self) -> int:
        assert self.id is not None
        return int(self.id.rsplit(":", 1)[1])


def parse_block(block: bytes) -> Frame:
    frame = Frame(raw=block)
    for line in block.decode().split("\n"):
        name, _, value = line.partition(": ")
        if name == "":
            frame.comment = value
        elif name == "id":
            frame.id = value
        elif name == "event":
            frame.event = value
        elif name == "data":
            assert frame.data is None, f"two data lines in {block!r}"
            frame.data = value
        elif name == "retry":
            frame.retry = int(value)
        else:
            raise AssertionError(f"unexpected line {line!r}")
    return frame


async def frames(response: httpx.Response) -> AsyncIterator[Frame]:
    """The frames of a streamed response as they arrive (our server writes LF only)."""
    buffer = b""
    async for chunk in response.aiter_raw():
        buffer += chunk
        while b"\n\n" in buffer:
            block, buffer = buffer.split(b"\n\n", 1)
            yield parse_block(block)
