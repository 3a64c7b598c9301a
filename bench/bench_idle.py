"""Idle streams: RSS per connection, idle CPU and ping lateness with many quiet streams.

One uvicorn worker (own process, ``--factory bench.bench_idle:create_app``) holds N streams
whose agent never produces anything; a raw-socket asyncio client opens them, waits until every
stream's first bytes arrived, then watches for ``--watch-s`` seconds. Reported per server:

- KiB per connection: (server RSS with N streams open - RSS before) / N;
- idle CPU: server CPU seconds spent during the watch;
- ping lateness: for each ``: ping`` after the first, (gap since the previous ping -
  heartbeat) in ms, p50 / p99 / max (the bare StreamingResponse sends no pings).

Contenders: ``agent-stream`` (AgentStreamResponse, MemoryStore, default grace policy),
``sse-starlette`` (``EventSourceResponse(ping=heartbeat)``), ``StreamingResponse`` (bare).

Run: ``.venv/bin/python bench/bench_idle.py [--streams 1000 5000] [--heartbeat-s 2]
[--watch-s 10]``
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import platform
import statistics
import sys
import time
from collections.abc import AsyncIterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

PATHS = {
    "agent-stream": "/ours",
    "sse-starlette": "/sse-starlette",
    "StreamingResponse": "/plain",
}


def raise_fd_limit() -> None:
    """10,000 streams need more than the usual 1,024 descriptors (client and server)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 65_536 if hard == resource.RLIM_INFINITY else hard
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def create_app() -> Any:
    import anyio
    from sse_starlette import EventSourceResponse
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response, StreamingResponse
    from starlette.routing import Route

    from agent_stream.server import MemoryStore, RunManager, StreamOptions
    from agent_stream.starlette import AgentStreamResponse

    raise_fd_limit()
    heartbeat_s = float(os.environ.get("BENCH_HEARTBEAT_S", "2"))
    manager = RunManager(MemoryStore(), options=StreamOptions(heartbeat_s=heartbeat_s))

    async def quiet() -> AsyncIterator[Any]:
        await anyio.sleep_forever()
        yield ""  # pragma: no cover - never reached

    async def ours(request: Request) -> Response:
        return AgentStreamResponse(quiet(), manager=manager)

    async def sse_starlette(request: Request) -> Response:
        return EventSourceResponse(quiet(), ping=heartbeat_s)

    async def plain(request: Request) -> Response:
        return StreamingResponse(quiet(), media_type="text/event-stream")

    async def collect(request: Request) -> Response:
        gc.collect()
        return Response(b"ok")

    snapshots: list[Any] = []

    async def trace(request: Request) -> Response:
        # --profile: the first call takes a tracemalloc snapshot, the second answers the
        # allocations made since, per connection, grouped by the line that made them.
        import tracemalloc

        gc.collect()
        snapshot = tracemalloc.take_snapshot().filter_traces(
            [tracemalloc.Filter(False, tracemalloc.__file__)]
        )
        if not snapshots:
            snapshots.append(snapshot)
            return Response(b"ok")
        streams = int(request.query_params["streams"])
        stats = snapshot.compare_to(snapshots.pop(), "lineno")
        total = sum(stat.size_diff for stat in stats)
        lines = [f"tracemalloc total: {total / streams:,.0f} B per connection"]
        for stat in stats[: int(request.query_params.get("top", "30"))]:
            frame = stat.traceback[0]
            where = f"{Path(frame.filename).parent.name}/{Path(frame.filename).name}:{frame.lineno}"
            size, count = stat.size_diff / streams, stat.count_diff / streams
            lines.append(f"{size:8,.0f} B {count:6.2f} blocks  {where}")
        return Response("\n".join(lines).encode())

    return Starlette(
        routes=[
            Route("/ours", ours),
            Route("/sse-starlette", sse_starlette),
            Route("/plain", plain),
            Route("/gc", collect),
            Route("/trace", trace),
        ]
    )


class _Stream(asyncio.Protocol):
    def __init__(self, opened: asyncio.Event, pings: list[float], counter: list[int]) -> None:
        self.opened = opened
        self.pings = pings
        self.counter = counter
        self.is_open = False
        self.last_ping: float | None = None

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        if not self.is_open:
            self.is_open = True
            self.counter[0] += 1
            if self.counter[0] == self.counter[1]:
                self.opened.set()
        for _ in range(data.count(b": ping")):
            if self.last_ping is not None:
                self.pings.append(now - self.last_ping)
            self.last_ping = now


