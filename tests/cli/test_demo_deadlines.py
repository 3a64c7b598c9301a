"""``agent-stream demo`` closes connections whose request head trickles in (slowloris); streams
and keep-alive connections that are merely quiet are left alone."""

from __future__ import annotations

import anyio
import httpx
import pytest
from anyio.abc import SocketStream

from .processes import cli_server

pytestmark = pytest.mark.anyio

HEAD_TIMEOUT_S = 0.5


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def _trickle_until_closed(stream: SocketStream, head: bytes) -> float:
    """Send ``head`` a byte every 0.1 s; the seconds until the server closed the connection."""
    started = anyio.current_time()
    for byte in head:
        try:
            await stream.send(bytes([byte]))
        except (anyio.BrokenResourceError, OSError):
            return anyio.current_time() - started
        with anyio.move_on_after(0.1):
            try:
                if not await stream.receive():
                    return anyio.current_time() - started
            except (anyio.EndOfStream, anyio.BrokenResourceError, OSError):
                return anyio.current_time() - started
    raise AssertionError(f"still open after {anyio.current_time() - started:.1f} s of trickling")


async def test_a_trickled_head_is_closed_and_a_long_stream_is_not() -> None:
    args = ["demo", "--head-timeout-s", str(HEAD_TIMEOUT_S), "--heartbeat-s", "0.2"]
    with cli_server(args) as server:
        port = int(server.url.rsplit(":", 1)[1])
        endless = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 60
        with anyio.fail_after(10):
            # a new connection trickling its first head
            async with await anyio.connect_tcp("127.0.0.1", port) as stream:
                took = await _trickle_until_closed(stream, endless)
            assert HEAD_TIMEOUT_S - 0.1 < took < HEAD_TIMEOUT_S + 2
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            with anyio.fail_after(15):
                # a stream four times the head timeout long, then the same connection again
                body = {"tokens": 20, "token_delay_ms": 100, "tools": 0}
                chat = await client.post("/api/chat", json=body)
                assert chat.text.count("event: token") == 20 and "event: done" in chat.text
                assert (await client.get("/healthz")).status_code == 200
        with anyio.fail_after(10):
            # a kept-alive connection whose second head trickles
            async with await anyio.connect_tcp("127.0.0.1", port) as stream:
                await stream.send(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                answer = b""
                while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
                    answer += await stream.receive()
                assert answer.startswith(b"HTTP/1.1 200")
                took = await _trickle_until_closed(stream, endless)
            assert took < HEAD_TIMEOUT_S + 2
