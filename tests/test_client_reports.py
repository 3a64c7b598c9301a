"""Client reports: a Python client that has to end a stream with a synthetic ``done`` tells the
server once; the server checks the owner, counts it, adds it to the run's telemetry and to the
recording. Real uvicorn (the demo app) behind a fault-injecting TCP proxy on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import httpx
import pytest
import uvicorn
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agent_stream.client import AgentStreamClient
from agent_stream.demo.app import create_app
from agent_stream.recording import RecordedNote, read_records
from agent_stream.telemetry import Telemetry
from tests.faultproxy import Fault, FaultProxy

AUTH = {"authorization": "Bearer reporter"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[str, InMemorySpanExporter, Path]]:
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    recording = tmp_path / "runs.jsonl"
    app = create_app(
        telemetry=Telemetry(tracer_provider=provider), recorder=recording, resume_grace_s=10
    )
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    async with anyio.create_task_group() as tg:
        tg.start_soon(server.serve)
        with anyio.fail_after(10):
            while not server.started:  # noqa: ASYNC110 (uvicorn has no event for it)
                await anyio.sleep(0.01)
        try:
            yield f"127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}", spans, recording
        finally:
            server.should_exit = True
    provider.shutdown()


async def _short_run(http: httpx.AsyncClient) -> str:
    """Run a short demo stream to its end; its stream id."""
    body = (
        await http.post("/api/chat", json={"tokens": 3, "token_delay_ms": 0}, headers=AUTH)
    ).text
    return body.split("id: ", 1)[1].split(":", 1)[0]


@pytest.mark.anyio
async def test_a_client_that_gives_up_reports_once(
    served: tuple[str, InMemorySpanExporter, Path],
) -> None:
    address, spans, _ = served
    port = int(address.rsplit(":", 1)[1])
    # the first response breaks after its start and some events; every resume breaks before
    # its first event, so the client gives up after max_retries
    plan = lambda n: Fault("cut", 1500) if n == 0 else Fault("cut", 150)  # noqa: E731
    async with FaultProxy(port, plan=plan) as proxy:
        knobs = {"tokens": 200, "token_delay_ms": 5, "tools": 0, "thinking": False}
        async with AgentStreamClient(
            max_retries=2, backoff_base_s=0.01, backoff_max_s=0.02
        ) as client:
            events = [
                event
                async for event in client.stream(f"{proxy.url}/api/chat", json=knobs, headers=AUTH)
            ]
    done = events[-1]
    assert done.type == "done" and done.data.get("synthetic") is True
    stream_id = client.stream_id
    assert stream_id is not None
    async with httpx.AsyncClient(base_url=f"http://{address}", timeout=5) as http:
        assert (await http.get("/healthz")).json()["client_reports"] == 1
        # the route checks the owner and bounds the body
        foreign = await http.post(
            f"/api/streams/{stream_id}/report",
            json={"reason": "gave-up", "last_seq": 1, "attempts": 1},
            headers={"authorization": "someone else"},
        )
        assert foreign.status_code == 404
        bad = await http.post(f"/api/streams/{stream_id}/report", json={"reason": ""}, headers=AUTH)
        assert bad.status_code == 400
        huge = await http.post(
            f"/api/streams/{stream_id}/report", content=b"{" + b" " * 5000 + b"}", headers=AUTH
        )
        assert huge.status_code == 413
        assert (await http.get("/healthz")).json()["client_reports"] == 1
        # the run outlives the client for its grace period: stop it so its span ends
        await http.post(f"/api/streams/{stream_id}/stop", headers=AUTH)
    names = {s.name for s in spans.get_finished_spans()}
    reported = [
        event
        for span in spans.get_finished_spans()
        for event in span.events
        if event.name == "agent_stream.client_report"
    ]
    linked = [s for s in spans.get_finished_spans() if s.name == "agent_stream.client_report"]
    assert len(reported) + len(linked) == 1, names
    report = (reported[0] if reported else linked[0]).attributes or {}
    assert report["agent_stream.attempts"] == 2  # the failures the core counted (max_retries)
    last_seq = report["agent_stream.last_seq"]
    assert isinstance(last_seq, int) and last_seq == int(events[-2].id.rsplit(":", 1)[1])


@pytest.mark.anyio
async def test_the_report_is_in_the_recording(
    served: tuple[str, InMemorySpanExporter, Path],
) -> None:
    address, _, recording = served
    async with httpx.AsyncClient(base_url=f"http://{address}", timeout=10) as http:
        stream_id = await _short_run(http)
        answer = await http.post(
            f"/api/streams/{stream_id}/report",
            json={"reason": "stalled", "last_seq": 7, "attempts": 4},
            headers=AUTH,
        )
        assert answer.status_code == 204
    with anyio.fail_after(10):
        while True:  # the recorder writes in its own thread, at least every 0.2 s
            notes = [
                r
                for r in read_records(recording)
                if isinstance(r, RecordedNote) and r.kind == "client_report"
            ]
            if notes:
                break
            await anyio.sleep(0.05)
    (note,) = notes
    assert note.stream_id == stream_id
    assert dict(note.fields) == {"reason": "stalled", "last_seq": 7, "attempts": 4}


@pytest.mark.anyio
@pytest.mark.parametrize(
    "reason",
    ["gave-up\r\nWARNING forged line", "x\u0000y", "two words", '"quoted"', "\u00e9t\u00e9"],
)
async def test_a_reason_that_could_forge_a_log_line_is_refused(
    served: tuple[str, InMemorySpanExporter, Path],
    reason: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    address, _, _ = served
    async with httpx.AsyncClient(base_url=f"http://{address}", timeout=10) as http:
        stream_id = await _short_run(http)
        with caplog.at_level("WARNING", logger="agent_stream"):
            answer = await http.post(
                f"/api/streams/{stream_id}/report",
                json={"reason": reason, "last_seq": 1, "attempts": 1},
                headers=AUTH,
            )
        assert answer.status_code == 400
        assert answer.json()["error"]["code"] == "invalid-request"
        assert "must be an error code" in answer.json()["error"]["message"]
        assert (await http.get("/healthz")).json()["client_reports"] == 0
    assert "synthetic done" not in caplog.text
