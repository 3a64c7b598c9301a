"""Idle streams: RSS per connection, idle CPU and ping lateness with many quiet streams.

One uvicorn worker (own process, ``--factory bench.bench_idle:create_app``) holds N streams
whose agent never produces anything; a raw-socket asyncio client opens them, waits until every
stream's first bytes arrived, then watches for ``--watch-s`` seconds. Reported per server:

- KiB per connection: (server RSS with N streams open - RSS before) / N;
- idle CPU: server CPU seconds spent during the watch;
- ping lateness: for each gap between two ``: ping`` on one stream that begins inside the
  watch, (gap - heartbeat) in ms, p50 / p99 / max (the bare StreamingResponse sends no pings).
  A gap begun earlier could span the ``gc.collect()`` made for the RSS reading.

``--probe`` times every garbage collection and event-loop stall in both processes (to tell
whose stall made a ping late); ``--full-gc`` forces one full collection in the server a third
into the watch; ``--profile`` prints tracemalloc's bytes and the GC-tracked objects per
connection instead.

Contenders: ``agent-stream`` (AgentStreamResponse, MemoryStore, default grace policy),
``sse-starlette`` (``EventSourceResponse(ping=heartbeat)``), ``StreamingResponse`` (bare).

Run: ``.venv/bin/python bench/bench_idle.py [--streams 1000 5000] [--heartbeat-s 2]
[--watch-s 10] [--probe] [--full-gc]``
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import statistics
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]


class Probe:
    """--probe: time every garbage collection and every event-loop stall in this process.

    ``gc.callbacks`` times each collection (generation, ms, objects collected); a task that
    sleeps ``tick_s`` records each wake more than ``stall_ms`` late (a stall of the loop).
    Times are ``time.monotonic()`` so the client's and the server's probes line up.
    """

    def __init__(self, tick_s: float = 0.005, stall_ms: float = 20.0) -> None:
        self.tick_s = tick_s
        self.stall_ms = stall_ms
        self.gcs: list[tuple[float, int, float, int]] = []  # (at, gen, ms, collected)
        self.stalls: list[tuple[float, float]] = []  # (at, ms)
        self._gc_start = 0.0
        self._task: asyncio.Task[None] | None = None
        gc.callbacks.append(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        now = time.monotonic()
        if phase == "start":
            self._gc_start = now
        else:
            ms = (now - self._gc_start) * 1000
            self.gcs.append((now, info["generation"], ms, info["collected"]))

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._watch())

    async def _watch(self) -> None:
        while True:
            before = time.monotonic()
            await asyncio.sleep(self.tick_s)
            late_ms = (time.monotonic() - before - self.tick_s) * 1000
            if late_ms > self.stall_ms:
                self.stalls.append((time.monotonic(), late_ms))

    def reset(self) -> None:
        self.gcs.clear()
        self.stalls.clear()

    def report(self) -> dict[str, Any]:
        return {"gcs": list(self.gcs), "stalls": list(self.stalls)}


def summarize(name: str, probe: dict[str, Any], t0: float) -> str:
    """One line per process: GC counts/time per generation and the loop's stalls > 20 ms."""
    parts = []
    for gen in (0, 1, 2):
        runs = [ms for _, g, ms, _ in probe["gcs"] if g == gen]
        if runs:
            parts.append(f"gen{gen} {len(runs)}x max {max(runs):.1f} ms")
    full = [f"{at - t0:+.2f}s {ms:.0f}ms" for at, g, ms, _ in probe["gcs"] if g == 2]
    stalls = [f"{at - t0:+.2f}s {ms:.0f}ms" for at, ms in probe["stalls"]]
    return (
        f"  {name}: GC {', '.join(parts) or 'none'}; full GCs at [{', '.join(full)}]; "
        f"loop stalls > 20 ms at [{', '.join(stalls)}]"
    )


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
    probe = Probe() if os.environ.get("BENCH_PROBE") else None

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
        if probe is not None and "keep" not in request.query_params:
            probe.start()
            probe.reset()
        gc.collect()
        return Response(b"ok")

    async def report(request: Request) -> Response:
        out = probe.report() if probe else {}
        out["gc_tracked"] = len(gc.get_objects())
        return Response(json.dumps(out).encode())

    snapshots: list[Any] = []

    async def trace(request: Request) -> Response:
        # --profile: the first call takes a tracemalloc snapshot, the second answers the
        # allocations made since, per connection, grouped by the line that made them.
        import tracemalloc

        gc.collect()
        tracked = Counter(f"{type(o).__module__}.{type(o).__qualname__}" for o in gc.get_objects())
        snapshot = tracemalloc.take_snapshot().filter_traces(
            [tracemalloc.Filter(False, tracemalloc.__file__)]
        )
        if not snapshots:
            snapshots.append((snapshot, tracked))
            return Response(b"ok")
        before, tracked_before = snapshots.pop()
        streams = int(request.query_params["streams"])
        stats = snapshot.compare_to(before, "lineno")
        total = sum(stat.size_diff for stat in stats)
        lines = [f"tracemalloc total: {total / streams:,.0f} B per connection"]
        for stat in stats[: int(request.query_params.get("top", "30"))]:
            frame = stat.traceback[0]
            where = f"{Path(frame.filename).parent.name}/{Path(frame.filename).name}:{frame.lineno}"
            size, count = stat.size_diff / streams, stat.count_diff / streams
            lines.append(f"{size:8,.0f} B {count:6.2f} blocks  {where}")
        tracked.subtract(tracked_before)
        lines.append(
            f"GC-tracked objects: {tracked.total() / streams:.1f} per connection"
            " (a full collection visits each)"
        )
        for name, n in tracked.most_common(25):
            lines.append(f"{n / streams:8.2f}  {name}")
        return Response("\n".join(lines).encode())

    return Starlette(
        routes=[
            Route("/ours", ours),
            Route("/sse-starlette", sse_starlette),
            Route("/plain", plain),
            Route("/gc", collect),
            Route("/trace", trace),
            Route("/probe", report),
        ]
    )


