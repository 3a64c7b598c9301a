"""Recordings: a ``.jsonl`` file of agent events, written without blocking, read and replayed.

Format (``agent-stream-recording`` version 1), one JSON object per line::

    {"kind":"meta","format":"agent-stream-recording","version":1,"started_at":"2026-...Z","pid":1}
    {"stream_id":"Xy...","seq":1,"type":"token","data":{"text":"Hi"},"t_ms":12.5}

``t_ms`` counts milliseconds from the start of *that stream's run*, so streams recorded
concurrently into one file interleave but stay separable by ``stream_id`` (and ordered by
``seq``). A meta line is written each time a file is opened (so appended sessions are marked).

:func:`read_recording` also reads the original agent-event-stream recorder's format (a
``{"session", "started_at", "t": 0}`` header, then ``{"t": <seconds>, "event", "data"}`` lines,
one session after the other), the ``{"id", "event", "data"}`` lines ``agent-stream tail
--jsonl`` prints, and bare ``{"type"|"event", "data"}`` lines.

Durability of :class:`JsonlRecorder`: ``record`` only queues a line; a writer thread appends
queued lines in batches and hands them to the OS at least every ``flush_interval_s`` (0.2 s) and
on :meth:`~JsonlRecorder.close`, which also fsyncs. A crashed process loses at most the lines of
the last interval; a crashed machine loses what the OS had not written. When the writer falls
``max_pending`` lines behind (a stalled disk), further lines are dropped and counted
(``dropped``) rather than slowing the event loop.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

import msgspec

from .emitter import parse_event_id
from .errors import ProtocolError, truncate
from .events import AgentEvent, parse_event

__all__ = [
    "FORMAT",
    "JsonlRecorder",
    "RecordedEvent",
    "group_streams",
    "read_recording",
    "replay",
]

FORMAT = "agent-stream-recording"
FORMAT_VERSION = 1

logger = logging.getLogger("agent_stream")

_ENCODER = msgspec.json.Encoder()
_DECODER = msgspec.json.Decoder()
# fields stay raw so an event's data is kept byte for byte (replay serves it unchanged)
_LINE_DECODER = msgspec.json.Decoder(dict[str, msgspec.Raw])
_ORIGINAL_STREAM = "original"
# a backlog this long is written at once instead of waiting for the flush interval
_EAGER_LINES = 4096


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
        return _line(self.stream_id, self.seq, self.type, self.data, self.t_ms)


def _line(stream_id: str, seq: int, event_type: str, data: bytes, t_ms: float) -> bytes:
    # ``data`` is already compact JSON from the run: splice it in instead of re-encoding it.
    return b'{"stream_id":%b,"seq":%d,"type":%b,"data":%b,"t_ms":%b}\n' % (
        _ENCODER.encode(stream_id),
        seq,
        _ENCODER.encode(event_type),
        data,
        _ENCODER.encode(round(t_ms, 3)),
    )


def _meta_line() -> bytes:
    meta = {
        "kind": "meta",
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "started_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "pid": os.getpid(),
    }
    return _ENCODER.encode(meta) + b"\n"


class JsonlRecorder:
    """Appends every event of every stream to one ``.jsonl`` file, off the event loop.

    Pass it as ``recorder=`` to a ``RunManager`` or ``AgentStreamResponse``; ``record`` is
    called in the loop and only queues the line. Close it (``await recorder.aclose()``,
    ``close()``, or ``with``/``async with``) when the app shuts down so the tail is written.

    Example::

        recorder = JsonlRecorder("runs.jsonl")
        manager = RunManager(recorder=recorder)
        ...
        await recorder.aclose()
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        flush_interval_s: float = 0.2,
        max_pending: int = 100_000,
        file: BinaryIO | None = None,
    ) -> None:
        """``file`` replaces the path's file (tests); it is written to, never closed here."""
        self.path = Path(path)
        self.flush_interval_s = flush_interval_s
        self.max_pending = max_pending
        self.dropped = 0
        self.written = 0
        self._queued = 0
        self._pending: deque[bytes] = deque()
        self._cond = threading.Condition()
        self._closing = False
        self._flush_requested = False
        self._error: BaseException | None = None
        self._fd: int | None = None
        self._file = file
        if file is None:
            # O_APPEND: several processes (uvicorn --workers) may append whole lines to one file
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._pending.append(_meta_line())
        self._queued = 1
        self._thread = threading.Thread(
            target=self._write_loop, name=f"agent-stream-recorder:{self.path.name}", daemon=True
        )
        self._thread.start()

    @property
    def is_closed(self) -> bool:
        return self._closing

    def record(
        self, stream_id: str, seq: int, event_type: str, data: bytes, elapsed_ms: float
    ) -> None:
        """Queue one event (never blocks, never raises for I/O; see the module's durability)."""
        line = _line(stream_id, seq, event_type, data, elapsed_ms)
        with self._cond:
            if self._closing:
                self.dropped += 1
                return
            if len(self._pending) >= self.max_pending:
                if self.dropped == 0:
                    logger.warning(
                        "recording %s: the writer is %d lines behind; dropping lines",
                        self.path,
                        len(self._pending),
                    )
                self.dropped += 1
                return
            self._pending.append(line)
            self._queued += 1
            if len(self._pending) in (1, _EAGER_LINES):
                self._cond.notify()

    __call__ = record

    def _write(self, chunk: bytes) -> None:
        if self._file is not None:
            self._file.write(chunk)
            self._file.flush()
            return
        assert self._fd is not None
        view = memoryview(chunk)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]

    def _write_loop(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closing:
                    self._cond.wait()
                if not self._pending and self._closing:
                    return
                batch = list(self._pending)
                self._pending.clear()
                self._flush_requested = False
            try:
                self._write(b"".join(batch))
            except OSError as exc:  # keep the app running; the loss is counted and logged
                logger.error("recording %s: write failed: %s", self.path, exc)
                with self._cond:
                    self._error = exc
                    self.dropped += len(batch)
            with self._cond:
                self.written += len(batch)
                self._cond.notify_all()
            # let lines accumulate so a busy stream costs one write per interval
            with self._cond:
                self._cond.wait_for(self._should_write_now, timeout=self.flush_interval_s)

    def _should_write_now(self) -> bool:
        return self._closing or self._flush_requested or len(self._pending) >= _EAGER_LINES

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Block until every line queued so far is handed to the OS; False on timeout."""
        with self._cond:
            target = self._queued
            self._flush_requested = True
            self._cond.notify_all()
            return self._cond.wait_for(
                lambda: self.written >= target or not self._thread.is_alive(), timeout=timeout_s
            )

    def close(self, timeout_s: float = 10.0) -> None:
        """Write what is queued, fsync and close the file. Later ``record`` calls are dropped."""
        with self._cond:
            if self._closing and not self._thread.is_alive():
                return
            self._closing = True
            self._cond.notify_all()
        self._thread.join(timeout_s)
        if self._fd is not None:
            try:
                os.fsync(self._fd)
            except OSError as exc:
                logger.warning("recording %s: fsync failed: %s", self.path, exc)
            os.close(self._fd)
            self._fd = None
        if self.dropped:
            logger.warning("recording %s: %d line(s) were dropped", self.path, self.dropped)

    async def aclose(self) -> None:
        """:meth:`close` in a worker thread, so the event loop keeps running meanwhile."""
        import anyio  # the reader and the sync recorder need the core only

        await anyio.to_thread.run_sync(self.close)

    def __enter__(self) -> JsonlRecorder:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    async def __aenter__(self) -> JsonlRecorder:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


# Reading


def _data_bytes(raw: bytes) -> bytes:
    if raw[:1] == b'"':
        # a recorder that stored the data line as a string; unwrap it if it holds JSON
        text = _DECODER.decode(raw)
        try:
            _DECODER.decode(text)
        except msgspec.DecodeError:
            return raw
        return str(text).encode()
    return raw


def _lines(source: str | os.PathLike[str] | Iterable[str | bytes]) -> Iterator[bytes]:
    if isinstance(source, str | os.PathLike):
        with open(source, "rb") as f:
            yield from f
    else:
        for line in source:
            yield line.encode() if isinstance(line, str) else line


def read_recording(
    source: str | os.PathLike[str] | Iterable[str | bytes],
) -> Iterator[RecordedEvent]:
    """The events of a recording file (or of its lines), in file order.

    Reads this module's format, the original agent-event-stream recorder's (each session
    becomes a stream named by its session id, seqs counted from 1, ``t`` seconds turned into
    ``t_ms``), ``agent-stream tail --jsonl`` lines and bare ``{"type"|"event", "data"}`` lines
    (stream ``"original"`` unless a session header names one). Raises
    :class:`~agent_stream.errors.ProtocolError` (``invalid-recording``) naming the line.
    """
    session: str | None = None
    seqs: dict[str, int] = {}
    for number, raw in enumerate(_lines(source), 1):
        if not raw.strip():
            continue
        try:
            fields = _LINE_DECODER.decode(raw)
        except msgspec.ValidationError:
            raise _bad(number, "a recording line is a JSON object", raw) from None
        except msgspec.DecodeError as exc:
            raise _bad(number, f"not JSON ({exc})", raw) from None
        record = {k: _DECODER.decode(v) for k, v in fields.items() if k != "data"}
        if record.get("kind") == "meta":
            continue
        if "session" in record and "event" not in record and "type" not in record:
            session = str(record["session"])  # the original recorder's session header
            seqs.pop(session, None)
            continue
        event_type = record.get("type", record.get("event"))
        if not isinstance(event_type, str):
            raise _bad(number, 'the line names no event type ("type" or "event")', raw)
        data = _data_bytes(bytes(fields["data"])) if "data" in fields else b"{}"
        stream_id = record.get("stream_id")
        seq = record.get("seq")
        event_id = record.get("id")
        if not isinstance(stream_id, str) and isinstance(event_id, str):
            parsed = parse_event_id(event_id)
            if parsed is not None:
                stream_id, seq = parsed
        if not isinstance(stream_id, str):
            stream_id = session if session is not None else _ORIGINAL_STREAM
        if not isinstance(seq, int) or isinstance(seq, bool):
            seq = seqs.get(stream_id, 0) + 1
        seqs[stream_id] = seq
        t_ms = record.get("t_ms")
        if not isinstance(t_ms, int | float) or isinstance(t_ms, bool):
            t = record.get("t")
            t_ms = float(t) * 1000.0 if isinstance(t, int | float) else 0.0
        yield RecordedEvent(stream_id, seq, event_type, data, float(t_ms))


def _bad(number: int, problem: str, raw: bytes) -> ProtocolError:
    return ProtocolError(
        f"recording line {number}: {problem}: {truncate(raw.decode(errors='replace'))}",
        code="invalid-recording",
        line=truncate(raw.decode(errors="replace")),
    )


def group_streams(events: Iterable[RecordedEvent]) -> dict[str, list[RecordedEvent]]:
    """The events of each stream, streams in order of first appearance, events by seq."""
    streams: dict[str, list[RecordedEvent]] = {}
    for event in events:
        streams.setdefault(event.stream_id, []).append(event)
    for stream in streams.values():
        stream.sort(key=lambda e: e.seq)
    return streams


async def replay(
    events: Iterable[RecordedEvent], *, speed: float = 1.0
) -> AsyncIterator[RecordedEvent]:
    """Yield ``events`` at their recorded times divided by ``speed`` (``0``: no waiting).

    Times are kept relative to the first event, against the monotonic clock, so a slow
    consumer catches up instead of drifting.
    """
    import anyio

    if speed < 0:
        raise ValueError(f"speed={speed}; use a positive factor, or 0 for no waiting")
    started: float | None = None
    first_ms = 0.0
    for event in events:
        if speed > 0:
            now = time.monotonic()
            if started is None:
                started, first_ms = now, event.t_ms
            due = started + (event.t_ms - first_ms) / 1000.0 / speed
            if due > now:
                await anyio.sleep(due - now)
        yield event
