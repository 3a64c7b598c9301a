"""Tool call spans and latencies of real runs: handed to the OpenTelemetry SDK when a call ends,
in groups, and all of them by the run's end (the SDK's in-memory exporter and reader)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from agent_stream import Done, Token, ToolResult, ToolUse
from agent_stream import run_telemetry as telemetry_module
from agent_stream.events import AgentEvent
from agent_stream.server import MemoryStore, RunManager
from agent_stream.telemetry import Telemetry


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class Observed:
    spans: InMemorySpanExporter
    reader: InMemoryMetricReader
    manager: RunManager

    def tools(self) -> list[ReadableSpan]:
        return [s for s in self.spans.get_finished_spans() if s.name.startswith("execute_tool")]

    def run_span(self) -> ReadableSpan:
        (run,) = [s for s in self.spans.get_finished_spans() if s.name.startswith("invoke_agent")]
        return run

    def durations(self) -> dict[str, Any]:
        data = self.reader.get_metrics_data()
        assert data is not None
        return {
            str((point.attributes or {})["gen_ai.tool.name"]): point
            for resource in data.resource_metrics
            for scope in resource.scope_metrics
            for metric in scope.metrics
            if metric.name == "agent_stream.tool.duration"
            for point in metric.data.data_points
        }


@pytest.fixture(name="observed")
def observed_fixture() -> Iterator[Observed]:
    """A RunManager on a MemoryStore with the SDK's in-memory span exporter and metric reader."""
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    telemetry = Telemetry(tracer_provider=tracer_provider, meter_provider=meter_provider)
    yield Observed(spans, reader, RunManager(MemoryStore(), telemetry=telemetry))
    tracer_provider.shutdown()
    meter_provider.shutdown()


async def _drive(observed: Observed, source: AsyncIterator[AgentEvent]) -> None:
    run = await observed.manager.start(source)
    with anyio.fail_after(10):
        await run.drive()
    await observed.manager.store.aclose()


@pytest.mark.anyio
async def test_a_failed_call_and_a_call_the_run_never_finished(observed: Observed) -> None:
    async def source() -> AsyncIterator[AgentEvent]:
        yield ToolUse(tool_name="fetch", tool_use_id="f1", input={"url": "x"})
        await anyio.sleep(0.03)  # the tool runs (no duration_ms: the run measures it)
        yield ToolResult(tool_name="fetch", tool_use_id="f1", status="error", duration_ms=0)
        yield ToolUse(tool_name="search", tool_use_id="s1", input={"q": "x"})
        yield Token(text="w")
        yield Done()

    await _drive(observed, source())
    run = observed.run_span()
    fetch, search = observed.tools()
    assert fetch.name == "execute_tool fetch" and search.name == "execute_tool search"
    assert fetch.status.status_code is StatusCode.ERROR
    attrs = fetch.attributes or {}
    assert attrs["error.type"] == "tool_error" and attrs["gen_ai.tool.call.id"] == "f1"
    assert attrs["gen_ai.operation.name"] == "execute_tool"
    assert fetch.start_time is not None and fetch.end_time is not None
    assert fetch.end_time - fetch.start_time >= 30_000_000  # the span spans the call
    assert (search.attributes or {})["agent_stream.end_reason"] == "completed"
    assert search.status.status_code is StatusCode.UNSET
    assert run.start_time is not None and run.end_time is not None
    for tool in (fetch, search):
        assert tool.parent is not None and tool.parent.span_id == run.context.span_id
        assert tool.start_time is not None and tool.end_time is not None
        assert run.start_time <= tool.start_time <= tool.end_time <= run.end_time
    durations = observed.durations()
    assert set(durations) == {"fetch"}  # a call that never ended has no latency
    assert durations["fetch"].count == 1 and durations["fetch"].sum >= 0.03


@pytest.mark.anyio
async def test_calls_are_handed_over_in_groups_while_the_run_goes_on(observed: Observed) -> None:
    group = telemetry_module._TOOL_GROUP
    paused, resume = anyio.Event(), anyio.Event()

    async def source() -> AsyncIterator[AgentEvent]:
        for i in range(group + 3):
            yield ToolUse(tool_name="search", tool_use_id=f"t{i}", input={"q": i})
            yield ToolResult(tool_name="search", tool_use_id=f"t{i}", duration_ms=2)
            yield Token(text="w")
            await anyio.lowlevel.checkpoint()  # each call in its own stored batch
        paused.set()
        await resume.wait()
        yield Done()

    async with anyio.create_task_group() as tg:
        tg.start_soon(_drive, observed, source())
        with anyio.fail_after(10):
            await paused.wait()
        mid_run = observed.tools()
        resume.set()
    assert [s.attributes["gen_ai.tool.call.id"] for s in mid_run if s.attributes] == [
        f"t{i}" for i in range(group)
    ]
    assert len(observed.tools()) == group + 3
    assert observed.durations()["search"].count == group + 3


@pytest.mark.anyio
async def test_a_call_waits_at_most_the_wait_for_the_next_noted_event(
    observed: Observed, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(telemetry_module, "_TOOL_WAIT_NS", 20_000_000)
    steps = [(anyio.Event(), anyio.Event()) for _ in range(2)]
    seen: list[list[str]] = []

    async def pause(step: int) -> None:
        reached, go_on = steps[step]
        reached.set()
        await go_on.wait()

    async def source() -> AsyncIterator[AgentEvent]:
        yield ToolUse(tool_name="a", tool_use_id="a1", input={})
        yield ToolResult(tool_name="a", tool_use_id="a1", duration_ms=1)
        await pause(0)  # a1 ended, less than the wait ago: not handed over yet
        await anyio.sleep(0.03)  # longer than the wait
        yield ToolUse(tool_name="b", tool_use_id="b1", input={})
        await pause(1)  # the next noted event hands a1 over; b1 is still open
        yield Done()

    async with anyio.create_task_group() as tg:
        tg.start_soon(_drive, observed, source())
        for reached, go_on in steps:
            with anyio.fail_after(10):
                await reached.wait()
            seen.append([s.name for s in observed.tools()])
            go_on.set()
    assert seen == [[], ["execute_tool a"]]
    assert [s.name for s in observed.tools()] == ["execute_tool a", "execute_tool b"]
