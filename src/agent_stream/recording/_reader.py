"""Reading recordings: events (every supported format) and note lines; timed replay."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import Any

import msgspec

from ..emitter import parse_event_id
from ..errors import ProtocolError, truncate
from ._format import RecordedEvent, RecordedNote

_DECODER = msgspec.json.Decoder()
# fields stay raw so an event's data is kept byte for byte (replay serves it unchanged)
_LINE_DECODER = msgspec.json.Decoder(dict[str, msgspec.Raw])
_ORIGINAL_STREAM = "original"
_log = logging.getLogger("agent_stream.recording")

#: Called with the line number and the bytes of an incomplete last line that was skipped.
IncompleteLine = Callable[[int, bytes], None]


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
    *,
    on_incomplete: IncompleteLine | None = None,
) -> Iterator[RecordedEvent]:
    """The events of a recording file (or of its lines), in file order.

    Reads this module's format, the original agent-event-stream recorder's (each session
    becomes a stream named by its session id, seqs counted from 1, ``t`` seconds turned into
    ``t_ms``), ``agent-stream tail --jsonl`` lines and bare ``{"type"|"event", "data"}`` lines
    (stream ``"original"`` unless a session header names one). Note lines are skipped (see
    :func:`read_records`). Raises :class:`~agent_stream.errors.ProtocolError`
    (``invalid-recording``) naming the line.

    A last line that has no line end and is not JSON is a write still in progress (a live
    recording) or one cut off (a killed process, a full disk): it is skipped, never an error,
    and reported to ``on_incomplete(line_number, raw)`` (without one, logged as a warning on
    the ``agent_stream.recording`` logger). A malformed line anywhere else is an error.
    """
    for record in read_records(source, on_incomplete=on_incomplete):
        if isinstance(record, RecordedEvent):
            yield record


def read_records(
    source: str | os.PathLike[str] | Iterable[str | bytes],
    *,
    on_incomplete: IncompleteLine | None = None,
) -> Iterator[RecordedEvent | RecordedNote]:
    """Like :func:`read_recording`, with the note lines (runs, connections, client reports)."""
    session: str | None = None
    seqs: dict[str, int] = {}
    # in a file only the last line can lack its line end (lines given one by one never have to)
    from_file = isinstance(source, str | os.PathLike)
    for number, raw in enumerate(_lines(source), 1):
        if not raw.strip():
            continue
        try:
            fields = _LINE_DECODER.decode(raw)
        except msgspec.ValidationError:
            raise _bad(number, "a recording line is a JSON object", raw) from None
        except msgspec.DecodeError as exc:
            if from_file and not raw.endswith(b"\n"):
                _incomplete(number, raw, on_incomplete)
                return
            raise _bad(number, f"not JSON ({exc})", raw) from None
        record = {k: _DECODER.decode(v) for k, v in fields.items() if k != "data"}
        kind = record.get("kind")
        if kind is not None:
            note = _note(kind, record)
            if note is not None:
                yield note
            continue  # the meta header, or a note kind this reader does not know
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


def _incomplete(number: int, raw: bytes, on_incomplete: IncompleteLine | None) -> None:
    if on_incomplete is not None:
        on_incomplete(number, raw)
    else:
        _log.warning(
            "recording line %d is incomplete (a write in progress or cut off); skipped: %s",
            number,
            truncate(raw.decode(errors="replace")),
        )


def _note(kind: object, record: dict[str, Any]) -> RecordedNote | None:
    stream_id, at = record.get("stream_id"), record.get("at")
    if kind == "meta" or not isinstance(kind, str) or not isinstance(stream_id, str):
        return None
    if not isinstance(at, int | float) or isinstance(at, bool):
        at = 0.0
    rest = {k: v for k, v in record.items() if k not in ("kind", "stream_id", "at")}
    return RecordedNote(kind, stream_id, float(at), rest)


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