class _Stream(asyncio.Protocol):
    def __init__(
        self, opened: asyncio.Event, pings: list[tuple[float, float]], counter: list[int]
    ) -> None:
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
                self.pings.append((self.last_ping, now))
            self.last_ping = now


async def run_case(
    port: int, path: str, streams: int, watch_s: float
) -> tuple[list[tuple[float, float]], Any]:
    loop = asyncio.get_running_loop()
    opened = asyncio.Event()
    pings: list[tuple[float, float]] = []
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
    contender: str,
    streams: int,
    heartbeat_s: float,
    watch_s: float,
    *,
    profile: bool = False,
    probe: bool = False,
    full_gc: bool = False,
) -> dict[str, Any]:
    import httpx
    from tests.uvicorn_helpers import UvicornProcess

    env = {"BENCH_HEARTBEAT_S": str(heartbeat_s)}
    if profile:
        env["PYTHONTRACEMALLOC"] = "1"
    if probe:
        env["BENCH_PROBE"] = "1"
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
            client_probe = Probe() if probe else None
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
            if client_probe is not None:
                client_probe.start()
                client_probe.reset()
            t0 = time.monotonic()
            cpu0 = server.cpu_seconds()
            if full_gc:  # what a full collection the server makes on its own would do
                await asyncio.sleep(watch_s / 3)
                async with httpx.AsyncClient() as client:
                    await client.get(server.url + "/gc", params={"keep": 1}, timeout=30)
                await asyncio.sleep(watch_s * 2 / 3)
            else:
                await asyncio.sleep(watch_s)
            idle_cpu = server.cpu_seconds() - cpu0
            lines = []
            if probe:
                async with httpx.AsyncClient() as client:
                    r = await client.get(server.url + "/probe")
                lines.append(summarize("server", r.json(), t0))
                lines.append(summarize("client", client_probe.report(), t0))  # type: ignore[union-attr]
                watched = [p for p in pings if p[0] >= t0]
                worst = sorted(watched, key=lambda p: p[0] - p[1])[: max(1, len(watched) // 100)]
                if worst:
                    at = sorted(a - t0 for _, a in worst)
                    lines.append(
                        f"  the 1% latest pings arrived between {at[0]:+.2f}s and {at[-1]:+.2f}s"
                    )
            for transport in transports:
                transport.close()
            # A gap that began before the watch may span the forced gc.collect() above (a
            # bench artifact: ~300 ms at 10,000 streams); count only gaps inside the watch.
            late = sorted((b - a - heartbeat_s) * 1000 for a, b in pings if a >= t0)
            out = {
                "kib_per_conn": (rss1 - rss0) / streams / 1024,
                "idle_cpu_s": idle_cpu,
                "pings": len(late),
                "probe": "\n".join(lines),
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
        "--probe",
        action="store_true",
        help="time garbage collections and event-loop stalls in the server and the client",
    )
    parser.add_argument(
        "--full-gc",
        action="store_true",
        help="force one full collection in the server a third into the watch",
    )
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
            r = measure(
                contender,
                streams,
                args.heartbeat_s,
                args.watch_s,
                probe=args.probe,
                full_gc=args.full_gc,
            )
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
            if r["probe"]:
                print(r["probe"], flush=True)


if __name__ == "__main__":
    main()
