"""A real ``redis-server`` on a free loopback port, in a temporary directory, with deadlines.

::

    with RedisServer(tmp_path, appendonly=True) as redis:
        redis.url           # redis://127.0.0.1:<port>/0
        redis.pause()       # SIGSTOP: connects succeed, nothing answers
        redis.resume()      # SIGCONT
        redis.restart()     # SIGTERM + start again on the same port and directory (AOF replayed)
        redis.kill()        # SIGKILL (a crash)

Skips the test when ``redis-server`` is not installed (``apt-get install redis-server``).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

import pytest

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _ping(port: int, timeout_s: float) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as sock:
            sock.settimeout(timeout_s)
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """One ``redis-server`` process; ``appendfsync`` applies when ``appendonly`` is on;
    ``extra_args`` are more ``redis-server`` options (``["--cluster-enabled", "yes"]``)."""

    def __init__(
        self,
        directory: Path,
        *,
        appendonly: bool = False,
        appendfsync: str = "always",
        ready_timeout_s: float = 10.0,
        extra_args: Sequence[str] = (),
    ) -> None:
        if not os.path.exists(REDIS_SERVER):
            pytest.fail("redis-server is missing: apt-get install redis-server (scripts/test does)")
        self.directory = directory
        self.appendonly = appendonly
        self.appendfsync = appendfsync
        self.ready_timeout_s = ready_timeout_s
        self.extra_args = list(extra_args)
        self.port = free_port()
        self._proc: subprocess.Popen[bytes] | None = None
        self._log = directory / "redis.log"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int:
        assert self._proc is not None, "not started"
        return self._proc.pid

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> RedisServer:
        self.directory.mkdir(parents=True, exist_ok=True)
        argv = [
            REDIS_SERVER,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.directory),
            "--save",
            "",
            "--appendonly",
            "yes" if self.appendonly else "no",
            "--appendfsync",
            self.appendfsync,
            "--logfile",
            str(self._log),
            "--maxclients",
            "10000",
            *self.extra_args,
        ]
        self._proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + self.ready_timeout_s
        while not _ping(self.port, 0.2):
            if self._proc.poll() is not None or time.monotonic() > deadline:
                log = self._log.read_text() if self._log.exists() else ""
                self.stop()
                raise RuntimeError(f"redis-server not ready on port {self.port}:\n{log[-2000:]}")
            time.sleep(0.02)  # polling a child process's readiness, bounded by the deadline
        return self

    def pause(self) -> None:
        os.kill(self.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.pid, signal.SIGCONT)

    def kill(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait(timeout=10)

    def stop(self) -> None:
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        os.kill(proc.pid, signal.SIGCONT)  # a paused server cannot handle SIGTERM
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def restart(self, *, crash: bool = False) -> None:
        """Stop (SIGTERM, or SIGKILL with ``crash``) and start again on the same port."""
        if crash:
            self.kill()
        else:
            self.stop()
        self.start()

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
