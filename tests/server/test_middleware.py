"""Streams through GZipMiddleware and BaseHTTPMiddleware; graceful shutdown."""

from __future__ import annotations

import json
import signal
import time
import uuid

import anyio
import httpx
import pytest

from tests.uvicorn_helpers import UvicornProcess

from .conftest import Frame, frames

pytestmark = pytest.mark.anyio


async def test_gzip_neither_compresses_nor_delays() -> None:
    with UvicornProcess(
        "tests.server.app:create_app", factory=True, env={"TEST_GZIP": "1"}
    ) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            url = f"/chat?tag={uuid.uuid4().hex}&first_delay_s=6&n=2&text={'x' * 600}"
            async with client.stream("GET", url, headers={"accept-encoding": "gzip"}) as r:
                assert r.headers.get("content-encoding", "identity") == "identity"
                raw = r.aiter_raw()
                # the first event is 6 s away: bytes inside the deadline are the priming
                # frame, not held back by the gzip middleware
                with anyio.fail_after(3):
                    first = await anext(raw)
                rest = b"".join([chunk async for chunk in raw])
    assert first.startswith(b"id: ")
    assert rest.count(b"event: token") == 2 and rest.endswith(b"\n\n")


async def test_basehttpmiddleware_lets_disconnects_through() -> None:
    with UvicornProcess(
        "tests.server.app:create_app", factory=True, env={"TEST_BASEHTTP": "1"}
    ) as server:
        name = uuid.uuid4().hex
        async with httpx.AsyncClient(base_url=server.url) as client:
            with anyio.fail_after(5):
                url = f"/chat?tag={name}&disconnect=cancel&first_delay_s=30"
                async with client.stream("GET", url) as r:
                    first = await anext(aiter(frames(r)))
                    assert first.event == "start"
            body = (
                await client.get(f"/wait/{name}", params={"key": "finally", "timeout_s": 1})
            ).json()
    assert body["reached"], body


async def test_sigterm_sends_reconnect_and_exits_promptly() -> None:
    server = UvicornProcess("tests.server.app:create_app", factory=True).start()
    try:
        got: list[list[Frame]] = [[], [], []]
        async with httpx.AsyncClient(base_url=server.url) as client:
            async with anyio.create_task_group() as tg:
                opened = anyio.Semaphore(0)

                async def read(i: int) -> None:
                    url = f"/chat?tag={uuid.uuid4().hex}&first_delay_s=30"
                    async with client.stream("GET", url) as r:
                        async for frame in frames(r):
                            got[i].append(frame)
                            if frame.event == "start":
                                opened.release()

                for i in range(3):
                    tg.start_soon(read, i)
                with anyio.fail_after(5):
                    for _ in range(3):
                        await opened.acquire()
                    signalled = time.monotonic()
                    server.signal(signal.SIGTERM)
        code = server.wait(timeout_s=5)
        exited_after = time.monotonic() - signalled
    finally:
        server.stop()
    for stream in got:
        assert [f.event for f in stream] == ["start", "reconnect"]
        assert stream[-1].id is None
        assert json.loads(stream[-1].data or "") == {"reason": "server-shutdown"}
    # uvicorn re-raises the captured SIGTERM after a clean shutdown
    assert code in (0, -signal.SIGTERM), server.log_text()
    assert "Exception" not in server.log_text()
    assert exited_after < 3
