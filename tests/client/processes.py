"""Run a server (uvicorn, the demo CLI) in its own process on a loopback port, with deadlines."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_LISTENING = re.compile(rb"https?://127\.0\.0\.1:(\d+)")


@dataclass
class ServerProcess:
    proc: subprocess.Popen[bytes]
    port: int
    log: list[bytes]

    def text(self) -> str:
        """What the server printed so far."""
        return b"".join(self.log).decode(errors="replace")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kill(self) -> None:
        """SIGKILL: the server dies without closing its sockets politely."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)


@contextmanager
def serve(
    argv: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    timeout_s: float = 20.0,
    ready: bytes = b"",
) -> Iterator[ServerProcess]:
    """Start ``argv`` (which must log ``http://127.0.0.1:<port>``) and stop it afterwards.

    With ``ready``, also wait for a line containing it (a URL printed before the server
    listens is not yet a server).
    """
    env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=str(ROOT), **(env or {}))
    proc = subprocess.Popen(
        list(argv), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=ROOT, env=env
    )
    assert proc.stdout is not None
    port: list[int] = []
    seen = threading.Event()
    log: list[bytes] = []
    is_ready: list[bool] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:  # ends when the process closes its output
            log.append(line)
            if not port and (match := _LISTENING.search(line)):
                port.append(int(match.group(1)))
            if ready in line:
                is_ready.append(True)
            if port and is_ready:
                seen.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        if not seen.wait(timeout_s):
            raise RuntimeError(
                f"{argv} did not report a port within {timeout_s}s: {b''.join(log)!r}"
            )
        yield ServerProcess(proc, port[0], log)
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        reader.join(timeout=5)
        proc.stdout.close()


def uvicorn(app: str, *args: str) -> list[str]:
    """The command line running ASGI ``app`` (``module:attr``) on an ephemeral loopback port."""
    return [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", "0", *args]


def wait_until(predicate: object, *, timeout_s: float = 10.0, interval_s: float = 0.02) -> None:
    """Poll ``predicate()`` until true or the deadline passes (AssertionError)."""
    assert callable(predicate)
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s}s")
        time.sleep(interval_s)
