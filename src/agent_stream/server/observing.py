"""What a manager's telemetry and recorder learn from connections and client reports.

The small hooks between the server and :mod:`agent_stream.telemetry` /
:class:`~agent_stream.recording.JsonlRecorder` notes, kept here so the run loop and the
connection pump stay about streaming: a connection only counts the bytes it wrote
(``sent_bytes``) and its cursor moves; what it sent is read from those when needed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from ..events import JSONValue

if TYPE_CHECKING:
    from ..telemetry import ConnectionTelemetry
    from .connection import Connection
    from .manager import RunManager

__all__ = ["ConnectionObserver", "NoteRecorder", "observe_connection"]

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
