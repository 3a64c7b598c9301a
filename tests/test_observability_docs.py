"""docs/observability.md: both Python examples run as written, against real receivers.

The OTLP example exports to a collector stand-in (a loopback HTTP server that decodes the OTLP
protobuf bodies with opentelemetry-proto); the Prometheus example is scraped at ``/metrics``.
"""

from __future__ import annotations

import os
import re
import signal
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.uvicorn_helpers import ROOT, UvicornProcess

DOC = ROOT / "docs" / "observability.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python[^\n]*\n(.*?)```", DOC.read_text("utf-8"), flags=re.S)


class Collector:
    """Receives OTLP/HTTP protobuf exports on 127.0.0.1."""

    def __init__(self) -> None:
        self.bodies: dict[str, list[bytes]] = {}
        self.received = threading.Condition()
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                with collector.received:
                    collector.bodies.setdefault(self.path, []).append(body)
                    collector.received.notify_all()
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def span_names(self) -> list[str]:
        names = []
        for body in self.bodies.get("/v1/traces", []):
            request = ExportTraceServiceRequest.FromString(body)
            for resource in request.resource_spans:
                for scope in resource.scope_spans:
                    names += [span.name for span in scope.spans]
        return names

    def metric_names(self) -> set[str]:
        names = set()
        for body in self.bodies.get("/v1/metrics", []):
            request = ExportMetricsServiceRequest.FromString(body)
            for resource in request.resource_metrics:
                for scope in resource.scope_metrics:
                    names |= {metric.name for metric in scope.metrics}
        return names


@pytest.fixture
def collector() -> Iterator[Collector]:
    receiver = Collector()
    thread = threading.Thread(target=receiver.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()


def _app(tmp_path: Path, name: str, block: str) -> dict[str, str]:
    (tmp_path / f"{name}.py").write_text(block, "utf-8")
    return {"PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT), str(ROOT / "src")])}


def test_the_otlp_example_exports_spans_metrics_and_a_recording(
    tmp_path: Path, collector: Collector
) -> None:
    otlp, _ = python_blocks()
    env = _app(tmp_path, "otlp_example", otlp)
    env["OTEL_EXPORTER_OTLP_ENDPOINT"] = collector.url
    with UvicornProcess("otlp_example:app", env=env, cwd=tmp_path) as server:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            body = client.post("/api/chat", json={"message": "Faro?"}).text
        assert "You asked: Faro? " in "".join(re.findall(r'"text":"([^"]*)"', body))
        server.stop(signal.SIGTERM)  # the lifespan flushes the exporters and the recorder
    names = collector.span_names()
    assert "invoke_agent trip-planner" in names and "execute_tool search" in names
    assert "agent_stream.connection" in names
    assert {"agent_stream.runs.ended", "agent_stream.tool.duration"} <= collector.metric_names()
    (segment,) = tmp_path.glob("runs.*.jsonl")
    assert '"type":"done"' in segment.read_text("utf-8")


def test_the_prometheus_example_serves_metrics(tmp_path: Path) -> None:
    _, prometheus = python_blocks()
    env = _app(tmp_path, "prometheus_example", prometheus)
    with UvicornProcess("prometheus_example:app", env=env) as server:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            assert "event: done" in client.post("/api/chat").text
            text = client.get("/metrics").text
    ended = re.search(
        r'^agent_stream_runs_ended_total\{agent_stream_end_reason="completed"[^}]*\} (\S+)$',
        text,
        flags=re.M,
    )
    assert ended is not None and float(ended.group(1)) == 1.0
    assert "gen_ai_server_time_to_first_token_seconds_bucket" in text
