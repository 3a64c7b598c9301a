"""OpenTelemetry traces and metrics for a server (extra ``[otel]``: ``opentelemetry-api`` only).

Pass ``telemetry=Telemetry()`` to a :class:`~agent_stream.server.RunManager`. It uses the
global tracer and meter providers unless given others; the SDK and its exporters are the app's
choice (see ``docs/observability.md``). Without OpenTelemetry installed it is a no-op.

Traces: one span per run (``invoke_agent``; stream id, owner hash, model, finish reason, end
reason; made with the run's start time when first needed: a child handed over, an error, a
client report, the run's end), a child span per tool call (``execute_tool {name}``: made when
the call ended, with its start and end times, and handed to the SDK in groups:
:mod:`agent_stream.run_telemetry`) and per connection (``agent_stream.connection``: made when
the response ends; resumed, cursor, replayed events, events and bytes sent, end reason); a
client's report becomes an event on the run's span (or, after the run ended, a span linked to
it). Attribute names are the GenAI semantic conventions' where one exists (``gen_ai.*``,
``error.type``), ``agent_stream.*`` otherwise.

Metrics (instrument names below; durations in seconds):

==========================================  ==================================================
``agent_stream.runs.active``                runs producing now (up-down counter)
``agent_stream.connections.active``         responses reading a stream now
``agent_stream.runs.ended``                 runs ended, by ``agent_stream.end_reason`` (observable)
``agent_stream.events.stored``              events the runs stored
``agent_stream.events.sent``                events written to clients (replays included)
``agent_stream.bytes.sent``                 bytes written to clients (``By``)
``agent_stream.run.time_to_first_event``    run start to its first stored event
``gen_ai.server.time_to_first_token``       run start to its first ``token``
``agent_stream.run.tokens_per_second``      tokens from the first one to the end, per second
``agent_stream.tool.duration``              tool latency, by ``gen_ai.tool.name``
``agent_stream.resumes``                    responses that resumed a stream
``agent_stream.resume.replayed_events``     events a resume had to replay (histogram)
``agent_stream.connections.reaped``         slow readers cut after ``send_timeout_s``
``agent_stream.store.duration``             store calls, by ``agent_stream.store.operation``
``agent_stream.store.errors``               store calls that raised
``agent_stream.client_reports``             client reports by ``agent_stream.reason`` (32, + other)
==========================================  ==================================================
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from .run_telemetry import ConnectionTelemetry, RunTelemetry

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import SpanContext, TracerProvider

__all__ = ["ConnectionTelemetry", "RunTelemetry", "Telemetry"]

logger = logging.getLogger("agent_stream")

_FINISHED_KEPT = 10_000  # span contexts of ended runs kept for late client reports
#: distinct client report reasons ``agent_stream.client_reports`` counts by name; the others
#: (a client chooses the reason) are counted as ``other``, so a client cannot grow the metric
MAX_REPORT_REASONS = 32
_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


def owner_hash(owner: str) -> str:
    """The owner as it appears in telemetry: 16 hex digits of its SHA-256 (never the value)."""
    return hashlib.sha256(owner.encode("utf-8", "replace")).hexdigest()[:16]


class Telemetry:
    """Traces and metrics of one app's runs and connections (one per ``RunManager``).

    ``tracer_provider`` / ``meter_provider`` default to OpenTelemetry's global ones.
    ``agent_name`` becomes ``gen_ai.agent.name`` and the run span's name.
    """

    def __init__(
        self,
        *,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
        agent_name: str = "agent",
    ) -> None:
        self.agent_name = agent_name
        self._runs: dict[str, RunTelemetry] = {}
        self._finished: OrderedDict[str, SpanContext] = OrderedDict()
        try:
            from opentelemetry import metrics, trace
        except ImportError:
            logger.debug("opentelemetry is not installed; agent-stream telemetry is off")
            self.is_enabled = False
            return
        self.is_enabled = True
        from . import __version__ as version

        tracer_provider = tracer_provider or trace.get_tracer_provider()
        meter_provider = meter_provider or metrics.get_meter_provider()
        self.tracer = tracer_provider.get_tracer("agent_stream", version)
        meter = meter_provider.get_meter("agent_stream", version)
        self._trace = trace
        self._metrics = metrics
        counter, histogram = meter.create_counter, meter.create_histogram
        # Per-event figures are plain integers read when the metrics are collected: a
        # synchronous instrument costs microseconds per call, an addition nanoseconds.
        self.stored_events = 0  # by the runs that ended (live runs: RunTelemetry.progress)
        self._live: set[ConnectionTelemetry] = set()
        self._ended_bytes = 0
        self._ended_events = 0
        # the client report reasons counted under their own name (a client picks the reason)
        self._report_reasons: set[str] = set()
        #: runs ended so far by end reason (read when metrics are collected)
        self.ended_runs: dict[str, int] = {}
        observation = metrics.Observation

        def observe(read: Any) -> Any:
            return lambda options: [observation(read())]

        meter.create_observable_up_down_counter(
            "agent_stream.runs.active",
            [observe(lambda: len(self._runs))],
            "{run}",
            "Runs producing now",
        )
        meter.create_observable_up_down_counter(
            "agent_stream.connections.active",
            [observe(lambda: len(self._live))],
            "{connection}",
            "Responses reading a stream now",
        )
        meter.create_observable_counter(
            "agent_stream.events.stored",
            [observe(self._stored)],
            "{event}",
            "Events stored",
        )
        meter.create_observable_counter(
            "agent_stream.events.sent",
            [observe(lambda: self._sent()[1])],
            "{event}",
            "Events sent (replays included)",
        )
        meter.create_observable_counter(
            "agent_stream.bytes.sent",
            [observe(lambda: self._sent()[0])],
            "By",
            "Bytes sent to clients",
        )
        meter.create_observable_counter(
            "agent_stream.runs.ended",
            [self._observe_ended],
            "{run}",
            "Runs ended, by reason",
        )
        seconds: dict[str, Any] = {"unit": "s", "explicit_bucket_boundaries_advisory": _SECONDS}
        self.time_to_first_event = histogram(
            "agent_stream.run.time_to_first_event",
            description="Run start to its first event",
            **seconds,
        )
        self.time_to_first_token = histogram(
            "gen_ai.server.time_to_first_token",
            description="Run start to its first token",
            **seconds,
        )
        self.tokens_per_second = histogram(
            "agent_stream.run.tokens_per_second", "{token}/s", "Tokens per second of a run"
        )
        self.tool_duration = histogram(
            "agent_stream.tool.duration", description="Tool call latency", **seconds
        )
        self.resumes = counter("agent_stream.resumes", "{connection}", "Resumed responses")
        self.replayed_events = histogram(
            "agent_stream.resume.replayed_events", "{event}", "Events a resume replayed"
        )
        self.reaped = counter(
            "agent_stream.connections.reaped", "{connection}", "Slow readers cut off"
        )
        self.store_duration = histogram(
            "agent_stream.store.duration", description="Store call latency", **seconds
        )
        self.store_errors = counter("agent_stream.store.errors", "{error}", "Store calls failed")
        self.client_reports = counter(
            "agent_stream.client_reports", "{report}", "Streams clients ended with a synthetic done"
        )

    # runs

    def run_started(self, stream_id: str, *, owner: str = "") -> RunTelemetry | None:
        """A run began producing (``None`` when telemetry is off)."""
        if not self.is_enabled:
            return None
        run = RunTelemetry(
            self,
            stream_id,
            {
                "gen_ai.operation.name": "invoke_agent",
                "gen_ai.agent.name": self.agent_name,
                "agent_stream.stream_id": stream_id,
                "agent_stream.owner_hash": owner_hash(owner),
            },
        )
        self._runs[stream_id] = run
        return run

    def _stored(self) -> int:
        return self.stored_events + sum(run.progress()[0] for run in list(self._runs.values()))

    def _sent(self) -> tuple[int, int]:
        sent_bytes, sent_events = self._ended_bytes, self._ended_events
        for connection in list(self._live):
            more_bytes, more_events = connection.progress()
            sent_bytes += more_bytes
            sent_events += more_events
        return sent_bytes, sent_events

    def _observe_ended(self, options: Any) -> list[Any]:
        observation = self._metrics.Observation
        return [
            observation(count, {"agent_stream.end_reason": reason})
            for reason, count in list(self.ended_runs.items())
        ]

    def _run_ended(self, run: RunTelemetry, events: int, reason: str) -> None:
        self._runs.pop(run.stream_id, None)
        self.stored_events += events  # after the pop: a collection meanwhile never counts twice
        self.ended_runs[reason] = self.ended_runs.get(reason, 0) + 1
        self._finished[run.stream_id] = run.span.get_span_context()
        while len(self._finished) > _FINISHED_KEPT:
            self._finished.popitem(last=False)

    # connections

    def connection_opened(
        self,
        stream_id: str,
        *,
        resumed: bool,
        cursor: int,
        progress: Callable[[], tuple[int, int]],
        replay_events: int = 0,
    ) -> ConnectionTelemetry | None:
        """A response started reading ``stream_id`` after ``cursor`` (``None`` when off).

        ``progress()`` tells the bytes and events it has written so far (read when metrics
        are collected and when it ends, never per write).
        """
        if not self.is_enabled:
            return None
        run = self._runs.get(stream_id)
        if resumed:
            self.resumes.add(1)
            self.replayed_events.record(replay_events)
        connection = ConnectionTelemetry(
            self,
            progress,
            run,
            {
                "agent_stream.stream_id": stream_id,
                "agent_stream.resumed": resumed,
                "agent_stream.cursor": cursor,
                "agent_stream.replayed_events": replay_events,
            },
        )
        self._live.add(connection)
        return connection

    def connection_reaped(self) -> None:
        """A reader made no progress for ``send_timeout_s`` and was cut off."""
        if self.is_enabled:
            self.reaped.add(1)

    # stores

    def store_call(self, operation: str) -> AbstractContextManager[None]:
        """Time a store call (``with telemetry.store_call("create"): ...``); count failures."""
        if not self.is_enabled:
            return contextlib.nullcontext()
        return _StoreCall(self, operation)

    # client reports

    def client_report(self, stream_id: str, *, reason: str, last_seq: int, attempts: int) -> None:
        """A client ended ``stream_id`` with a synthetic ``done``: count it, note it on the run."""
        if not self.is_enabled:
            return
        label = reason
        if reason not in self._report_reasons:
            if len(self._report_reasons) < MAX_REPORT_REASONS:
                self._report_reasons.add(reason)
            else:
                label = "other"
        self.client_reports.add(1, {"agent_stream.reason": label})
        attributes: dict[str, str | int] = {
            "agent_stream.reason": reason,
            "agent_stream.last_seq": last_seq,
            "agent_stream.attempts": attempts,
        }
        run = self._runs.get(stream_id)
        if run is not None:
            run.span.add_event("agent_stream.client_report", attributes)
            return
        links = []
        finished = self._finished.get(stream_id)
        if finished is not None:
            links.append(self._trace.Link(finished))
        span = self.tracer.start_span(
            "agent_stream.client_report",
            links=links,
            attributes={"agent_stream.stream_id": stream_id, **attributes},
        )
        span.end()


class _StoreCall:
    """One timed store call (a plain context manager: cheaper than a generator's)."""

    __slots__ = ("_operation", "_started", "_telemetry")

    def __init__(self, telemetry: Telemetry, operation: str) -> None:
        self._telemetry = telemetry
        self._operation = operation
        self._started = 0.0

    def __enter__(self) -> None:
        self._started = time.perf_counter()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object
    ) -> None:
        elapsed = time.perf_counter() - self._started
        telemetry = self._telemetry
        attributes = {"agent_stream.store.operation": self._operation}
        if exc_type is not None and issubclass(exc_type, Exception):
            telemetry.store_errors.add(1, {**attributes, "error.type": exc_type.__name__})
        telemetry.store_duration.record(elapsed, attributes)
