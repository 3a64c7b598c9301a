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

Run: ``.venv/bin/python bench/bench_otel.py [--events 100000] [--rounds 7] [--paced]
[--tool-every 500]``
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import platform
import statistics
import time
from collections.abc import AsyncIterator, Callable, Sequence
from importlib.metadata import version

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


def sdk_telemetry() -> tuple[Telemetry, Callable[[], None]]:
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(DropSpans()))
    reader = PeriodicExportingMetricReader(DropMetrics(), export_interval_millis=1000)
    meter_provider = MeterProvider(metric_readers=[reader])
    telemetry = Telemetry(tracer_provider=tracer_provider, meter_provider=meter_provider)

    def shutdown() -> None:
        tracer_provider.shutdown()
        meter_provider.shutdown()

    return telemetry, shutdown


async def source(n: int, paced: bool, tool_every: int = 500) -> AsyncIterator[AgentEvent]:
    every = tool_every or n + 1
    for i in range(n - 1):
        if i % every == 1:
            yield ToolUse(tool_name="search", tool_use_id=f"t{i}", input={"q": "x"})
        elif i % every == 2:
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--paced", action="store_true")
    parser.add_argument("--tool-every", type=int, default=500, help="events per tool call; 0: none")
    args = parser.parse_args()
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
    per_event = {name: statistics.median(t) / args.events * 1e6 for name, t in times.items()}
    base = per_event["off"]
    print(
        f"# bench_otel: {args.events:,} events x {args.rounds} rounds, "
        f"{'paced' if args.paced else 'unpaced'}, tool calls: "
        f"{f'1 per {args.tool_every} events' if args.tool_every else 'none'}; "
        f"python {platform.python_version()}, "
        f"opentelemetry-sdk {version('opentelemetry-sdk')}, load {os.getloadavg()[0]:.2f}"
    )
    print("| contender | CPU µs / event (median) | overhead vs off |")
    print("| --- | ---: | ---: |")
    for name, value in per_event.items():
        print(f"| {name} | {value:.2f} | {(value / base - 1) * 100:+.1f} % |")


if __name__ == "__main__":
    main()
