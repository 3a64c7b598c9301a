"""RedisStore vs MemoryStore vs the original ``agent_stream_response``, end to end, one run.

1. 100,000 events (``bench/corpus.py``), uvicorn (1 worker, own process) -> httpx: server CPU
   seconds per request for the original 0.1.0 ``agent_stream_response``, ``AgentStreamResponse``
   on a ``MemoryStore`` and on a ``RedisStore`` (redis-server's own CPU in its own column).
2. Resume latency (request sent -> first byte of the first replayed event) after a finished
   stream of 100 and 10,000 events, memory vs Redis (a Redis resume reads Redis: the stream's
   local tail is dropped at ``done``).
3. Live: ``--streams`` concurrent streams at ``--rate`` events/s each across 2 uvicorn workers
   sharing Redis, for ``--seconds``: delivered counts (exact?) and emit -> receive latency
   (each token carries its emission time), read by ``--clients`` client processes.

redis-server (Debian) runs on a free loopback port with ``appendonly yes``, ``appendfsync
everysec``. Run: ``.venv/bin/python bench/bench_redis.py [--events 100000] [--rounds 3]
[--streams 1000 --rate 50 --seconds 60 --clients 2]``
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import anyio
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench"), str(ROOT / "src")]

from bench_server import _load_original, make_corpus, measure  # noqa: E402


def create_app() -> Any:
    """Routes ``/original``, ``/memory``, ``/redis`` (?n=) and ``/live`` (?seconds=&rate=)."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.routing import Route

    from agent_stream.events import EVENT_TYPES, AgentEvent, Done, Token
    from agent_stream.server import MemoryStore, RunManager
    from agent_stream.server.redis import RedisStore
    from agent_stream.server.starlette import stream_routes
    from agent_stream.starlette import AgentStreamResponse, mount_stream_routes

    original = _load_original("fastapi")
    original_fmt = _load_original("emitter")._fmt
    memory = RunManager(MemoryStore(ttl_s=60.0), routes_prefix="/memory", handle_signals=False)
    redis = RunManager(
        RedisStore.from_url(os.environ["BENCH_REDIS_URL"], ttl_s=60.0),
        routes_prefix="/redis",
        handle_signals=False,
    )

    def corpus(n: int) -> AsyncIterator[AgentEvent]:
        async def gen() -> AsyncIterator[AgentEvent]:
            for t, d in make_corpus(n):
                yield EVENT_TYPES[t](**d)

        return gen()

    async def original_route(request: Request) -> Any:
        n = int(request.query_params["n"])

        async def gen() -> AsyncIterator[str]:
            for t, d in make_corpus(n):
                yield original_fmt(t, d)

        return original.agent_stream_response(gen())

    async def memory_route(request: Request) -> Any:
        return AgentStreamResponse(corpus(int(request.query_params["n"])), manager=memory)

    async def redis_route(request: Request) -> Any:
        return AgentStreamResponse(corpus(int(request.query_params["n"])), manager=redis)

    async def live_route(request: Request) -> Any:
        seconds = float(request.query_params["seconds"])
        interval_s = 1.0 / float(request.query_params["rate"])

        async def gen() -> AsyncIterator[AgentEvent]:
            start = time.monotonic()
            for i in range(round(seconds / interval_s)):
                # paced on a schedule, not sleep-after-send, so the rate holds under load
                await anyio.sleep(max(0.0, start + i * interval_s - time.monotonic()))
                yield Token(text=repr(time.time()))
            yield Done()

        return AgentStreamResponse(gen(), manager=redis, heartbeat_s=5.0)

    app = Starlette(
        routes=[
            Route("/original", original_route),
            Route("/memory", memory_route),
            Route("/redis", redis_route),
            Route("/live", live_route),
        ]
    )
    mount_stream_routes(app, memory)
    app.router.routes.extend(stream_routes(redis))
    return app


# 2. resume latency


