"""Run an ASGI app under uvicorn in its own process on 127.0.0.1, with deadlines everywhere.

Generic on purpose (servers, benches and e2e suites share it)::

    with UvicornProcess("tests.server.app:create_app", factory=True, env={"X": "1"}) as server:
        httpx.get(server.url + "/healthz")
        server.cpu_seconds(), server.rss_bytes()

The listening socket is bound here (port 0) and handed to uvicorn with ``--fd``, so the port is
known before the child starts and nothing parses logs for it; readiness is uvicorn's
"Application startup complete" / "Uvicorn running" line, awaited with a deadline.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

ROOT = Path(__file__).resolve().parent.parent
_READY_MARKERS = (b"Application startup complete", b"Uvicorn running")
_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


class UvicornProcess:
    """One uvicorn worker serving ``app`` (``module:attr``) on an ephemeral loopback port."""

    def __init__(
        self,
        app: str,
        *,
        factory: bool = False,
        env: Mapping[str, str] | None = None,
        args: Sequence[str] = (),
        ready_timeout_s: float = 20.0,
        backlog: int = 4096,
        cwd: Path | None = None,
    ) -> None:
        self.app = app
        self.factory = factory
        self.env = dict(env or {})
        self.args = list(args)
        self.ready_timeout_s = ready_timeout_s
        self.backlog = backlog
        self.cwd = cwd
        self.port = 0
        self.log: list[bytes] = []
        self._proc: subprocess.Popen[bytes] | None = None
        self._reader: threading.Thread | None = None
        self._ready = threading.Event()
        self._logged = threading.Condition()  # notified per line read, and at the output's end
        self._log_ended = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self._proc is not None, "not started"
        return self._proc.pid

    @property
    def returncode(self) -> int | None:
        return None if self._proc is None else self._proc.poll()

    def log_text(self) -> str:
        """The output read so far: a thread reads it from a pipe, so a line the process has
        just written may not be here yet (see :meth:`wait_for_log`)."""
        return b"".join(self.log).decode(errors="replace")

    def wait_for_log(self, text: str, timeout_s: float) -> bool:
        """Block until a line with ``text`` has been read from the process's output; False
        after ``timeout_s`` or when the output ended without it."""

        def found() -> bool:
            return any(needle in line for line in self.log)

        needle = text.encode()
        with self._logged:
            self._logged.wait_for(lambda: found() or self._log_ended, timeout_s)
            return found()

    def start(self) -> UvicornProcess:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(self.backlog)
        self.port = sock.getsockname()[1]
        fd = sock.fileno()
        os.set_inheritable(fd, True)
        argv = [sys.executable, "-m", "uvicorn", self.app, "--fd", str(fd), *self.args]
        if self.factory:
            argv.append("--factory")
        env = dict(os.environ)
        env.update(PYTHONUNBUFFERED="1", PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "src")]))
        env.update(self.env)
        try:
            self._proc = subprocess.Popen(
                argv,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                cwd=self.cwd or ROOT,
                env=env,
                pass_fds=(fd,),
            )
        finally:
            sock.close()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if not self._ready.wait(self.ready_timeout_s):
            self.stop()
            raise RuntimeError(
                f"uvicorn {self.app} not ready within {self.ready_timeout_s}s:\n{self.log_text()}"
            )
        return self

    def _read(self) -> None:
        proc = self._proc
        assert proc is not None and proc.stdout is not None
        for line in proc.stdout:  # ends when the child closes its output
            with self._logged:
                if len(self.log) < 10_000:
                    self.log.append(line)
                self._logged.notify_all()
            if any(marker in line for marker in _READY_MARKERS):
                self._ready.set()
        with self._logged:
            self._log_ended = True
            self._logged.notify_all()
        self._ready.set()  # the child died: let start() report it

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 10.0) -> int:
        """Send ``sig``; SIGKILL after ``timeout_s``. Returns the exit code."""
        proc = self._proc
        if proc is None:
            return 0
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        if self._reader is not None:
            self._reader.join(timeout=5)
        if proc.stdout is not None:
            proc.stdout.close()
        return proc.returncode

    def signal(self, sig: int) -> None:
        assert self._proc is not None
        self._proc.send_signal(sig)

    def wait(self, timeout_s: float) -> int:
        assert self._proc is not None
        return self._proc.wait(timeout=timeout_s)

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process so far (Linux /proc)."""
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _CLK_TCK

    def rss_bytes(self) -> int:
        """Resident set size of the server process (Linux /proc)."""
        with open(f"/proc/{self.pid}/statm") as f:
            return int(f.read().split()[1]) * _PAGE

    def __enter__(self) -> UvicornProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
