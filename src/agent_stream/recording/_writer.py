"""``JsonlRecorder``: appends a server's events (and notes) to ``.jsonl`` files off the loop."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from ..errors import UsageError
from ..events import JSONValue
from ._format import NOTE_KINDS, event_line, meta_line, note_line

logger = logging.getLogger("agent_stream")

# a backlog this long is written at once instead of waiting for the flush interval
_EAGER_LINES = 4096


class JsonlRecorder:
    """Appends every event of every stream to ``.jsonl`` files, off the event loop.

    Make **one per app** and pass it as ``recorder=`` to the app's ``RunManager`` (a recorder
    per response would hold a file and a thread per request). ``record`` is called in the
    loop and only queues the line; a writer thread appends. Close it (``await
    recorder.aclose()``, ``close()``, or ``with``/``async with``) when the app shuts down so
    the tail is written.

    Rotation: with ``max_bytes`` and/or ``rotate_s`` the recorder writes segments named
    ``<stem>.<UTC time>.p<pid>.<n><suffix>`` next to ``path``
    (``runs.20261203T225500Z.p41.0001.jsonl``; names sort in the order written),
    starting a new one when the current one would pass ``max_bytes`` or is ``rotate_s`` old; a
    line is never split between files, a run's events may be. ``keep_files`` deletes this
    recorder's oldest segments beyond that many. Several processes can record to one
    ``path``: without rotation they append whole lines to the same file (``O_APPEND``), with
    it each writes its own segments.

    Example::

        recorder = JsonlRecorder("runs.jsonl", max_bytes=64 * 2**20, keep_files=20)
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
        max_bytes: int | None = None,
        rotate_s: float | None = None,
        keep_files: int | None = None,
        file: BinaryIO | None = None,
    ) -> None:
        """``file`` replaces the path's file (tests); it is written to, never closed here."""
        if (max_bytes is not None and max_bytes <= 0) or (rotate_s is not None and rotate_s <= 0):
            raise UsageError("max_bytes and rotate_s must be > 0", code="invalid-option")
        if keep_files is not None and keep_files < 1:
            raise UsageError("keep_files must be >= 1", code="invalid-option")
        self.base_path = Path(path)
        self.path = self.base_path
        """The file being written (a new segment after each rotation)."""
        self.files: list[Path] = []
        """The files this recorder wrote, oldest first (deleted ones removed)."""
        self.flush_interval_s = flush_interval_s
        self.max_pending = max_pending
        self.max_bytes = max_bytes
        self.rotate_s = rotate_s
        self.keep_files = keep_files
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
        self._size = 0
        self._segments = 0
        self._opened_at = time.monotonic()
        if file is None:
            self._open()
        self._pending.append(meta_line())
        self._queued = 1
        self._thread = threading.Thread(
            target=self._write_loop, name=f"agent-stream-recorder:{self.path.name}", daemon=True
        )
        self._thread.start()

    @property
    def is_closed(self) -> bool:
        return self._closing

    @property
    def is_rotating(self) -> bool:
        return self._file is None and (self.max_bytes is not None or self.rotate_s is not None)

    def _segment_path(self) -> Path:
        # names sort in the order written: time, then this process's segment count
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        base = self.base_path
        self._segments += 1
        name = f"{base.stem}.{stamp}.p{os.getpid()}.{self._segments:04d}{base.suffix}"
        return base.with_name(name)

    def _open(self) -> None:
        if self.is_rotating:
            self.path = self._segment_path()
        # O_APPEND: several processes (uvicorn --workers) may append whole lines to one file
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._size = 0
        self._opened_at = time.monotonic()
        self.files.append(self.path)

    def record(
        self, stream_id: str, seq: int, event_type: str, data: bytes, elapsed_ms: float
    ) -> None:
        """Queue one event (never blocks, never raises for I/O; see the module's durability)."""
        line = event_line(stream_id, seq, event_type, data, elapsed_ms)
        if seq == 1:
            # the run's wall-clock start, so connections and reports line up with its events
            line = note_line("run", stream_id, {}, at=time.time() - elapsed_ms / 1000.0) + line
        self._queue(line)

    __call__ = record

    def record_note(self, kind: str, stream_id: str, fields: Mapping[str, JSONValue]) -> None:
        """Queue a note line (``"connection"`` or ``"client_report"``), stamped with the time."""
        if kind not in NOTE_KINDS:
            raise UsageError(
                f"note kind {kind!r}; use one of {', '.join(NOTE_KINDS)}", code="invalid-option"
            )
        self._queue(note_line(kind, stream_id, fields))

    def _queue(self, line: bytes) -> None:
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

    def _write(self, chunk: bytes) -> None:
        if not chunk:
            return
        if self._file is not None:
            self._file.write(chunk)
            self._file.flush()
            return
        assert self._fd is not None
        view = memoryview(chunk)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        self._size += len(chunk)

    def _write_batch(self, batch: list[bytes]) -> None:
        if not self.is_rotating:
            self._write(b"".join(batch))
            return
        header = meta_line()
        if self.rotate_s is not None and time.monotonic() - self._opened_at >= self.rotate_s:
            self._rotate(header)
        limit = self.max_bytes
        start, size = 0, self._size
        for i, line in enumerate(batch):
            # a segment holds at least one line past its header, so a huge line still goes out
            if limit is not None and size > len(header) and size + len(line) > limit:
                self._write(b"".join(batch[start:i]))
                self._rotate(header)
                start, size = i, self._size
            size += len(line)
        self._write(b"".join(batch[start:]))

    def _rotate(self, header: bytes) -> None:
        self._close_fd()
        self._open()
        self._write(header)
        keep = self.keep_files
        while keep is not None and len(self.files) > keep:
            old = self.files.pop(0)
            try:
                old.unlink()
            except OSError as exc:
                logger.warning("recording %s: could not delete an old segment: %s", old, exc)

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
                self._write_batch(batch)
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

    def _close_fd(self) -> None:
        if self._fd is None:
            return
        try:
            os.fsync(self._fd)
        except OSError as exc:
            logger.warning("recording %s: fsync failed: %s", self.path, exc)
        os.close(self._fd)
        self._fd = None

    def close(self, timeout_s: float = 10.0) -> None:
        """Write what is queued, fsync and close the file. Later ``record`` calls are dropped."""
        with self._cond:
            if self._closing and not self._thread.is_alive():
                return
            self._closing = True
            self._cond.notify_all()
        self._thread.join(timeout_s)
        self._close_fd()
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