async def first_replayed_byte_s(url: str, path: str, sid: str) -> float:
    async with httpx.AsyncClient(timeout=30) as client:
        t0 = time.perf_counter()
        async with client.stream(
            "GET", f"{url}{path}/streams/{sid}", headers={"last-event-id": f"{sid}:0"}
        ) as response:
            seen = b""
            async for chunk in response.aiter_raw():
                seen += chunk
                if b"\n\nid: " in seen:  # past the priming frame: the first replayed event
                    return time.perf_counter() - t0
    raise AssertionError("no replayed event")


async def make_stream(url: str, path: str, n: int) -> str:
    async with httpx.AsyncClient(timeout=60) as client:
        response = await client.get(f"{url}{path}", params={"n": n})
        return response.headers["x-agent-stream-id"]


# 3. live streams, read in client processes


_TOKEN_MARK = b'event: token\ndata: {"text":"'


def _live_client(
    url: str, count: int, seconds: float, rate: float, ramp_s: float, out: Any
) -> None:
    out.put(asyncio.run(_live_reader(url, count, seconds, rate, ramp_s)))


async def _live_reader(
    url: str, count: int, seconds: float, rate: float, ramp_s: float
) -> tuple[list[int], list[float], list[int]]:
    counts: list[int] = []
    latencies: list[float] = []
    statuses: list[int] = []
    limits = httpx.Limits(max_connections=count + 10)

    async def one(client: httpx.AsyncClient, delay_s: float) -> None:
        await anyio.sleep(delay_s)  # streams arrive spread over ramp_s, as users do
        received = 0
        buffer = b""
        async with client.stream("GET", "/live", params={"seconds": seconds, "rate": rate}) as r:
            statuses.append(r.status_code)
            async for chunk in r.aiter_raw():
                now = time.time()
                buffer += chunk
                *blocks, buffer = buffer.split(b"\n\n")
                for block in blocks:
                    start = block.find(_TOKEN_MARK)
                    if start >= 0:
                        received += 1
                        start += len(_TOKEN_MARK)
                        latencies.append(now - float(block[start : block.index(b'"', start)]))
        counts.append(received)

    async with httpx.AsyncClient(base_url=url, timeout=seconds + 60, limits=limits) as client:
        async with anyio.create_task_group() as tg:
            for i in range(count):
                tg.start_soon(one, client, ramp_s * i / count)
    return counts, latencies, statuses


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def redis_cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    from tests.redis_helpers import RedisServer
    from tests.uvicorn_helpers import UvicornProcess

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--resumes", type=int, default=20)
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--ramp-s", type=float, default=2.0)
    parser.add_argument("--only-live", action="store_true")
    args = parser.parse_args()
    print(
        f"Python {platform.python_version()}, uvicorn {version('uvicorn')}, "
        f"redis-py {version('redis')}, {platform.machine()} {os.cpu_count()} CPUs, "
        f"load {os.getloadavg()[0]:.1f}\n"
    )
    with tempfile.TemporaryDirectory() as tmp:
        redis = RedisServer(Path(tmp), appendonly=True, appendfsync="everysec").start()
        try:
            env = {"BENCH_REDIS_URL": redis.url}
            app = "bench.bench_redis:create_app"
            if not args.only_live:
                with UvicornProcess(app, factory=True, env=env, args=["--no-access-log"]) as server:
                    end_to_end(server, redis.pid, args)
                    resume_latency(server, args)
            with (
                UvicornProcess(app, factory=True, env=env, args=["--no-access-log"]) as a,
                UvicornProcess(app, factory=True, env=env, args=["--no-access-log"]) as b,
            ):
                live(a, b, redis.pid, args)
        finally:
            redis.stop()


