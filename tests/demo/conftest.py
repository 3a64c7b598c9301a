"""The demo app (``agent_stream.demo.app``) under a real uvicorn on 127.0.0.1, and readers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.server.conftest import Frame, frames
from tests.uvicorn_helpers import UvicornProcess

APP = "agent_stream.demo.app:create_app_from_env"

__all__ = ["APP", "Frame", "Run", "frames", "read_run"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def static_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A built page for the demo to serve (index.html + one asset)."""
    static = tmp_path_factory.mktemp("static")
    (static / "assets").mkdir()
    (static / "index.html").write_text(
        '<!doctype html><title>built</title><script src="./assets/app.js"></script>'
    )
    (static / "assets" / "app.js").write_text("console.log('agent-stream demo');\n")
    return static


@pytest.fixture(scope="session")
def demo_server(static_dir: Path) -> Iterator[UvicornProcess]:
    """One demo process for the module's tests; each test uses its own Authorization owner."""
    env = {"AGENT_STREAM_HEARTBEAT_S": "1", "AGENT_STREAM_STATIC_DIR": str(static_dir)}
    with UvicornProcess(APP, factory=True, env=env, args=["--no-access-log"]) as process:
        yield process


@dataclass
class Run:
    """What a client read from one response."""

    status: int
    frames: list[Frame]

    @property
    def events(self) -> list[Frame]:
        """The frames that are events (no comments, no priming start)."""
        return [f for f in self.frames if f.event is not None and f.event != "start"]

    @property
    def stream_id(self) -> str:
        start = json.loads(self.frames[0].data or "")
        stream_id: str = start["stream_id"]
        return stream_id

    def types(self) -> list[str]:
        return [f.event or "" for f in self.events]

    def data(self, event: str) -> list[dict[str, object]]:
        return [json.loads(f.data or "") for f in self.events if f.event == event]


async def read_run(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    stop_after: int | None = None,
    **kwargs: object,
) -> Run:
    """Read a response's frames to its end, or only the first ``stop_after`` events."""
    got: list[Frame] = []
    async with client.stream(method, url, **kwargs) as response:  # type: ignore[arg-type]
        if response.status_code != 200:
            await response.aread()
            return Run(response.status_code, [])
        count = 0
        async for frame in frames(response):
            got.append(frame)
            if frame.event not in (None, "start"):
                count += 1
                if stop_after is not None and count >= stop_after:
                    break
    return Run(200, got)
