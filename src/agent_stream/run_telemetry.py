"""A run's and a connection's telemetry (made by :class:`agent_stream.telemetry.Telemetry`).

:class:`RunTelemetry` is what a run tells about itself: it reads the run's counts when it needs
them and is called only for stored batches holding tool calls, errors or ``done``; a tool call's
span and latency go to the SDK when the call has ended, in groups (``_TOOL_GROUP``).
:class:`ConnectionTelemetry` is one response's span, made when the response ends.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, ClassVar

import msgspec

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.trace import Span

    from .telemetry import Telemetry

__all__ = ["ConnectionTelemetry", "RunTelemetry"]

_WATCHED = frozenset({"tool_use", "tool_result", "error", "done"})
# A tool call's span and latency are handed to the SDK when it ends, and then in groups: alone,
# each call's SDK work runs from caches that the server's own work in between has emptied
# (about three times its warm cost; bench/RESULTS.md "Telemetry").
_TOOL_GROUP = 16  # ended tool calls handed to the SDK together, ...
_TOOL_WAIT_NS = 5_000_000_000  # ... or with the next tool call, error or done this long after


def _no_progress() -> tuple[int, int]:
    return 0, 0


_NO_PROGRESS = _no_progress


class _Fields(msgspec.Struct):
    """The fields telemetry reads of a tool call, error or done (a tool's input and output
    are skipped by the decoder, never built)."""

    tool_name: str = ""
    tool_use_id: str = ""
    status: str = ""
    duration_ms: int | float | None = None
    error_type: str = ""
    message: str = ""
    model: str = ""


_DECODE_FIELDS = msgspec.json.Decoder(_Fields).decode


def _fields(data: bytes) -> _Fields:
    try:
        return _DECODE_FIELDS(data)
    except msgspec.DecodeError:  # stored events are valid; this is only a safety net
        return _Fields()


class RunTelemetry:
    """The span and figures of one run; the run calls :meth:`stored` and :meth:`finished`."""

    __slots__ = (
        "_attributes",
        "_context",
        "_ended",
        "_first_event_s",
        "_first_token_s",
        "_hand_over_ns",
        "_span",
        "_started",
        "_started_ns",
        "_tools",
        "model",
        "progress",
        "stream_id",
        "telemetry",
        "tokens",
        "waiting",
    )

    #: the event types :meth:`stored` is given with their data (the run counts the rest)
    noted_types: ClassVar[frozenset[str]] = _WATCHED

    def __init__(
        self, telemetry: Telemetry, stream_id: str, attributes: dict[str, str | int | list[str]]
    ) -> None:
        self.telemetry = telemetry
        self.stream_id = stream_id
        self._attributes = attributes  # the run span's, until it is made
        self._span: Span | None = None
        self._context: Context | None = None
        self._started_ns = time.time_ns()
        self.tokens = 0
        self.model = ""
        #: the run's events stored so far and how many were tokens (see :meth:`follow`)
        self.progress: Callable[[], tuple[int, int]] = _NO_PROGRESS
        #: True until the run's first event and first token were seen (:meth:`stored`)
        self.waiting = True
        self._started = time.monotonic()
        self._first_event_s: float | None = None
        self._first_token_s: float | None = None
        self._tools: dict[str, tuple[str, int]] = {}  # open calls: id -> (name, start ns)
        # ended calls not handed to the SDK yet: (name, id, start ns or None, end ns, failed,
        # latency in seconds or None)
        self._ended: list[tuple[str, str, int | None, int, bool, float | None]] = []
        self._hand_over_ns = 0

    @property
    def span(self) -> Span:
        """The run's span: made when first needed (a tool call or connection handed over, an
        error, a client report, the run's end), with the run's start time."""
        return self._span if self._span is not None else self._open()

    @property
    def context(self) -> Context:
        """The run's span as the parent of its tool and connection spans."""
        if self._context is None:
            self._open()
        assert self._context is not None
        return self._context

    def _open(self, more: dict[str, str | int | list[str]] | None = None) -> Span:
        telemetry = self.telemetry
        trace = telemetry._trace
        span = telemetry.tracer.start_span(
            f"invoke_agent {telemetry.agent_name}",
            kind=trace.SpanKind.SERVER,
            attributes={**self._attributes, **more} if more else self._attributes,
            start_time=self._started_ns,
        )
        self._span, self._context = span, trace.set_span_in_context(span)
        return span

    def follow(self, progress: Callable[[], tuple[int, int]]) -> None:
        """``progress()`` tells the run's events stored so far and how many were tokens (the
        run counts them; read when :meth:`stored` is called, when metrics are collected and
        at the end, never per event)."""
        self.progress = progress

    def stored(self, noted: Sequence[tuple[str, bytes]]) -> None:
        """The run stored a batch holding ``noted``: its events of :attr:`noted_types`, as
        ``(type, JSON data)``. Called for batches that hold some, and for every batch while
        :attr:`waiting` (its time to first event and first token); never for the others."""
        if self.waiting:
            events, tokens = self.progress()
            telemetry = self.telemetry
            if self._first_event_s is None and events:
                self._first_event_s = time.monotonic() - self._started
                telemetry.time_to_first_event.record(self._first_event_s)
            if tokens:
                self._first_token_s = time.monotonic() - self._started
                telemetry.time_to_first_token.record(self._first_token_s)
                self.waiting = False
        if noted:
            now = time.time_ns()
            for event_type, data in noted:
                self._special(event_type, _fields(data), now)
            ended = self._ended
            if ended and (len(ended) >= _TOOL_GROUP or now >= self._hand_over_ns):
                self._hand_over()

    def _special(self, event_type: str, data: _Fields, now: int) -> None:
        if event_type == "tool_use":
            self._tools[data.tool_use_id] = (data.tool_name, now)
        elif event_type == "tool_result":
            self._tool_ended(data, now)
        elif event_type == "error":
            error_type = data.error_type or "error"
            self.span.set_attribute("error.type", error_type)
            self.span.add_event(
                "agent_stream.error",
                {"error.type": error_type, "agent_stream.message": data.message},
            )
        elif data.model:  # done
            self.model = data.model

    def _tool_ended(self, data: _Fields, now: int) -> None:
        call_id = data.tool_use_id
        started = self._tools.pop(call_id, None)
        reported = data.duration_ms
        if started is not None:
            name, began = started
            measured: float | None = max(now - began, 0) / 1e9
        else:
            name, began, measured = data.tool_name, None, None
        seconds = reported / 1000.0 if reported is not None and reported > 0 else measured
        if not self._ended:
            self._hand_over_ns = now + _TOOL_WAIT_NS
        self._ended.append((name, call_id, began, now, data.status == "error", seconds))

    def _hand_over(self, end_reason: str = "") -> None:
        """Give the SDK the ended tool calls (and, with ``end_reason``, those still open)."""
        telemetry, context = self.telemetry, self.context
        start_span, record = telemetry.tracer.start_span, telemetry.tool_duration.record
        ended, self._ended = self._ended, []
        if end_reason:
            now = time.time_ns()
            ended += [(n, i, began, now, False, None) for i, (n, began) in self._tools.items()]
            self._tools.clear()
        for name, call_id, began, end_ns, failed, seconds in ended:
            if began is not None:
                attributes = {
                    "gen_ai.operation.name": "execute_tool",
                    "gen_ai.tool.name": name,
                    "gen_ai.tool.call.id": call_id,
                }
                if failed:
                    attributes["error.type"] = "tool_error"
                elif seconds is None:  # a call the run never finished
                    attributes["agent_stream.end_reason"] = end_reason
                span = start_span(
                    f"execute_tool {name}", context, attributes=attributes, start_time=began
                )
                if failed:
                    span.set_status(telemetry._trace.StatusCode.ERROR)
                span.end(end_ns)
            if seconds is not None:
                record(seconds, {"gen_ai.tool.name": name})

    def finished(self, reason: str) -> None:
        """The run ended with ``done{reason}`` (``completed``, ``error``, ``cancelled``, …)."""
        telemetry = self.telemetry
        events, self.tokens = self.progress()
        if self._ended or self._tools:
            self._hand_over(reason)
        if self._first_token_s is not None:
            span_s = (time.monotonic() - self._started) - self._first_token_s
            if span_s >= 0.001:
                telemetry.tokens_per_second.record(self.tokens / span_s)
        attributes: dict[str, str | int | list[str]] = {
            "agent_stream.end_reason": reason,
            "gen_ai.response.finish_reasons": [reason],
            "agent_stream.tokens": self.tokens,
        }
        if self.model:
            attributes["gen_ai.request.model"] = attributes["gen_ai.response.model"] = self.model
        if self._span is None:  # nothing needed it yet: made now, its attributes in one call
            span = self._open(attributes)
        else:
            span = self._span
            span.set_attributes(attributes)
        if reason == "error":
            span.set_status(telemetry._trace.StatusCode.ERROR)
        span.end()
        telemetry._run_ended(self, events, reason)


