"""What a run's telemetry counts when the run, not the telemetry, looks at each event: tokens,
stored events and tool calls over typed events and emitter frames, across store batches, with
a refused oversize event (the OpenTelemetry SDK's in-memory exporter and reader, a real run)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from agent_stream import AgentStreamEmitter, Done, Progress, Thinking, Token, ToolResult, ToolUse
from agent_stream.errors import UsageError
from agent_stream.events import AgentEvent
from agent_stream.server import StreamOptions
from tests.test_telemetry_tools import Observed, observed_fixture  # noqa: F401 - the fixture


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def _mixed() -> AsyncIterator[AgentEvent | str]:
    # 300 typed tokens (over two store batches of 128) among thinking, progress and tool calls
    for i in range(300):
        if i % 50 == 7:
            yield Thinking(text="hmm ")
            yield Progress(step="plan", percentage=i / 3, message="working")
        if i % 100 == 9:
            yield ToolUse(tool_name="search", tool_use_id=f"t{i}", input={"q": "x"})
            yield ToolResult(tool_name="search", tool_use_id=f"t{i}", duration_ms=2)
        yield Token(text="w ")
    yield Thinking(text="x" * 2000)  # over max_event_bytes: refused, an error stored instead
    emitter = AgentStreamEmitter()
    for _ in range(5):
        yield emitter.token("f ")
    yield emitter.thinking("frame ")
    yield emitter.tool_use("fetch", "f1")
    yield emitter.tool_result("fetch", "f1", duration_ms=4)
    yield Done(model="counted-1")


def _points(reader: InMemoryMetricReader, name: str) -> list[Any]:
    data = reader.get_metrics_data()
    assert data is not None
    return [
        point
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == name
        for point in metric.data.data_points
    ]


@pytest.mark.anyio
async def test_tokens_events_and_tool_calls_of_a_mixed_run_are_counted(
    observed: Observed,
) -> None:
    spans, reader, manager = observed.spans, observed.reader, observed.manager
    options = StreamOptions(max_event_bytes=1024, oversize="continue")
    run = await manager.start(_mixed(), options=options)
    await run.drive()

    stored = 300 + 6 * 2 + 3 * 2 + 1 + 5 + 1 + 2 + 1  # tokens, thinking+progress, tools, error...
    assert run.seq == stored
    (events,) = _points(reader, "agent_stream.events.stored")
    assert events.value == stored
    (run_span,) = [s for s in spans.get_finished_spans() if s.name.startswith("invoke_agent")]
    attrs = run_span.attributes or {}
    assert attrs["agent_stream.tokens"] == 305
    assert attrs["error.type"] == "event-too-large"
    assert attrs["gen_ai.response.model"] == "counted-1"
    tools = [s for s in spans.get_finished_spans() if s.name.startswith("execute_tool")]
    assert sorted(s.name for s in tools) == ["execute_tool fetch"] + ["execute_tool search"] * 3
    assert all(s.parent is not None and s.parent.span_id == run_span.context.span_id for s in tools)
    (ttft,) = _points(reader, "gen_ai.server.time_to_first_token")
    assert ttft.count == 1
    (durations,) = [
        p
        for p in _points(reader, "agent_stream.tool.duration")
        if p.attributes["gen_ai.tool.name"] == "fetch"
    ]
    assert durations.count == 1 and durations.sum == pytest.approx(0.004)
    await manager.store.aclose()


@pytest.mark.anyio
async def test_events_stored_counts_a_live_run_that_only_streams_tokens(
    observed: Observed,
) -> None:
    spans, reader, manager = observed.spans, observed.reader, observed.manager
    paused, resume = anyio.Event(), anyio.Event()

    async def tokens() -> AsyncIterator[AgentEvent]:
        for i in range(500):
            yield Token(text="w ")
            if i % 7 == 0:
                await anyio.lowlevel.checkpoint()  # many stored batches, none with a tool call
        paused.set()
        await resume.wait()
        yield Thinking(text="hmm")
        yield Token(text="last")
        yield Done()

    run = await manager.start(tokens())
    async with anyio.create_task_group() as tg:
        tg.start_soon(run.drive)
        with anyio.fail_after(10):
            await paused.wait()
        (live,) = _points(reader, "agent_stream.events.stored")
        live_seq = run.seq
        resume.set()
    assert live.value == 500 == live_seq  # read from the live run when collected
    (ended,) = _points(reader, "agent_stream.events.stored")
    assert ended.value == 503
    (run_span,) = [s for s in spans.get_finished_spans() if s.name.startswith("invoke_agent")]
    assert (run_span.attributes or {})["agent_stream.tokens"] == 501
    (ttft,) = _points(reader, "gen_ai.server.time_to_first_token")
    (ttfe,) = _points(reader, "agent_stream.run.time_to_first_event")
    assert ttft.count == 1 and ttfe.count == 1
    await manager.store.aclose()


@pytest.mark.anyio
async def test_a_short_runs_store_calls_end_and_span_start(observed: Observed) -> None:
    spans, reader, manager = observed.spans, observed.reader, observed.manager
    produced: list[int] = []

    async def one() -> AsyncIterator[AgentEvent]:
        produced.append(time.time_ns())
        yield Done()

    started = time.time_ns()
    run = await manager.start(one(), stream_id="taken")
    with anyio.fail_after(10):
        await run.drive()
    # the run's span is made at its end (nothing needed it before) with the run's start time
    (run_span,) = [s for s in spans.get_finished_spans() if s.name.startswith("invoke_agent")]
    assert run_span.start_time is not None and run_span.end_time is not None
    assert started <= run_span.start_time <= produced[0] <= run_span.end_time
    assert (run_span.attributes or {})["agent_stream.end_reason"] == "completed"
    with pytest.raises(UsageError):  # the store refuses a stream id in use
        await manager.start(one(), stream_id="taken")
    (durations,) = _points(reader, "agent_stream.store.duration")
    assert durations.attributes == {"agent_stream.store.operation": "create"}
    assert durations.count == 2 and durations.sum >= 0
    (errors,) = _points(reader, "agent_stream.store.errors")
    assert errors.attributes == {
        "agent_stream.store.operation": "create",
        "error.type": "UsageError",
    }
    assert errors.value == 1
    (ended,) = _points(reader, "agent_stream.runs.ended")
    assert ended.attributes == {"agent_stream.end_reason": "completed"} and ended.value == 1
    await manager.store.aclose()
