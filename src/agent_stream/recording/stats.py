"""Figures from recordings: per-run summaries and the overall statistics ``agent-stream stats``
prints (and ``agent-stream report`` draws).

Definitions (all times from the server's view, in the recording's ``t_ms``):

- *time to first event* / *time to first token*: ``t_ms`` of the run's first event / first
  ``token`` (``t_ms`` counts from the run's start);
- *tokens per second*: token events from the first token to the run's end, divided by that
  span (``None`` when it is under a millisecond, e.g. a run that sent every token at once);
- *tool latency*: the ``tool_result``'s ``duration_ms`` when the agent reports one, else the
  time between the ``tool_use`` and its ``tool_result``; a call with no result has none;
- *end reason*: the ``done`` event's ``reason`` (absent means ``completed``); a run whose
  ``done`` is not in the files is ``unfinished``;
- *resumes*: ``connection`` notes with ``resumed: true``; *client reports*: ``client_report``
  notes (a client ended the stream with a synthetic ``done``).

Percentiles interpolate linearly between the closest ranks (as ``numpy.percentile`` and
DuckDB's ``quantile_cont`` do).
"""

from __future__ import annotations

import functools
import math
import os
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import msgspec

from ..events import JSONValue
from ._format import RecordedEvent, RecordedNote
from ._reader import read_records

__all__ = [
    "RecordingStats",
    "RunSummary",
    "ToolCall",
    "load_runs",
    "percentile",
    "recording_stats",
]

_DECODE = msgspec.json.Decoder().decode


@dataclass(slots=True)
class ToolCall:
    """One tool call of a run: when it started and ended (``t_ms``), how long it took."""

    tool_use_id: str
    tool_name: str
    start_ms: float
    end_ms: float | None = None
    latency_ms: float | None = None
    status: str = "running"


@dataclass(slots=True)
class RunSummary:
    """What one run's recorded events and notes say about it."""

    stream_id: str
    started_at: float | None = None
    """Unix time of the run's start (from its ``run`` note), if recorded."""
    end_reason: str = "unfinished"
    end_ms: float | None = None
    model: str = ""
    events: int = 0
    first_event_ms: float | None = None
    first_token_ms: float | None = None
    last_token_ms: float | None = None
    tokens: int = 0
    token_times_ms: list[float] = field(default_factory=list)
    turns: list[tuple[float, int]] = field(default_factory=list)
    tool_calls: list[ToolCall] = field(default_factory=list)
    errors: list[tuple[float, str, str]] = field(default_factory=list)
    """``(t_ms, error_type, message)`` of each ``error`` event."""
    connections: list[Mapping[str, JSONValue]] = field(default_factory=list)
    client_reports: list[Mapping[str, JSONValue]] = field(default_factory=list)
    _seen: set[int] = field(default_factory=set, repr=False)

    @property
    def resumes(self) -> int:
        return sum(1 for c in self.connections if c.get("resumed") is True)

    @property
    def tokens_per_s(self) -> float | None:
        if self.first_token_ms is None:
            return None
        end = self.end_ms if self.end_ms is not None else self.last_token_ms
        span_ms = (end or 0.0) - self.first_token_ms
        return self.tokens / (span_ms / 1000.0) if span_ms >= 1.0 else None

    def note_ms(self, note: Mapping[str, JSONValue]) -> float | None:
        """A note's time on this run's ``t_ms`` axis (needs the run's ``run`` note)."""
        at = note.get("at")
        if self.started_at is None or not isinstance(at, int | float):
            return None
        return (float(at) - self.started_at) * 1000.0

    def _add_event(self, event: RecordedEvent) -> None:
        if event.seq in self._seen:  # the same file given twice, or overlapping segments
            return
        self._seen.add(event.seq)
        self.events += 1
        t = event.t_ms
        if self.first_event_ms is None or t < self.first_event_ms:
            self.first_event_ms = t
        kind = event.type
        if kind == "token":
            self.tokens += 1
            self.token_times_ms.append(t)
            if self.first_token_ms is None or t < self.first_token_ms:
                self.first_token_ms = t
            if self.last_token_ms is None or t > self.last_token_ms:
                self.last_token_ms = t
            return
        if kind not in ("tool_use", "tool_result", "turn", "error", "done"):
            return
        data = _object(event.data)
        if kind == "tool_use":
            use_id = str(data.get("tool_use_id", ""))
            call = next((c for c in self.tool_calls if c.tool_use_id == use_id), None)
            if call is not None and call.start_ms == call.end_ms:  # its result came first
                call.start_ms = t
                if call.latency_ms == 0.0 and call.end_ms is not None:
                    call.latency_ms = call.end_ms - t
            else:
                self.tool_calls.append(ToolCall(use_id, str(data.get("tool_name", "")), t))
        elif kind == "tool_result":
            self._end_tool(data, t)
        elif kind == "turn":
            number = data.get("turn_number")
            self.turns.append((t, number if isinstance(number, int) else len(self.turns) + 1))
        elif kind == "error":
            self.errors.append((t, str(data.get("error_type", "")), str(data.get("message", ""))))
        else:
            reason = data.get("reason")
            self.end_reason = reason if isinstance(reason, str) else "completed"
            self.end_ms = t
            model = data.get("model")
            if isinstance(model, str):
                self.model = model

    def _end_tool(self, data: Mapping[str, JSONValue], t: float) -> None:
        use_id = str(data.get("tool_use_id", ""))
        call = next(
            (c for c in reversed(self.tool_calls) if c.tool_use_id == use_id and c.end_ms is None),
            None,
        )
        if call is None:  # a result whose tool_use is not recorded
            call = ToolCall(use_id, str(data.get("tool_name", "")), t)
            self.tool_calls.append(call)
        call.end_ms = t
        reported = data.get("duration_ms")
        if isinstance(reported, int | float) and not isinstance(reported, bool) and reported > 0:
            call.latency_ms = float(reported)
        else:
            call.latency_ms = t - call.start_ms
        status = data.get("status")
        call.status = status if isinstance(status, str) else "done"


