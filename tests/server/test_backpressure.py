"""A reader that stops reading: reaped after send_timeout_s; the run goes on; resume later.

Served with RequestDeadlineProtocol, the reaped reader's socket is dropped too (plain ASGI has
no way to; uvicorn's close waits for bytes the reader never takes), and nothing is logged.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import time
import uuid
from collections.abc import Iterator

import anyio
import httpx
import pytest

from tests.uvicorn_helpers import UvicornProcess

from .conftest import frames

pytestmark = pytest.mark.anyio

EVENTS = 20_000
TEXT = "x" * 1000  # 20 MB in all: far more than the socket buffers on both sides


@pytest.fixture(scope="module")
def deadline_server() -> Iterator[UvicornProcess]:
    with UvicornProcess(
        "tests.server.app:create_app",
        factory=True,
        args=[
            "--no-access-log",
            "--http",
            "agent_stream.server.uvicorn_deadlines:RequestDeadlineProtocol",
        ],
        env={"AGENT_STREAM_SEND_TIMEOUT_S": "2.5"},
    ) as process:
        yield process


def holds_socket(pid: int, peer_port: int) -> bool:
    """Whether process ``pid`` has a TCP socket open to 127.0.0.1:``peer_port`` (Linux /proc)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            if target.startswith("socket:["):
                inodes.add(target[len("socket:[") : -1])
    with open(f"/proc/{pid}/net/tcp") as table:
        for row in table.read().splitlines()[1:]:
            fields = row.split()
            if int(fields[2].rsplit(":", 1)[1], 16) == peer_port and fields[9] in inodes:
                return True
    return False


def stalled_client(port: int, path: str) -> tuple[socket.socket, str]:
    """Send the request with a tiny receive buffer, read the first bytes, then stop reading."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: sets the window
    sock.settimeout(5)
    sock.connect(("127.0.0.1", port))
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
    head = b""
    while b'"stream_id":"' not in head or not re.search(rb'"stream_id":"[^"]+"', head):
        head += sock.recv(1024)
    match = re.search(rb'"stream_id":"([^"]+)"', head)
    assert match is not None
    return sock, match.group(1).decode()


async def connections(client: httpx.AsyncClient) -> int:
    return int((await client.get("/healthz")).json()["connections"])


async def test_stalled_reader_is_reaped_and_the_run_goes_on(server: UvicornProcess) -> None:
    name = uuid.uuid4().hex
    path = f"/chat?tag={name}&n={EVENTS}&text={TEXT}&send_timeout_s=2&disconnect=detach"
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        began = time.monotonic()
        sock, sid = stalled_client(server.port, path)
        try:
            # The run is not held back by its reader: it ends while the reader is stalled.
            body = (
                await client.get(f"/wait/{name}", params={"key": "finally", "timeout_s": 1.8})
            ).json()
            assert body["reached"], "the run waited for a stalled reader"
            assert await connections(client) == 1, "reaped before send_timeout_s"
            # No progress for send_timeout_s: the server closes that connection.
            with anyio.fail_after(4):
                while await connections(client):  # noqa: ASYNC110 - another process's state
                    await anyio.sleep(0.05)
            reaped_after = time.monotonic() - began
            assert reaped_after >= 2
        finally:
            sock.close()
        # The client can resume later: everything, once, through done.
        seqs: list[int] = []
        with anyio.fail_after(20):
            async with client.stream(
                "GET", f"/api/streams/{sid}", headers={"last-event-id": f"{sid}:0"}
            ) as r:
                assert r.status_code == 200
                async for frame in frames(r):
                    if frame.event == "start":
                        assert json.loads(frame.data or "")["resumed"] is True
                        continue
                    seqs.append(frame.seq)
                    last = frame
    assert seqs == list(range(1, EVENTS + 2))
    assert last.event == "done"


async def test_a_reaped_reader_is_disconnected_and_nothing_is_logged(
    deadline_server: UvicornProcess,
) -> None:
    name = uuid.uuid4().hex
    path = f"/chat?tag={name}&n={EVENTS}&text={TEXT}&send_timeout_s=2&disconnect=detach"
    async with httpx.AsyncClient(base_url=deadline_server.url, timeout=10) as client:
        sock, _ = stalled_client(deadline_server.port, path)
        try:
            port = sock.getsockname()[1]
            assert holds_socket(deadline_server.pid, port)
            with anyio.fail_after(10):
                while await connections(client):  # noqa: ASYNC110 - another process's state
                    await anyio.sleep(0.05)
                # reaped; the server's protocol drops the socket at its send deadline (2.5 s
                # of no progress), which the reaped response's end waits for
                while holds_socket(deadline_server.pid, port):  # noqa: ASYNC110 - /proc state
                    await anyio.sleep(0.05)
            # the client reads what its kernel holds, then the end: EOF or a reset
            sock.settimeout(5)  # each read; the whole within 10 s
            deadline = time.monotonic() + 10
            with contextlib.suppress(ConnectionResetError):
                while sock.recv(1 << 16):
                    assert time.monotonic() < deadline, "the response never ended"
        finally:
            sock.close()
    log = deadline_server.log_text()
    assert "ASGI callable returned without completing response" not in log, log
    assert "Exception in ASGI application" not in log, log