async def run_case(port: int, path: str, streams: int, watch_s: float) -> tuple[list[float], Any]:
    loop = asyncio.get_running_loop()
    opened = asyncio.Event()
    pings: list[float] = []
    counter = [0, streams]
    transports = []
    request = f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode()
    for i in range(streams):
        transport, _ = await loop.create_connection(
            lambda: _Stream(opened, pings, counter), "127.0.0.1", port
        )
        transport.write(request)
        transports.append(transport)
        if i % 200 == 199:
            await asyncio.sleep(0.05)  # let the server accept in steps (listen backlog)
    await asyncio.wait_for(opened.wait(), timeout=120)
    return pings, transports


def measure(
    contender: str, streams: int, heartbeat_s: float, watch_s: float, *, profile: bool = False
) -> dict[str, Any]:
    import httpx
    from tests.uvicorn_helpers import UvicornProcess

    env = {"BENCH_HEARTBEAT_S": str(heartbeat_s)}
    if profile:
        env["PYTHONTRACEMALLOC"] = "1"
    with UvicornProcess(
        "bench.bench_idle:create_app",
        factory=True,
        env=env,
        args=["--no-access-log", "--backlog", "8192", "--timeout-keep-alive", "600"],
    ) as server:
        for path in PATHS.values():  # warm up every route once (imports, first-call paths)
            with httpx.stream("GET", server.url + path, timeout=5) as r:
                assert r.status_code == 200
        httpx.get(server.url + ("/trace" if profile else "/gc"))
        time.sleep(0.5)
        rss0 = server.rss_bytes()

        async def scenario() -> dict[str, Any]:
            pings, transports = await run_case(server.port, PATHS[contender], streams, watch_s)
            await asyncio.sleep(1.0)
            async with httpx.AsyncClient() as client:
                if profile:
                    r = await client.get(
                        server.url + "/trace", params={"streams": streams, "top": 200}, timeout=300
                    )
                    for transport in transports:
                        transport.close()
                    return {"profile": r.text}
                await client.get(server.url + "/gc")
            rss1 = server.rss_bytes()
            pings.clear()
            cpu0 = server.cpu_seconds()
            await asyncio.sleep(watch_s)
            idle_cpu = server.cpu_seconds() - cpu0
            for transport in transports:
                transport.close()
            late = sorted((gap - heartbeat_s) * 1000 for gap in pings)
            out = {
                "kib_per_conn": (rss1 - rss0) / streams / 1024,
                "idle_cpu_s": idle_cpu,
                "pings": len(late),
            }
            if late:
                out["late_p50_ms"] = statistics.median(late)
                out["late_p99_ms"] = late[min(len(late) - 1, int(len(late) * 0.99))]
                out["late_max_ms"] = late[-1]
            return out

        return asyncio.run(scenario())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--streams", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--heartbeat-s", type=float, default=2.0)
    parser.add_argument("--watch-s", type=float, default=10.0)
    parser.add_argument("--only", choices=sorted(PATHS), nargs="*")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="print tracemalloc's allocations per connection by source line instead",
    )
    args = parser.parse_args()
    raise_fd_limit()
    if args.profile:
        for streams in args.streams:
            for contender in args.only or PATHS:
                r = measure(contender, streams, args.heartbeat_s, 0, profile=True)
                print(f"## {contender}, {streams:,} streams\n{r['profile']}\n", flush=True)
        return
    print(
        f"idle streams, heartbeat {args.heartbeat_s}s, watched {args.watch_s}s; Python "
        f"{platform.python_version()}, uvicorn {version('uvicorn')}, starlette "
        f"{version('starlette')}, sse-starlette {version('sse-starlette')}, "
        f"{platform.machine()} {os.cpu_count()} CPUs\n"
    )
    print("| server | streams | KiB/conn | idle CPU s | ping late p50 ms | p99 ms | max ms |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for streams in args.streams:
        for contender in args.only or PATHS:
            r = measure(contender, streams, args.heartbeat_s, args.watch_s)
            late = (
                f"{r['late_p50_ms']:.1f} | {r['late_p99_ms']:.1f} | {r['late_max_ms']:.1f}"
                if "late_p50_ms" in r
                else "- | - | -"
            )
            print(
                f"| {contender} | {streams:,} | {r['kib_per_conn']:.1f} | "
                f"{r['idle_cpu_s']:.2f} | {late} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