def _object(data: bytes) -> dict[str, JSONValue]:
    try:
        value = _DECODE(data)
    except msgspec.DecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def load_runs(
    files: Iterable[str | os.PathLike[str]],
    *,
    on_incomplete: Callable[[str | os.PathLike[str], int, bytes], None] | None = None,
) -> list[RunSummary]:
    """One summary per stream found in ``files`` (in order of first appearance).

    A file's incomplete last line (a write in progress or cut off) is skipped and reported to
    ``on_incomplete(path, line_number, raw)``, as :func:`~agent_stream.recording.read_records`
    does.
    """
    runs: dict[str, RunSummary] = {}
    for path in files:
        tail = None if on_incomplete is None else functools.partial(on_incomplete, path)
        for record in read_records(path, on_incomplete=tail):
            run = runs.get(record.stream_id)
            if run is None:
                run = runs[record.stream_id] = RunSummary(record.stream_id)
            if isinstance(record, RecordedEvent):
                run._add_event(record)
            else:
                _add_note(run, record)
    for run in runs.values():
        run.tool_calls.sort(key=lambda c: c.start_ms)
        run.token_times_ms.sort()
        run.turns.sort()
    return list(runs.values())


def _add_note(run: RunSummary, note: RecordedNote) -> None:
    fields = {**note.fields, "at": note.at}
    if note.kind == "run":
        run.started_at = note.at
    elif note.kind == "connection":
        run.connections.append(fields)
    elif note.kind == "client_report":
        run.client_reports.append(fields)


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100) of ``values``, interpolated linearly; None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _spread(values: Sequence[float]) -> dict[str, float | int | None]:
    return {
        "count": len(values),
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "p99": percentile(values, 99),
        "max": max(values) if values else None,
    }


@dataclass(frozen=True, slots=True)
class RecordingStats:
    """Overall figures of a set of runs (``as_dict()`` is what ``stats --json`` prints)."""

    runs: int
    runs_by_reason: dict[str, int]
    events: int
    tokens: int
    time_to_first_event_ms: dict[str, float | int | None]
    time_to_first_token_ms: dict[str, float | int | None]
    tokens_per_s: dict[str, float | int | None]
    tool_latency_ms: dict[str, dict[str, float | int | None]]
    """Per tool name: count, p50/p95/p99/max latency and ``errors`` (status ``error``)."""
    tool_calls: int
    resumes: int
    runs_resumed: int
    client_reports: int
    client_reports_by_reason: dict[str, int]
    errors: int

    def as_dict(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in self.__slots__}


def recording_stats(runs: Sequence[RunSummary]) -> RecordingStats:
    """The overall figures of ``runs`` (see the module's definitions)."""
    by_tool: dict[str, list[float]] = {}
    tool_errors: Counter[str] = Counter()
    for run in runs:
        for call in run.tool_calls:
            if call.latency_ms is not None:
                by_tool.setdefault(call.tool_name, []).append(call.latency_ms)
            if call.status == "error":
                tool_errors[call.tool_name] += 1
    tools = {
        name: {**_spread(values), "errors": tool_errors[name]}
        for name, values in sorted(by_tool.items())
    }
    reports = Counter(str(r.get("reason", "")) for run in runs for r in run.client_reports)
    return RecordingStats(
        runs=len(runs),
        runs_by_reason=dict(Counter(run.end_reason for run in runs).most_common()),
        events=sum(run.events for run in runs),
        tokens=sum(run.tokens for run in runs),
        time_to_first_event_ms=_spread(
            [r.first_event_ms for r in runs if r.first_event_ms is not None]
        ),
        time_to_first_token_ms=_spread(
            [r.first_token_ms for r in runs if r.first_token_ms is not None]
        ),
        tokens_per_s=_spread([t for r in runs if (t := r.tokens_per_s) is not None]),
        tool_latency_ms=tools,
        tool_calls=sum(len(run.tool_calls) for run in runs),
        resumes=sum(run.resumes for run in runs),
        runs_resumed=sum(1 for run in runs if run.resumes),
        client_reports=sum(reports.values()),
        client_reports_by_reason=dict(reports.most_common()),
        errors=sum(len(run.errors) for run in runs),
    )
