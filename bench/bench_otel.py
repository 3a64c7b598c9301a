"""Per-event cost of telemetry: a run + one connection, with and without OpenTelemetry.

In one process, side by side on the same events (tokens, with a tool call every ``--tool-every``
events, 500 unless told; 0: none): a
``RunManager`` (MemoryStore) drives a run whose source yields ``--events`` typed events while a
``Connection`` pumps them to a write that drops the bytes (no socket: what is measured is the
server's own work, where telemetry's share is largest). Contenders:

- ``off``: ``RunManager()`` without telemetry (the default);
- ``otel api``: ``Telemetry()`` on OpenTelemetry's default (no-op) global providers;
- ``otel sdk``: ``Telemetry`` on the SDK's ``TracerProvider`` (BatchSpanProcessor, exporter that
  drops) and ``MeterProvider`` (a periodic reader into an exporter that drops): every span and
  instrument is real, nothing leaves the process.

``--paced`` suspends after every event (as with a real model: each event its own write).
Reported: the process's CPU time (``time.process_time``: the SDK's export threads included, other
processes on a shared machine not) per event, median over ``--rounds`` rounds (contenders
interleaved), and each contender's overhead against ``off``. Target: ``otel sdk`` within 5 %.

``--e2e``: the same comparison end to end, which is what a deployment pays. Two uvicorn
workers (own processes, 127.0.0.1, ``--factory bench.bench_otel:create_app``) serve a demo-like
app (Starlette, ``RunManager`` over a ``MemoryStore`` with request owners,
``AgentStreamResponse`` over the source above): ``off`` without telemetry, ``otel sdk`` with
``Telemetry()`` on global SDK providers (BatchSpanProcessor and a periodic reader at its
default interval, both into exporters that drop). An httpx client in this process streams
``--runs`` runs of ``--events`` events from each in turn (interleaved per round, the order
alternating); the figure is the server process's CPU (user + system from ``/proc/<pid>/stat``,
as psutil's ``cpu_times`` reads it; the client's CPU is not in it) per event, median of the rounds.

Run: ``.venv/bin/python bench/bench_otel.py [--events 100000] [--rounds 7] [--paced]
[--tool-every 500] [--e2e [--runs 1]]``; instructions per run:
``--callgrind off|otel-api|sdk --runs K`` under ``valgrind --tool=callgrind`` (see
:func:`callgrind`).
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
from collections.abc import AsyncIterator, Callable, Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Any

import httpx
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    MetricExporter,
    MetricExportResult,
    MetricsData,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from agent_stream import Done, Token, ToolResult, ToolUse
from agent_stream.events import AgentEvent
from agent_stream.framing import SSEFraming
from agent_stream.server import MemoryStore, RunManager, StreamOptions
from agent_stream.server.connection import Connection, start_event
from agent_stream.telemetry import Telemetry

ROOT = Path(__file__).resolve().parent.parent


class DropSpans(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


class DropMetrics(MetricExporter):
    def __init__(self) -> None:
        super().__init__()

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: object
    ) -> MetricExportResult:
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: object) -> None:
        return None


def sdk_telemetry(reader_interval_ms: int = 1000) -> tuple[Telemetry, Callable[[], None]]:
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(DropSpans()))
    reader = PeriodicExportingMetricReader(DropMetrics(), export_interval_millis=reader_interval_ms)
    meter_provider = MeterProvider(metric_readers=[reader])
    telemetry = Telemetry(tracer_provider=tracer_provider, meter_provider=meter_provider)

    def shutdown() -> None:
        tracer_provider.shutdown()
        meter_provider.shutdown()

    return telemetry, shutdown


async def source(n: int, paced: bool, tool_every: int = 500) -> AsyncIterator[AgentEvent]:
    for i in range(n - 1):
        step = i % tool_every if tool_every else 0  # 0: no tool call at all
        if step == 1:
            yield ToolUse(tool_name="search", tool_use_id=f"t{i}", input={"q": "x"})
        elif step == 2:
            yield ToolResult(tool_name="search", tool_use_id=f"t{i - 1}", duration_ms=3)
        else:
            yield Token(text="word ")
        if paced:
            await asyncio.sleep(0)
    yield Done(model="bench")


async def one_run(telemetry: Telemetry | None, n: int, paced: bool, tool_every: int = 500) -> float:
    manager = RunManager(MemoryStore(), telemetry=telemetry, handle_signals=False)
    options = StreamOptions(heartbeat_s=60)
    written = 0

    async def write(chunk: bytes) -> None:
        nonlocal written
        written += len(chunk)

    started = time.process_time()
    run = await manager.start(source(n, paced, tool_every))
    task = asyncio.get_running_loop().create_task(run.drive())
    framing = SSEFraming(run.stream_id)
    connection = Connection(manager, run.stream_id, 0, options, framing)
    manager.store.attach(run.stream_id)  # a reader, for the disconnect policy
    start = start_event(manager, run.stream_id, options, resumed=False, urls=False)
    reason = await connection.pump(write, framing.open(start, cursor=0, retry_ms=options.retry_ms))
    await task
    elapsed = time.process_time() - started
    assert reason == "done" and written > n * 30, (reason, written)
    await manager.store.aclose()
    return elapsed


def create_app() -> Any:
    """The ``--e2e`` server: a demo-like app, telemetry per ``BENCH_OTEL`` (``off``/``sdk``)."""
    from opentelemetry import metrics, trace
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from agent_stream.starlette import AgentStreamResponse

    telemetry = None
    if os.environ.get("BENCH_OTEL") == "sdk":  # as an app sets up OpenTelemetry at start
        tracer_provider = TracerProvider()
        tracer_provider.add_span_processor(BatchSpanProcessor(DropSpans()))
        trace.set_tracer_provider(tracer_provider)
        metrics.set_meter_provider(
            MeterProvider(metric_readers=[PeriodicExportingMetricReader(DropMetrics())])
        )
        telemetry = Telemetry()
    manager = RunManager(
        MemoryStore(ttl_s=5.0),
        telemetry=telemetry,
        owner=lambda request: request.headers.get("authorization", ""),
    )

    async def chat(request: Request) -> AgentStreamResponse:
        query = request.query_params
        events = source(int(query["n"]), query.get("paced") == "1", int(query["tool_every"]))
        return AgentStreamResponse(events, manager=manager)

    async def stored(request: Request) -> JSONResponse:  # proof that telemetry was on
        return JSONResponse(telemetry.stored_events if telemetry is not None else None)

    app = Starlette(routes=[Route("/api/chat", chat), Route("/stored", stored)])
    app.state.agent_stream = manager
    return app


async def e2e_round(
    url: str, cpu_seconds: Callable[[], float], args: argparse.Namespace
) -> tuple[float, int]:
    """(server CPU s, bytes received) for ``--runs`` runs of ``--events`` events, one by one."""
    params = {"n": args.events, "paced": int(args.paced), "tool_every": args.tool_every}
    received = 0
    async with httpx.AsyncClient(
        base_url=url, timeout=300, headers={"authorization": "Bearer bench"}
    ) as client:
        await client.get("/api/chat", params={**params, "n": 10})  # the connection, warm
        before = cpu_seconds()
        for _ in range(args.runs):
            async with client.stream("GET", "/api/chat", params=params) as response:
                async for chunk in response.aiter_raw():
                    received += len(chunk)
        await asyncio.sleep(0.05)  # the server's bookkeeping after the last done
        return cpu_seconds() - before, received


def e2e(args: argparse.Namespace) -> dict[str, list[float]]:
    """Server CPU seconds per round of each ``--e2e`` contender."""
    sys.path.insert(0, str(ROOT))
    from tests.uvicorn_helpers import UvicornProcess

    trees = [("", None)] + ([(" before", args.before)] if args.before else [])
    servers = {
        f"{name}{tree}": UvicornProcess(
            "bench.bench_otel:create_app",
            factory=True,
            # --before: that tree's agent_stream, this bench's app
            env={
                "BENCH_OTEL": mode,
                "PYTHONHASHSEED": "0",  # the same dict layouts in every server
                **({"PYTHONPATH": f"{src}{os.pathsep}{ROOT}"} if src else {}),
            },
            args=["--no-access-log"],
            cwd=ROOT,
        )
        for tree, src in trees
        for name, mode in (("off", "off"), ("otel sdk", "sdk"))
    }
    times: dict[str, list[float]] = {name: [] for name in servers}
    sizes: dict[str, int] = {}
    try:
        for server in servers.values():
            server.start()
            asyncio.run(e2e_round(server.url, server.cpu_seconds, _warm_up(args)))
        for number in range(args.rounds):
            order = list(servers.items())
            for name, server in order if number % 2 == 0 else reversed(order):
                elapsed, sizes[name] = asyncio.run(e2e_round(server.url, server.cpu_seconds, args))
                times[name].append(elapsed)
        stored = {name: httpx.get(f"{s.url}/stored").json() for name, s in servers.items()}
    finally:
        for server in servers.values():
            server.stop()
    assert len(set(sizes.values())) == 1 and sizes["off"] > args.runs * args.events * 30, sizes
    for name, counted in stored.items():
        assert (counted is None) == name.startswith("off"), stored
        assert counted is None or counted >= args.rounds * args.runs * args.events, stored
    return times


def _warm_up(args: argparse.Namespace) -> argparse.Namespace:
    return argparse.Namespace(**{**vars(args), "events": 2_000, "runs": 2})


def in_process(args: argparse.Namespace) -> dict[str, list[float]]:
    """CPU seconds per round of each in-process contender."""
    sdk, shutdown = sdk_telemetry()
    contenders: dict[str, Telemetry | None] = {
        "off": None,
        "otel api": Telemetry(),
        "otel sdk": sdk,
    }
    times: dict[str, list[float]] = {name: [] for name in contenders}
    asyncio.run(one_run(None, 2_000, args.paced))  # warm up imports and caches
    for _ in range(args.rounds):
        for name, telemetry in contenders.items():
            gc.collect()
            gc.disable()
            try:
                elapsed = asyncio.run(one_run(telemetry, args.events, args.paced, args.tool_every))
                times[name].append(elapsed)
            finally:
                gc.enable()
    shutdown()
    return times


def callgrind(args: argparse.Namespace) -> None:
    """``--runs`` runs of one contender, after 20 to warm up, for instruction counts:
    ``valgrind --tool=callgrind`` this with ``--runs K`` and with ``--runs 0``; the difference
    over K is one run. The metric reader never fires here: it collects once per wall-clock
    second, and under callgrind (about 50x slower) that would charge collections to the runs."""
    telemetry = None
    if args.callgrind == "sdk":
        telemetry, _ = sdk_telemetry(reader_interval_ms=3_600_000)
    elif args.callgrind == "otel-api":
        telemetry = Telemetry()  # the API's no-op providers: what is ours

    async def runs(n: int) -> None:
        for _ in range(n):
            await one_run(telemetry, args.events, args.paced, args.tool_every)

    asyncio.run(runs(20))
    asyncio.run(runs(args.runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--paced", action="store_true")
    parser.add_argument("--tool-every", type=int, default=500, help="events per tool call; 0: none")
    parser.add_argument("--e2e", action="store_true", help="over uvicorn: server process CPU")
    parser.add_argument("--runs", type=int, default=1, help="--e2e: runs per round")
    parser.add_argument(
        "--before", metavar="SRC", help="--e2e: also serve agent_stream from SRC (a src/ dir)"
    )
    parser.add_argument(
        "--callgrind",
        choices=["off", "otel-api", "sdk"],
        help="only run --runs runs of this contender (in process), for callgrind; prints nothing",
    )
    args = parser.parse_args()
    if args.callgrind:
        callgrind(args)
        return
    times = e2e(args) if args.e2e else in_process(args)
    events = args.events * (args.runs if args.e2e else 1)
    per_event = {name: statistics.median(t) / events * 1e6 for name, t in times.items()}
    where = (
        f"end to end over uvicorn {version('uvicorn')}, "
        f"{args.runs} run(s) of {args.events:,} events"
        if args.e2e
        else f"in process, {args.events:,} events"
    )
    print(
        f"# bench_otel: {where} x {args.rounds} rounds, "
        f"{'paced' if args.paced else 'unpaced'}, tool calls: "
        f"{f'1 per {args.tool_every} events' if args.tool_every else 'none'}; "
        f"python {platform.python_version()}, "
        f"opentelemetry-sdk {version('opentelemetry-sdk')}, load {os.getloadavg()[0]:.2f}"
    )
    print("| contender | CPU µs / event (median) | overhead vs off |")
    print("| --- | ---: | ---: |")
    for name, value in per_event.items():
        base = per_event[name.replace("otel sdk", "off").replace("otel api", "off")]
        overhead = f"{(value / base - 1) * 100:+.1f} %" if base else "n/a (too short to time)"
        print(f"| {name} | {value:.2f} | {overhead} |")


if __name__ == "__main__":
    main()
