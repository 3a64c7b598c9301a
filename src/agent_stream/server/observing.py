"""What a manager's telemetry and recorder learn from connections and client reports.

The small hooks between the server and :mod:`agent_stream.telemetry` /
:class:`~agent_stream.recording.JsonlRecorder` notes, kept here so the run loop and the
connection pump stay about streaming: a connection only counts the bytes it wrote
(``sent_bytes``) and its cursor moves; what it sent is read from those when needed.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from ..errors import UsageError, truncate
from ..events import JSONValue

if TYPE_CHECKING:
    from ..telemetry import ConnectionTelemetry
    from .connection import Connection
    from .manager import RunManager

__all__ = [
    "ClientReport",
    "ConnectionObserver",
    "NoteRecorder",
    "note_client_report",
    "observe_connection",
    "parse_client_report",
]

logger = logging.getLogger("agent_stream")


@runtime_checkable
class NoteRecorder(Protocol):
    """A recorder that also takes note lines (``JsonlRecorder``)."""

    def record_note(self, kind: str, stream_id: str, fields: Mapping[str, JSONValue]) -> None: ...


class ConnectionObserver:
    """Notes one response's end in the telemetry and the recording."""

    __slots__ = ("_started", "connection", "cursor", "manager", "telemetry")

    def __init__(self, manager: RunManager, connection: Connection) -> None:
        self.manager = manager
        self.connection = connection
        self.cursor = connection.cursor
        self._started = time.monotonic()
        self.telemetry: ConnectionTelemetry | None = None
        telemetry = manager.telemetry
        if telemetry is not None:
            run = manager.runs.get(connection.stream_id)
            resumed = connection.resumed
            replay = run.seq - self.cursor if (resumed and run is not None) else 0
            self.telemetry = telemetry.connection_opened(
                connection.stream_id,
                resumed=resumed,
                cursor=self.cursor,
                progress=self.progress,
                replay_events=max(replay, 0),
            )

    def progress(self) -> tuple[int, int]:
        """Bytes and events written so far."""
        connection = self.connection
        return connection.sent_bytes, connection.cursor - self.cursor

    def ended(self, reason: str) -> None:
        duration_ms = (time.monotonic() - self._started) * 1000.0
        if self.telemetry is not None:
            self.telemetry.ended(reason)
        recorder = self.manager.note_recorder
        if recorder is not None:
            sent_bytes, events = self.progress()
            recorder.record_note(
                "connection",
                self.connection.stream_id,
                {
                    "resumed": self.connection.resumed,
                    "cursor": self.cursor,
                    "duration_ms": round(duration_ms, 3),
                    "bytes": sent_bytes,
                    "events": events,
                    "end": reason,
                },
            )


def observe_connection(manager: RunManager, connection: Connection) -> ConnectionObserver | None:
    """An observer of ``connection`` from its start; None when nobody is listening."""
    if manager.telemetry is None and manager.note_recorder is None:
        return None
    return ConnectionObserver(manager, connection)


MAX_REPORT_BYTES = 1024
_REASON_CHARS = 64
# an error code as both reference clients send it ("connection-lost", "http-status", …): it goes
# into logs, spans and a metric's attribute, so nothing that could forge a log line
_REASON = re.compile(rf"[A-Za-z0-9][A-Za-z0-9._:-]{{0,{_REASON_CHARS - 1}}}", re.ASCII)


@dataclass(frozen=True, slots=True)
class ClientReport:
    """What a client saw: why it ended the stream, the last seq it had, attempts made."""

    reason: str
    last_seq: int
    attempts: int


def parse_client_report(body: object) -> ClientReport:
    """A report from a decoded JSON body; UsageError ``invalid-request`` naming the field."""
    if not isinstance(body, dict):
        raise UsageError(
            'a client report is a JSON object: {"reason", "last_seq", "attempts"}',
            code="invalid-request",
        )
    reason, last_seq, attempts = (
        body.get("reason"),
        body.get("last_seq", 0),
        body.get("attempts", 0),
    )
    if not isinstance(reason, str) or _REASON.fullmatch(reason) is None:
        raise UsageError(
            f"report field reason={truncate(reason, 40)} must be an error code: 1 to "
            f"{_REASON_CHARS} letters, digits and '.', '_', ':', '-' (no spaces or control "
            "characters)",
            code="invalid-request",
        )
    # last_seq -1: the client had no event yet
    for name, value, low in (("last_seq", last_seq, -1), ("attempts", attempts, 0)):
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value < 2**53:
            raise UsageError(
                f"report field {name}={truncate(value, 40)} must be an integer >= {low}",
                code="invalid-request",
            )
    return ClientReport(reason, last_seq, attempts)


def note_client_report(manager: RunManager, stream_id: str, report: ClientReport) -> None:
    """Count, log and record a client report (the owner was checked)."""
    manager.client_reports += 1
    logger.warning(
        "stream %s: a client ended it with a synthetic done (reason %s, last seq %d, %d attempts)",
        stream_id,
        report.reason,
        report.last_seq,
        report.attempts,
    )
    if manager.telemetry is not None:
        manager.telemetry.client_report(
            stream_id, reason=report.reason, last_seq=report.last_seq, attempts=report.attempts
        )
    if manager.note_recorder is not None:
        manager.note_recorder.record_note(
            "client_report",
            stream_id,
            {"reason": report.reason, "last_seq": report.last_seq, "attempts": report.attempts},
        )