class ConnectionTelemetry:
    """One response's span; the connection calls :meth:`ended` once.

    The span is made when the response ends, with its start time and all its attributes in
    one call (an exporter sees the same span; a span processor's ``on_start`` sees it then).
    """

    __slots__ = ("_attributes", "_started_ns", "progress", "run", "telemetry")

    def __init__(
        self,
        telemetry: Telemetry,
        progress: Callable[[], tuple[int, int]],
        run: RunTelemetry | None,
        attributes: dict[str, str | int | bool],
    ) -> None:
        self.telemetry = telemetry
        self.progress = progress
        self.run = run  # its span is the parent when the run is in this process
        self._attributes = attributes
        self._started_ns = time.time_ns()

    def ended(self, reason: str) -> None:
        """The response ended (``done``, ``disconnected``, ``stalled``, ``shutdown``, ``lost``)."""
        sent_bytes, sent_events = self.progress()
        telemetry = self.telemetry
        telemetry._live.discard(self)
        telemetry._ended_bytes += sent_bytes
        telemetry._ended_events += sent_events
        attributes = self._attributes
        attributes["agent_stream.end_reason"] = reason
        attributes["agent_stream.bytes_sent"] = sent_bytes
        attributes["agent_stream.events_sent"] = sent_events
        telemetry.tracer.start_span(
            "agent_stream.connection",
            self.run.context if self.run is not None else None,
            attributes=attributes,
            start_time=self._started_ns,
        ).end()
