"""OpenTelemetry traces and metrics of real runs: the demo app in uvicorn on 127.0.0.1:0, the
OpenTelemetry SDK with its in-memory span exporter and metric reader (nothing of ours mocked)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import anyio
import httpx
import pytest
import uvicorn
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from agent_stream.demo.app import create_app
from agent_stream.telemetry import MAX_REPORT_REASONS, Telemetry

AUTH = {"authorization": "Bearer telemetry-test"}
OWNER_HASH = hashlib.sha256(b"Bearer telemetry-test").hexdigest()[:16]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class Observed:
    spans: InMemorySpanExporter
    reader: InMemoryMetricReader
    url: str

    def finished(self) -> list[ReadableSpan]:
        return list(self.spans.get_finished_spans())

    def metric(self, name: str) -> list[Any]:
        """The data points of metric ``name`` (empty if not recorded yet)."""
        data = self.reader.get_metrics_data()
        if data is None:
            return []
        return [
            point
            for resource in data.resource_metrics
            for scope in resource.scope_metrics
            for metric in scope.metrics
            if metric.name == name
            for point in metric.data.data_points
        ]

    def total(self, name: str, **attributes: str) -> float:
        return float(
            sum(
                p.value
                for p in self.metric(name)
                if all(p.attributes.get(k) == v for k, v in attributes.items())
            )
        )

    async def wait_for(self, what: str, check: Callable[[], bool], timeout_s: float = 10) -> None:
        # spans end a moment after the client has read the last byte: wait, with a deadline
        with anyio.fail_after(timeout_s):
            while not check():  # noqa: ASYNC110 (the SDK's exporter has no event to wait on)
                await anyio.sleep(0.01)


@pytest.fixture
async def observed() -> AsyncIterator[Observed]:
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    telemetry = Telemetry(
        tracer_provider=tracer_provider, meter_provider=meter_provider, agent_name="demo"
    )
    app = create_app(telemetry=telemetry, heartbeat_s=5, resume_grace_s=10)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    async with anyio.create_task_group() as tg:
        tg.start_soon(server.serve)
        with anyio.fail_after(10):
            while not server.started:  # noqa: ASYNC110 (uvicorn has no event for it)
                await anyio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        try:
            yield Observed(spans, reader, f"http://127.0.0.1:{port}")
        finally:
            server.should_exit = True
    tracer_provider.shutdown()
    meter_provider.shutdown()


def _blocks(body: bytes) -> Iterator[dict[str, str]]:
    for block in body.split(b"\n\n"):
        fields: dict[str, str] = {}
        for line in block.decode().split("\n"):
            if line and not line.startswith(":"):
                key, _, value = line.partition(": ")
                fields[key] = value
        if "event" in fields:
            yield fields


async def _run(url: str, knobs: dict[str, object]) -> tuple[str, bytes]:
    async with httpx.AsyncClient(timeout=20) as client:
        response = await client.post(f"{url}/api/chat", json=knobs, headers=AUTH)
        assert response.status_code == 200
    start = next(_blocks(response.content))
    return json.loads(start["data"])["stream_id"], response.content


def _by_name(spans: list[ReadableSpan], prefix: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name.startswith(prefix)]


@pytest.mark.anyio
async def test_a_run_with_tools(observed: Observed) -> None:
    stream_id, body = await _run(observed.url, {"tokens": 12, "token_delay_ms": 1, "tools": 3})
    await observed.wait_for("the connection span", lambda: len(observed.finished()) >= 5)
    spans = observed.finished()
    (run,) = _by_name(spans, "invoke_agent")
    assert run.name == "invoke_agent demo"
    attrs = run.attributes or {}
    assert attrs["agent_stream.stream_id"] == stream_id
    assert attrs["agent_stream.owner_hash"] == OWNER_HASH
    assert attrs["gen_ai.operation.name"] == "invoke_agent"
    assert attrs["gen_ai.response.model"] == "demo-scripted-1"
    assert attrs["agent_stream.end_reason"] == "completed"
    assert tuple(attrs["gen_ai.response.finish_reasons"]) == ("completed",)  # type: ignore[arg-type]
    assert attrs["agent_stream.tokens"] == 12
    tools = _by_name(spans, "execute_tool")
    assert [t.name for t in tools] == [
        "execute_tool web_search",
        "execute_tool read_page",
        "execute_tool calculator",
    ]
    run_context = run.get_span_context()
    assert run_context is not None
    for tool in tools:
        assert tool.parent is not None and tool.parent.span_id == run_context.span_id
        assert (tool.attributes or {})["gen_ai.tool.call.id"]
    (connection,) = _by_name(spans, "agent_stream.connection")
    assert connection.parent is not None and connection.parent.span_id == run_context.span_id
    conn = connection.attributes or {}
    assert conn["agent_stream.resumed"] is False and conn["agent_stream.end_reason"] == "done"
    assert conn["agent_stream.bytes_sent"] == len(body)
    events = len(list(_blocks(body)))
    assert conn["agent_stream.events_sent"] == events - 1  # all but start
    # metrics
    assert (
        observed.total("agent_stream.runs.ended", **{"agent_stream.end_reason": "completed"}) == 1
    )
    assert observed.total("agent_stream.events.stored") == events - 1  # all but start
    assert observed.total("agent_stream.bytes.sent") == len(body)
    assert observed.total("agent_stream.runs.active") == 0
    assert observed.total("agent_stream.connections.active") == 0
    durations = {
        p.attributes["gen_ai.tool.name"]: p for p in observed.metric("agent_stream.tool.duration")
    }
    assert durations["read_page"].count == 1 and durations["read_page"].sum == pytest.approx(0.010)
    (ttft,) = observed.metric("gen_ai.server.time_to_first_token")
    assert ttft.count == 1 and ttft.sum > 0.012  # thinking pauses, tools and a token delay first
    (rate,) = observed.metric("agent_stream.run.tokens_per_second")
    assert rate.count == 1 and rate.sum > 0


@pytest.mark.anyio
async def test_an_error_run(observed: Observed) -> None:
    await _run(observed.url, {"tokens": 5, "token_delay_ms": 0, "tools": 0, "fail_after": 3})
    await observed.wait_for("the spans", lambda: len(observed.finished()) >= 2)
    (run,) = _by_name(observed.finished(), "invoke_agent")
    assert run.status.status_code is StatusCode.ERROR
    attrs = run.attributes or {}
    assert attrs["error.type"] == "DemoFailure" and attrs["agent_stream.end_reason"] == "error"
    (event,) = [e for e in run.events if e.name == "agent_stream.error"]
    assert "failed on purpose" in str((event.attributes or {})["agent_stream.message"])
    assert observed.total("agent_stream.runs.ended", **{"agent_stream.end_reason": "error"}) == 1


@pytest.mark.anyio
async def test_a_resumed_run(observed: Observed) -> None:
    knobs = {"tokens": 60, "token_delay_ms": 5, "tools": 0, "thinking": False}
    async with httpx.AsyncClient(timeout=20) as client:
        async with client.stream("POST", f"{observed.url}/api/chat", json=knobs, headers=AUTH) as r:
            seen: list[dict[str, str]] = []
            buffer = b""
            async for chunk in r.aiter_raw():
                buffer += chunk
                *complete, buffer = buffer.split(b"\n\n")
                seen += list(_blocks(b"\n\n".join(complete)))
                if len(seen) >= 8:
                    break  # the client drops the connection mid-run
        last_id = seen[-1]["id"]
        stream_id = last_id.rsplit(":", 1)[0]
        cursor = int(last_id.rsplit(":", 1)[1])
        resumed = await client.get(
            f"{observed.url}/api/streams/{stream_id}", headers={**AUTH, "last-event-id": last_id}
        )
    assert resumed.status_code == 200 and b"event: done" in resumed.content
    await observed.wait_for(
        "both connection spans",
        lambda: (
            len(_by_name(observed.finished(), "agent_stream.connection")) == 2
            and len(_by_name(observed.finished(), "invoke_agent")) == 1
        ),
    )
    first, second = sorted(
        _by_name(observed.finished(), "agent_stream.connection"), key=lambda s: s.start_time or 0
    )
    assert (first.attributes or {})["agent_stream.end_reason"] == "disconnected"
    attrs = second.attributes or {}
    assert attrs["agent_stream.resumed"] is True and attrs["agent_stream.cursor"] == cursor
    assert attrs["agent_stream.end_reason"] == "done"
    assert attrs["agent_stream.bytes_sent"] == len(resumed.content)
    assert observed.total("agent_stream.resumes") == 1
    (replayed,) = observed.metric("agent_stream.resume.replayed_events")
    assert replayed.count == 1 and replayed.sum >= 0
    (run,) = _by_name(observed.finished(), "invoke_agent")
    assert (run.attributes or {})["agent_stream.end_reason"] == "completed"


@pytest.mark.anyio
async def test_a_cancelled_run(observed: Observed) -> None:
    knobs = {"tokens": 1000, "token_delay_ms": 20, "tools": 1}
    async with httpx.AsyncClient(timeout=20) as client:
        async with client.stream("POST", f"{observed.url}/api/chat", json=knobs, headers=AUTH) as r:
            chunks = r.aiter_raw()
            start = b""
            async for chunk in chunks:
                start += chunk
                if b"\n\n" in start:
                    break
            stream_id = json.loads(next(_blocks(start))["data"])["stream_id"]
            stopped = await client.post(
                f"{observed.url}/api/streams/{stream_id}/stop", headers=AUTH
            )
            assert stopped.status_code in (200, 202, 204)
            rest = start + b"".join([chunk async for chunk in chunks])
    assert b'"reason":"cancelled"' in rest
    await observed.wait_for(
        "the run span", lambda: len(_by_name(observed.finished(), "invoke_agent")) == 1
    )
    (run,) = _by_name(observed.finished(), "invoke_agent")
    assert (run.attributes or {})["agent_stream.end_reason"] == "cancelled"
    assert run.status.status_code is not StatusCode.ERROR
    assert (
        observed.total("agent_stream.runs.ended", **{"agent_stream.end_reason": "cancelled"}) == 1
    )
    assert observed.total("agent_stream.runs.active") == 0


def test_without_opentelemetry_it_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    for name in [n for n in sys.modules if n == "opentelemetry" or n.startswith("opentelemetry.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "opentelemetry", None)  # import fails like a missing package
    telemetry = Telemetry()
    assert telemetry.is_enabled is False
    assert telemetry.run_started("s", owner="o") is None
    assert (
        telemetry.connection_opened("s", resumed=False, cursor=0, progress=lambda: (0, 0)) is None
    )
    with telemetry.store_call("create"):
        pass
    telemetry.client_report("s", reason="gave-up", last_seq=1, attempts=1)


@pytest.mark.anyio
async def test_client_report_reasons_cannot_grow_the_metric(observed: Observed) -> None:
    # a client picks the reason: past MAX_REPORT_REASONS distinct ones, the counter says "other"
    stream_id, _ = await _run(observed.url, {"tokens": 2, "token_delay_ms": 0, "tools": 0})
    reasons = [f"code-{n}" for n in range(MAX_REPORT_REASONS + 8)]
    async with httpx.AsyncClient(base_url=observed.url, timeout=10) as http:
        for reason in [*reasons, "code-0"]:
            answer = await http.post(
                f"/api/streams/{stream_id}/report",
                json={"reason": reason, "last_seq": 1, "attempts": 1},
                headers=AUTH,
            )
            assert answer.status_code == 204
    points = observed.metric("agent_stream.client_reports")
    counted = {p.attributes["agent_stream.reason"]: p.value for p in points}
    assert len(counted) == MAX_REPORT_REASONS + 1
    assert counted["code-0"] == 2 and counted["other"] == 8
    assert sum(counted.values()) == len(reasons) + 1
    # spans keep the exact reason
    reported = {
        event.attributes["agent_stream.reason"]
        for span in observed.finished()
        for event in span.events
        if event.name == "agent_stream.client_report" and event.attributes
    } | {
        span.attributes["agent_stream.reason"]
        for span in observed.finished()
        if span.name == "agent_stream.client_report" and span.attributes
    }
    assert reported == set(reasons)
