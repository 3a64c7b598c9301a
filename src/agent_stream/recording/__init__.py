"""Recordings: ``.jsonl`` files of agent events, written without blocking, read and replayed.

Format (``agent-stream-recording`` version 1), one JSON object per line::

    {"kind":"meta","format":"agent-stream-recording","version":1,"started_at":"2026-...Z","pid":1}
    {"kind":"run","stream_id":"Xy...","at":1764802500.25}
    {"stream_id":"Xy...","seq":1,"type":"token","data":{"text":"Hi"},"t_ms":12.5}
    {"kind":"connection","stream_id":"Xy...","at":...,"resumed":true,"cursor":12,...}
    {"kind":"client_report","stream_id":"Xy...","at":...,"reason":"gave-up","last_seq":40,...}

``t_ms`` counts milliseconds from the start of *that stream's run*, so streams recorded
concurrently into one file interleave but stay separable by ``stream_id`` (and ordered by
``seq``). Lines with a ``kind`` are notes, not events: ``meta`` opens each file (so appended
sessions are marked), ``run`` gives a run's wall-clock start (``at``, Unix seconds), and
``connection`` / ``client_report`` say how responses and clients fared (see
:class:`RecordedNote`). Readers skip kinds they do not know.

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

from ._format import FORMAT, FORMAT_VERSION, NOTE_KINDS, RecordedEvent, RecordedNote
from ._reader import group_streams, read_recording, read_records, replay
from ._writer import JsonlRecorder

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "NOTE_KINDS",
    "JsonlRecorder",
    "RecordedEvent",
    "RecordedNote",
    "group_streams",
    "read_recording",
    "read_records",
    "replay",
]
