"""The recording format: one JSON object per line (see :mod:`agent_stream.recording`)."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import msgspec

from ..events import AgentEvent, JSONValue, parse_event

FORMAT = "agent-stream-recording"
FORMAT_VERSION = 1

NOTE_KINDS = ("run", "connection", "client_report")
"""Kinds of note line a recording holds besides events (and the ``meta`` header)."""

_ENCODER = msgspec.json.Encoder()


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    """One recorded event: which stream, its seq, type, compact JSON data and timing."""

    stream_id: str
    seq: int
    type: str
    data: bytes
    t_ms: float
    """Milliseconds from the start of the stream's run."""

    def event(self) -> AgentEvent:
        """The typed event (raises like :func:`~agent_stream.events.parse_event`)."""
        return parse_event(self.type, self.data)

    def to_line(self) -> bytes:
        """This event as one line of the recording format (with the newline)."""
        return event_line(self.stream_id, self.seq, self.type, self.data, self.t_ms)


@dataclass(frozen=True, slots=True)
class RecordedNote:
    """A line about a stream that is not one of its events.

    ``kind`` is ``"run"`` (the run started, at ``at``), ``"connection"`` (a response that read
    the stream ended: ``resumed``, ``cursor``, ``duration_ms``, ``bytes``, ``end``) or
    ``"client_report"`` (a client ended the stream with a synthetic ``done``: ``reason``,
    ``last_seq``, ``attempts``). ``at`` is Unix time in seconds.
    """

    kind: str
    stream_id: str
    at: float
    fields: Mapping[str, JSONValue]


def event_line(stream_id: str, seq: int, event_type: str, data: bytes, t_ms: float) -> bytes:
    # ``data`` is already compact JSON from the run: splice it in instead of re-encoding it.
    return b'{"stream_id":%b,"seq":%d,"type":%b,"data":%b,"t_ms":%b}\n' % (
        _ENCODER.encode(stream_id),
        seq,
        _ENCODER.encode(event_type),
        data,
        _ENCODER.encode(round(t_ms, 3)),
    )


def note_line(
    kind: str, stream_id: str, fields: Mapping[str, JSONValue], *, at: float | None = None
) -> bytes:
    """A note line (``kind`` one of :data:`NOTE_KINDS`), stamped ``at`` (default: now)."""
    record: dict[str, JSONValue] = {
        "kind": kind,
        "stream_id": stream_id,
        "at": round(time.time() if at is None else at, 6),
    }
    record.update({k: v for k, v in fields.items() if k not in record})
    return _ENCODER.encode(record) + b"\n"


def meta_line() -> bytes:
    meta = {
        "kind": "meta",
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "started_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "pid": os.getpid(),
    }
    return _ENCODER.encode(meta) + b"\n"
