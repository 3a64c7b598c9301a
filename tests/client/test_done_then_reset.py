"""A connection reset right after ``done`` (while the client reads the response's end) ends the
stream there: one ``done``, no resume, no synthetic second ``done`` (found by the chaos soak,
bench/soak.py: a proxy cut landing between the done frame and the end of the body)."""

from __future__ import annotations

import asyncio
import socket
import struct
from contextlib import aclosing

import anyio
import pytest

from agent_stream.client import AgentStreamClient, StreamEvent

pytestmark = pytest.mark.anyio

SID = "Xr2bW9sS1tN4dQ8aZ0yVfg"
FRAMES = (
    f'id: {SID}:0\nretry: 1000\nevent: start\ndata: {{"stream_id":"{SID}"}}\n\n'
    f'id: {SID}:1\nevent: token\ndata: {{"text":"hi"}}\n\n'
    f'id: {SID}:2\nevent: done\ndata: {{"num_turns":1}}\n\n'
).encode()
HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"


class DoneThenReset:
    """Answers each request with the whole stream in one chunk, then an RST instead of the
    terminating chunk."""

    def __init__(self) -> None:
        self.requests = 0
        self.port = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with anyio.fail_after(5):
            await reader.readuntil(b"\r\n\r\n")
        self.requests += 1
        writer.write(HEAD + b"%x\r\n%b\r\n" % (len(FRAMES), FRAMES))
        await writer.drain()
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()


async def test_a_reset_after_done_ends_the_stream_with_that_one_done() -> None:
    server = DoneThenReset()
    listener = await asyncio.start_server(server.serve, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    events: list[StreamEvent] = []
    try:
        async with AgentStreamClient(max_retries=2, backoff_base_s=0.01) as client:
            with anyio.fail_after(10):
                stream = client.stream(f"http://127.0.0.1:{port}/chat", json={})
                async with aclosing(stream) as iterator:
                    events = [event async for event in iterator]
            failure = client.failure
    finally:
        listener.close()
    assert [e.type for e in events] == ["start", "token", "done"]
    assert events[-1].seq == 2 and not events[-1].data.get("synthetic")
    assert failure is None
    assert server.requests == 1
