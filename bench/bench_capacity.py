"""Streams per worker: how many live streams at 40 tokens/s one uvicorn worker carries.

One uvicorn worker (own process, ``--factory bench.bench_capacity:create_app``) serves every
contender; each request is one live stream of ``--events`` tokens paced at ``--rate`` per second
(a sleep until each token's scheduled time, as a model streams), then ``done``. Every token's
text carries its *scheduled* emit time (``time.monotonic()``, system-wide on Linux), so a
worker that wakes its producers late shows up as latency too. ``--clients`` processes
(raw asyncio sockets, ``Connection: close``) open the streams and record, per token,
receive time - scheduled emit time. A step passes when the p99 of that is <= ``--p99-ms`` and
every stream delivered every token (a failing step is run once more, as other processes'
bursts on a shared machine can spoil one); the stream count doubles until a step fails.

Contenders: ``original`` (agent-event-stream 0.1 ``agent_stream_response``),
``agent-stream memory`` / ``agent-stream redis`` (``AgentStreamResponse`` on a ``MemoryStore`` /
on a ``RedisStore`` over a ``redis-server`` this bench starts on a free loopback port),
``fastapi EventSourceResponse`` and ``sse-starlette``. Each under uvicorn ``--loop asyncio
--http h11`` and ``--loop uvloop --http httptools``.

Writes ``bench/capacity.svg`` (streams vs p99, log-log, one line per contender and server).

Run: ``.venv/bin/python bench/bench_capacity.py [--quick] [--start 50] [--max 3200]``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from concurrent.futures import ProcessPoolExecutor
from importlib.metadata import version
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from bench_idle import raise_fd_limit  # noqa: E402
from bench_server import _load_original  # noqa: E402

PATHS = {
    "original": "/original",
    "agent-stream memory": "/memory",
    "agent-stream redis": "/redis",
    "fastapi EventSourceResponse": "/fastapi-sse",
    "sse-starlette": "/sse-starlette",
}
SERVERS = {
    "asyncio+h11": ["--loop", "asyncio", "--http", "h11"],
    "uvloop+httptools": ["--loop", "uvloop", "--http", "httptools"],
}
MARK = re.compile(rb"T(\d+\.\d+)E")


def create_app() -> Any:
    import anyio
    from fastapi import FastAPI
    from fastapi.sse import EventSourceResponse, ServerSentEvent
    from sse_starlette import EventSourceResponse as SSEStarletteResponse

    from agent_stream.events import Done, Token
    from agent_stream.server import MemoryStore, RunManager
    from agent_stream.server.redis import RedisStore
    from agent_stream.starlette import AgentStreamResponse

    raise_fd_limit()
    original = _load_original("fastapi")
    original_fmt = _load_original("emitter")._fmt
    memory = RunManager(MemoryStore(ttl_s=30.0), handle_signals=False)
    redis = RunManager(
        RedisStore.from_url(os.environ["BENCH_REDIS_URL"], ttl_s=30.0), handle_signals=False
    )
    app = FastAPI()

    async def paced(n: int, rate: float) -> AsyncIterator[str]:
        """Token texts ``T<scheduled emit time>E``, each yielded at its scheduled time."""
        start = time.monotonic()
        for i in range(n):
            at = start + i / rate
            await anyio.sleep(max(0.0, at - time.monotonic()))
            yield f"T{at:.6f}E"

    @app.get("/original")
    async def original_route(n: int, rate: float) -> Any:
        async def gen() -> AsyncIterator[str]:
            async for text in paced(n, rate):
                yield original_fmt("token", {"text": text})
            yield original_fmt("done", {"num_turns": 1})

        return original.agent_stream_response(gen())

    def ours(manager: RunManager, n: int, rate: float) -> Any:
        async def gen() -> AsyncIterator[Token | Done]:
            async for text in paced(n, rate):
                yield Token(text=text)
            yield Done(num_turns=1)

        return AgentStreamResponse(gen(), manager=manager)

    @app.get("/memory")
    async def memory_route(n: int, rate: float) -> Any:
        return ours(memory, n, rate)

    @app.get("/redis")
    async def redis_route(n: int, rate: float) -> Any:
        return ours(redis, n, rate)

    @app.get("/fastapi-sse", response_class=EventSourceResponse)
    async def fastapi_route(n: int, rate: float) -> AsyncIterator[ServerSentEvent]:
        async for text in paced(n, rate):
            yield ServerSentEvent(data={"text": text}, event="token")
        yield ServerSentEvent(data={"num_turns": 1}, event="done")

    @app.get("/sse-starlette")
    async def sse_starlette_route(n: int, rate: float) -> Any:
        async def gen() -> AsyncIterator[dict[str, str]]:
            async for text in paced(n, rate):
                yield {"event": "token", "data": f'{{"text": "{text}"}}'}
            yield {"event": "done", "data": '{"num_turns": 1}'}

        return SSEStarletteResponse(gen())

    return app


class _Stream(asyncio.Protocol):
    """Collects ``receive - scheduled emit`` (ms) for every token mark on one connection."""

    def __init__(self, lags: list[float], done: asyncio.Future[int]) -> None:
        self.lags = lags
        self.done = done
        self.buffer = b""
        self.count = 0

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        self.buffer += data
        end = 0
        for match in MARK.finditer(self.buffer):
            self.lags.append((now - float(match.group(1))) * 1000)
            self.count += 1
            end = match.end()
        self.buffer = self.buffer[end:][-64:]

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(self.count)


async def _open_streams(port: int, path: str, streams: int, timeout_s: float) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    lags: list[float] = []
    dones: list[asyncio.Future[int]] = []
    transports = []
    request = f"GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n".encode()
    failed = 0
    for i in range(streams):
        done: asyncio.Future[int] = loop.create_future()
        try:
            transport, _ = await loop.create_connection(
                lambda done=done: _Stream(lags, done),  # type: ignore[misc]
                "127.0.0.1",
                port,
            )
        except OSError:
            failed += 1
            continue
        transport.write(request)
        transports.append(transport)
        dones.append(done)
        if i % 100 == 99:
            await asyncio.sleep(0.01)  # let the server accept in steps (listen backlog)
    finished, pending = await asyncio.wait(dones, timeout=timeout_s)
    for transport in transports:
        transport.close()
    counts = [d.result() for d in finished] + [0] * (len(pending) + failed)
    return {"lags": lags, "counts": counts}


def client_process(port: int, path: str, streams: int, timeout_s: float) -> dict[str, Any]:
    raise_fd_limit()
    return asyncio.run(_open_streams(port, path, streams, timeout_s))


def run_step(
    pool: ProcessPoolExecutor, server: Any, path: str, streams: int, args: argparse.Namespace
) -> dict[str, Any]:
    port = server.port
    cpu0 = server.cpu_seconds()
    query = f"{path}?n={args.events}&rate={args.rate}"
    timeout_s = args.events / args.rate + 30
    shares = [streams // args.clients + (i < streams % args.clients) for i in range(args.clients)]
    futures = [pool.submit(client_process, port, query, s, timeout_s) for s in shares if s]
    lags: list[float] = []
    counts: list[int] = []
    for future in futures:
        result = future.result()
        lags += result["lags"]
        counts += result["counts"]
    lags.sort()
    lost = streams * args.events - sum(min(c, args.events) for c in counts)
    p99 = lags[min(len(lags) - 1, int(len(lags) * 0.99))] if lags else float("inf")
    p50 = lags[len(lags) // 2] if lags else float("inf")
    # server CPU per token sent (the step's whole server CPU: stream setup, pings and done too)
    cpu_us = (server.cpu_seconds() - cpu0) / max(1, len(lags)) * 1e6
    ok = p99 <= args.p99_ms and lost == 0
    return {"p50": p50, "p99": p99, "lost": lost, "ok": ok, "cpu_us": cpu_us}


def write_svg(path: Path, curves: dict[str, list[tuple[int, float]]], limit_ms: float) -> None:
    """A hand-written log-log line chart: streams (x) vs p99 ms (y), one line per curve."""
    import math

    width, height, left, right, top, bottom = 900, 440, 60, 330, 20, 50
    xs = [s for points in curves.values() for s, _ in points] or [1]
    ys = [min(max(p, 1.0), 10_000.0) for points in curves.values() for _, p in points] + [limit_ms]
    x0, x1 = math.log10(min(xs)), math.log10(max(xs)) + 1e-9
    y0, y1 = math.log10(min(ys)), math.log10(max(ys)) + 1e-9

    def sx(v: float) -> float:
        return left + (math.log10(v) - x0) / max(x1 - x0, 1e-9) * (width - left - right)

    def sy(v: float) -> float:
        v = min(max(v, 1.0), 10_000.0)
        return height - bottom - (math.log10(v) - y0) / max(y1 - y0, 1e-9) * (height - top - bottom)

    colors = dict(zip(PATHS, ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd"], strict=True))
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        'font-family="sans-serif" font-size="11">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<line x1="{left}" y1="{height - bottom}" x2="{width - right}" y2="{height - bottom}" '
        'stroke="black"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{height - bottom}" stroke="black"/>',
        f'<line x1="{left}" y1="{sy(limit_ms):.1f}" x2="{width - right}" y2="{sy(limit_ms):.1f}" '
        'stroke="gray" stroke-dasharray="4 3"/>',
        f'<text x="{left + 4}" y="{sy(limit_ms) - 4:.1f}" fill="gray">p99 limit {limit_ms:g} ms'
        "</text>",
        f'<text x="{(left + width - right) / 2}" y="{height - 12}" text-anchor="middle">'
        "concurrent streams at 40 tokens/s (log)</text>",
        f'<text x="14" y="{(top + height - bottom) / 2}" text-anchor="middle" '
        f'transform="rotate(-90 14 {(top + height - bottom) / 2})">emit-to-receive p99 ms (log)'
        "</text>",
    ]
    for s in sorted(set(xs)):
        out.append(
            f'<text x="{sx(s):.1f}" y="{height - bottom + 14}" text-anchor="middle">{s}</text>'
        )
    for v in (1, 10, 100, 1000, 10_000):
        if min(ys) <= v <= max(ys) * 1.0001:
            out.append(f'<text x="{left - 4}" y="{sy(v) + 4:.1f}" text-anchor="end">{v}</text>')
    for i, (name, points) in enumerate(curves.items()):
        # one colour per contender; dashed lines for uvloop+httptools
        color = next((c for k, c in colors.items() if name.startswith(k + " (")), "black")
        dash = ' stroke-dasharray="6 3"' if "uvloop" in name else ""
        coords = " ".join(f"{sx(s):.1f},{sy(p):.1f}" for s, p in points)
        out.append(
            f'<polyline points="{coords}" fill="none" stroke="{color}" stroke-width="2"{dash}/>'
        )
        out += [
            f'<circle cx="{sx(s):.1f}" cy="{sy(p):.1f}" r="3" fill="{color}"/>' for s, p in points
        ]
        y = top + 14 + i * 16
        out.append(
            f'<line x1="{width - right + 10}" y1="{y - 4}" x2="{width - right + 30}" '
            f'y2="{y - 4}" stroke="{color}" stroke-width="2"{dash}/>'
        )
        out.append(f'<text x="{width - right + 34}" y="{y}">{name}</text>')
    out.append("</svg>")
    path.write_text("\n".join(out) + "\n")


def main() -> None:
    from tests.redis_helpers import RedisServer
    from tests.uvicorn_helpers import UvicornProcess

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--start", type=int, default=50)
    parser.add_argument("--max", type=int, default=3200)
    parser.add_argument("--events", type=int, default=200, help="tokens per stream")
    parser.add_argument("--rate", type=float, default=40.0, help="tokens per second per stream")
    parser.add_argument("--p99-ms", type=float, default=100.0)
    parser.add_argument("--clients", type=int, default=2, help="client processes")
    parser.add_argument("--only", choices=sorted(PATHS), nargs="*")
    parser.add_argument("--servers", choices=sorted(SERVERS), nargs="*")
    parser.add_argument(
        "--svg", type=Path, help="default bench/capacity.svg (--quick: a temp file)"
    )
    parser.add_argument("--quick", action="store_true", help="25 and 50 streams, 1 s each")
    args = parser.parse_args()
    if args.quick:
        args.start, args.max, args.events = 25, 50, 40
    if args.svg is None:  # a quick look never overwrites the recorded plot
        args.svg = (
            Path(tempfile.gettempdir()) / "capacity-quick.svg"
            if args.quick
            else ROOT / "bench" / "capacity.svg"
        )
    raise_fd_limit()
    print(
        f"live streams per worker at {args.rate:g} tokens/s, {args.events} tokens each, "
        f"pass = p99 <= {args.p99_ms:g} ms and 0 lost, {args.clients} client processes; "
        f"Python {platform.python_version()}, uvicorn {version('uvicorn')}, "
        f"sse-starlette {version('sse-starlette')}, fastapi {version('fastapi')}, "
        f"{platform.machine()} {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}\n",
        flush=True,
    )
    print("| server | contender | streams | p50 ms | p99 ms | lost | server CPU µs/token | pass |")
    print("|---|---|---:|---:|---:|---:|---:|---|", flush=True)
    best: dict[tuple[str, str], int] = {}
    curves: dict[str, list[tuple[int, float]]] = {}
    with (
        tempfile.TemporaryDirectory() as tmp,
        RedisServer(Path(tmp)) as redis,
        ProcessPoolExecutor(args.clients) as pool,
    ):
        for server_name in args.servers or SERVERS:
            with UvicornProcess(
                "bench.bench_capacity:create_app",
                factory=True,
                env={"BENCH_REDIS_URL": redis.url},
                args=["--no-access-log", "--timeout-keep-alive", "600", *SERVERS[server_name]],
                backlog=8192,
            ) as server:
                for contender in args.only or PATHS:
                    run_step(pool, server, PATHS[contender], 2, args)  # warm up
                    best[server_name, contender] = 0
                    points = curves.setdefault(f"{contender} ({server_name})", [])
                    streams = args.start
                    while streams <= args.max:
                        r = run_step(pool, server, PATHS[contender], streams, args)
                        if not r["ok"]:  # one retry: a burst of load from elsewhere is not ours
                            r = run_step(pool, server, PATHS[contender], streams, args)
                        points.append((streams, r["p99"]))
                        print(
                            f"| {server_name} | {contender} | {streams:,} | {r['p50']:.1f} | "
                            f"{r['p99']:.1f} | {r['lost']:,} | {r['cpu_us']:.1f} | "
                            f"{'yes' if r['ok'] else 'no'} |",
                            flush=True,
                        )
                        if not r["ok"]:
                            break
                        best[server_name, contender] = streams
                        streams *= 2
    print("\n| server | contender | largest passing count | x original |")
    print("|---|---|---:|---:|")
    for (server_name, contender), count in best.items():
        base = best.get((server_name, "original"), 0)
        ratio = f"{count / base:.2f}" if base else "-"
        print(f"| {server_name} | {contender} | {count:,} | {ratio} |")
    write_svg(args.svg, curves, args.p99_ms)
    print(f"\nplot: {args.svg.relative_to(ROOT) if args.svg.is_relative_to(ROOT) else args.svg}")
    print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
