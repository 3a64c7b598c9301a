"""Run ``agent-stream ...`` as a subprocess on a free loopback port, ready-checked by deadline."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from tests.client.processes import ServerProcess, serve
from tests.redis_helpers import free_port

ROOT = Path(__file__).resolve().parent.parent.parent


@contextmanager
def cli_server(args: Sequence[str], *, ready_timeout_s: float = 20.0) -> Iterator[ServerProcess]:
    """``python -m agent_stream.cli <args> --host 127.0.0.1 --port P`` until the block exits."""
    port = free_port()
    argv = [sys.executable, "-m", "agent_stream.cli", *args, "--host", "127.0.0.1"]
    with serve(
        [*argv, "--port", str(port)], timeout_s=ready_timeout_s, ready=b"Uvicorn running"
    ) as server:
        yield server