def end_to_end(server: Any, redis_pid: int, args: argparse.Namespace) -> None:
    names = ["original", "memory", "redis"]
    results: dict[str, list[tuple[float, float, float]]] = {name: [] for name in names}
    for name in names:
        asyncio.run(measure(server, f"/{name}", 1000, False))  # warm up
    for _ in range(args.rounds):
        for name in names:
            redis0 = redis_cpu_s(redis_pid)
            cpu, wall, _ = asyncio.run(measure(server, f"/{name}", args.events, False))
            results[name].append((cpu, wall, redis_cpu_s(redis_pid) - redis0))
    memory_cpu = statistics.median(r[0] for r in results["memory"])
    original_cpu = statistics.median(r[0] for r in results["original"])
    print(f"### End to end, {args.events:,} events, median of {args.rounds}\n")
    print("| server | server CPU s | x MemoryStore | x original | wall s | redis-server CPU s |")
    print("|---|---:|---:|---:|---:|---:|")
    labels = {
        "original": "original agent_stream_response",
        "memory": "AgentStreamResponse + MemoryStore",
        "redis": "AgentStreamResponse + RedisStore",
    }
    for name in names:
        cpu = statistics.median(r[0] for r in results[name])
        wall = statistics.median(r[1] for r in results[name])
        rcpu = statistics.median(r[2] for r in results[name])
        print(
            f"| {labels[name]} | {cpu:.2f} | {cpu / memory_cpu:.2f} | {cpu / original_cpu:.2f} "
            f"| {wall:.2f} | {rcpu:.2f} |"
        )
    print()


def resume_latency(server: Any, args: argparse.Namespace) -> None:
    print(f"### Resume latency: request -> first replayed byte, {args.resumes} resumes each\n")
    print(
        "| backlog | memory p50 ms | memory p90 ms | Redis p50 ms | Redis p90 ms | Redis / memory |"
    )
    print("|---:|---:|---:|---:|---:|---:|")
    for backlog in (100, 10_000):
        row = []
        for path in ("/memory", "/redis"):
            sid = asyncio.run(make_stream(server.url, path, backlog))
            times = [
                asyncio.run(first_replayed_byte_s(server.url, path, sid)) * 1000
                for _ in range(args.resumes)
            ]
            row.append((statistics.median(times), percentile(times, 0.9)))
        (m50, m90), (r50, r90) = row
        print(f"| {backlog:,} | {m50:.2f} | {m90:.2f} | {r50:.2f} | {r90:.2f} | {r50 / m50:.2f} |")
    print()


def live(a: Any, b: Any, redis_pid: int, args: argparse.Namespace) -> None:
    queue: Any = multiprocessing.Queue()
    per_client = args.streams // args.clients
    urls = [a.url, b.url]
    procs = [
        multiprocessing.Process(
            target=_live_client,
            args=(urls[i % 2], per_client, args.seconds, args.rate, args.ramp_s, queue),
        )
        for i in range(args.clients)
    ]
    cpu0 = a.cpu_seconds() + b.cpu_seconds()
    redis0 = redis_cpu_s(redis_pid)
    for proc in procs:
        proc.start()
    counts: list[int] = []
    latencies: list[float] = []
    statuses: list[int] = []
    for _ in procs:
        c, lat, st = queue.get(timeout=args.seconds + 300)
        counts += c
        latencies += lat
        statuses += st
    for proc in procs:
        proc.join(timeout=30)
    cpu = a.cpu_seconds() + b.cpu_seconds() - cpu0
    expected = round(args.seconds * args.rate)
    exact = sum(c == expected for c in counts)
    print(
        f"### Live: {per_client * args.clients} streams x {args.rate:g} events/s x "
        f"{args.seconds:g} s, 2 workers sharing Redis, {args.clients} client processes, "
        f"arriving over {args.ramp_s:g} s\n"
    )
    print(
        "| streams | answered 200 | exact counts | events delivered | p50 ms | p99 ms | max ms |"
        " worker CPU s | redis-server CPU s |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(
        f"| {len(counts)} | {statuses.count(200)} | {exact}/{len(counts)} "
        f"| {sum(counts):,}/{expected * len(counts):,} "
        f"| {percentile(latencies, 0.5) * 1000:.1f} | {percentile(latencies, 0.99) * 1000:.1f} "
        f"| {max(latencies, default=0) * 1000:.1f} | {cpu:.1f} "
        f"| {redis_cpu_s(redis_pid) - redis0:.1f} |"
    )


if __name__ == "__main__":
    main()
