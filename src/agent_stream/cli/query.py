"""``agent-stream query "SQL" FILES…``: SQL over recordings, with DuckDB (``[query]`` extra).

The files (written by :class:`~agent_stream.recording.JsonlRecorder`) are loaded into an
in-memory DuckDB database with these views (times in milliseconds from the run's start
unless named ``*_at``, which are timestamps with time zone):

``events``
    ``stream_id, seq, type, t_ms, data`` (JSON: ``data->>'text'``), ``file``; one row per
    ``(stream_id, seq)`` even if files overlap.
``runs``
    ``stream_id, started_at, end_reason`` (``unfinished`` without a ``done``), ``duration_ms``
    (``t_ms`` of ``done``), ``model, events, tokens, time_to_first_event_ms,
    time_to_first_token_ms, tokens_per_s, tool_calls, errors, resumes, client_reports``.
``tool_calls``
    ``stream_id, tool_use_id, tool_name, start_ms, end_ms, latency_ms`` (the result's
    ``duration_ms`` when reported, else ``end_ms - start_ms``), ``status`` (``running`` if no
    result was recorded).
``connections``
    ``stream_id, at, resumed, cursor, duration_ms, bytes, end_reason``.
``client_reports``
    ``stream_id, at, reason, last_seq, attempts``.

Example: ``agent-stream query "SELECT tool_name, quantile_cont(latency_ms, 0.95) FROM
tool_calls GROUP BY ALL" runs*.jsonl``. ``--json`` prints a JSON array of row objects.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, TextIO

import msgspec

from .._extras import install_hint, missing_extra
from .incomplete import incomplete_note

if TYPE_CHECKING:
    import duckdb

__all__ = ["VIEWS_SQL", "add_arguments", "connect", "run"]

_TAIL_STEP = 1 << 16

_COLUMNS = {
    "kind": "VARCHAR",
    "stream_id": "VARCHAR",
    "seq": "BIGINT",
    "type": "VARCHAR",
    "data": "JSON",
    "t_ms": "DOUBLE",
    "at": "DOUBLE",
    "resumed": "BOOLEAN",
    "cursor": "BIGINT",
    "duration_ms": "DOUBLE",
    "bytes": "BIGINT",
    "end": "VARCHAR",
    "reason": "VARCHAR",
    "last_seq": "BIGINT",
    "attempts": "BIGINT",
}

VIEWS_SQL = """
CREATE VIEW events AS
SELECT stream_id, seq, any_value(type) AS type, min(t_ms) AS t_ms,
       any_value(data) AS data, min(filename) AS file
FROM lines WHERE kind IS NULL AND type IS NOT NULL GROUP BY stream_id, seq;

CREATE VIEW tool_calls AS
WITH uses AS (
    SELECT stream_id, data->>'tool_use_id' AS tool_use_id, data->>'tool_name' AS tool_name,
           t_ms AS start_ms FROM events WHERE type = 'tool_use'
), results AS (
    SELECT stream_id, data->>'tool_use_id' AS tool_use_id, data->>'tool_name' AS tool_name,
           t_ms AS end_ms, TRY_CAST(data->>'duration_ms' AS DOUBLE) AS reported_ms,
           coalesce(data->>'status', 'done') AS status
    FROM events WHERE type = 'tool_result'
)
SELECT coalesce(u.stream_id, r.stream_id) AS stream_id,
       coalesce(u.tool_use_id, r.tool_use_id) AS tool_use_id,
       coalesce(u.tool_name, r.tool_name) AS tool_name,
       coalesce(u.start_ms, r.end_ms) AS start_ms, r.end_ms,
       CASE WHEN r.end_ms IS NULL THEN NULL
            WHEN r.reported_ms > 0 THEN r.reported_ms
            ELSE r.end_ms - coalesce(u.start_ms, r.end_ms) END AS latency_ms,
       coalesce(r.status, 'running') AS status
FROM uses u FULL OUTER JOIN results r USING (stream_id, tool_use_id);

CREATE VIEW connections AS
SELECT stream_id, to_timestamp("at") AS "at", coalesce(resumed, false) AS resumed, cursor,
       duration_ms, bytes, "end" AS end_reason
FROM lines WHERE kind = 'connection';

CREATE VIEW client_reports AS
SELECT stream_id, to_timestamp("at") AS "at", reason, last_seq, attempts
FROM lines WHERE kind = 'client_report';

CREATE VIEW runs AS
WITH per_run AS (
    SELECT stream_id, count(*) AS events,
           count(*) FILTER (WHERE type = 'token') AS tokens,
           min(t_ms) AS time_to_first_event_ms,
           min(t_ms) FILTER (WHERE type = 'token') AS time_to_first_token_ms,
           max(t_ms) FILTER (WHERE type = 'token') AS last_token_ms,
           count(*) FILTER (WHERE type = 'error') AS errors,
           min(t_ms) FILTER (WHERE type = 'done') AS duration_ms,
           any_value(coalesce(data->>'reason', 'completed')) FILTER (WHERE type = 'done')
               AS done_reason,
           any_value(data->>'model') FILTER (WHERE type = 'done') AS model
    FROM events GROUP BY stream_id
), starts AS (
    SELECT stream_id, to_timestamp(min("at")) AS started_at
    FROM lines WHERE kind = 'run' GROUP BY stream_id
)
SELECT p.stream_id, s.started_at, coalesce(p.done_reason, 'unfinished') AS end_reason,
       p.duration_ms, p.model, p.events, p.tokens, p.time_to_first_event_ms,
       p.time_to_first_token_ms,
       CASE WHEN coalesce(p.duration_ms, p.last_token_ms) - p.time_to_first_token_ms >= 1
            THEN p.tokens * 1000.0
                 / (coalesce(p.duration_ms, p.last_token_ms) - p.time_to_first_token_ms)
       END AS tokens_per_s,
       (SELECT count(*) FROM tool_calls t WHERE t.stream_id = p.stream_id) AS tool_calls,
       p.errors,
       (SELECT count(*) FROM connections c WHERE c.stream_id = p.stream_id AND c.resumed)
           AS resumes,
       (SELECT count(*) FROM client_reports r WHERE r.stream_id = p.stream_id)
           AS client_reports
FROM per_run p LEFT JOIN starts s USING (stream_id);
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("sql", help="the query; views: runs, events, tool_calls, connections, …")
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE", help=".jsonl recordings")
    parser.add_argument("--json", action="store_true", help="print a JSON array of row objects")


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _whole_length(path: Path) -> int | None:
    """Where the last whole line ends when ``path``'s last line is incomplete, else ``None``.

    Incomplete: no line end and not JSON (a write in progress, or one a crash cut off).
    """
    with open(path, "rb") as f:
        size = f.seek(0, os.SEEK_END)
        if size == 0:
            return None
        f.seek(size - 1)
        if f.read(1) == b"\n":
            return None
        tail, end = b"", 0
        position = size
        while position > 0:
            step = min(_TAIL_STEP, position)
            position -= step
            f.seek(position)
            chunk = f.read(step)
            newline = chunk.rfind(b"\n")
            if newline != -1:
                tail, end = chunk[newline + 1 :] + tail, position + newline + 1
                break
            tail = chunk + tail
    try:
        msgspec.json.decode(tail)
    except msgspec.DecodeError:
        return end
    return None  # a whole line that only lacks its line end


def connect(
    files: Sequence[str | Path],
    *,
    on_incomplete: Callable[[str | os.PathLike[str], int, bytes], None] | None = None,
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with the recording views over ``files``.

    A file's incomplete last line (see :func:`~agent_stream.recording.read_records`) is left
    out and reported to ``on_incomplete(path, line_number, raw)``.
    """
    try:
        import duckdb
    except ImportError as exc:
        raise missing_extra("agent_stream.cli.query.connect", exc, "query") from exc

    con = duckdb.connect(":memory:")
    columns = ", ".join(f"{_quote(k)}: {_quote(v)}" for k, v in _COLUMNS.items())
    options = f"format = 'newline_delimited', columns = {{{columns}}}, filename = true"
    whole: list[Path] = []
    cut: list[tuple[Path, int]] = []
    for name in files:
        path = Path(name)
        end = _whole_length(path)
        if end is None:
            whole.append(path)
        else:
            cut.append((path, end))
    with tempfile.TemporaryDirectory(prefix="agent-stream-query-") as scratch:
        parts = []
        if whole:
            paths = ", ".join(_quote(str(p)) for p in whole)
            parts.append(f"SELECT * FROM read_json([{paths}], {options})")
        for number, (path, end) in enumerate(cut):
            copy = Path(scratch, f"{number}.jsonl")
            with open(path, "rb") as source, open(copy, "wb") as target:
                lines = _copy_lines(source, end, target)
                raw = source.read()  # the incomplete line
            if on_incomplete is not None:
                on_incomplete(path, lines + 1, raw)
            parts.append(
                f"SELECT * REPLACE ({_quote(str(path))} AS filename) "
                f"FROM read_json([{_quote(str(copy))}], {options})"
            )
        con.execute("CREATE TABLE lines AS " + " UNION ALL BY NAME ".join(parts))
    con.execute(VIEWS_SQL)
    return con


def _copy_lines(source: BinaryIO, end: int, target: BinaryIO) -> int:
    """Copy the first ``end`` bytes of ``source`` to ``target``; the line ends copied."""
    lines = 0
    while end > 0 and (chunk := source.read(min(_TAIL_STEP, end))):
        target.write(chunk)
        lines += chunk.count(b"\n")
        end -= len(chunk)
    return lines


def _plain(value: Any) -> Any:
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    return value


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out if out is not None else sys.stdout
    try:
        import duckdb
    except ImportError as exc:
        print(f"agent-stream query needs {exc.name}: {install_hint('query')}", file=sys.stderr)
        return 2

    missing = [str(f) for f in args.files if not Path(f).is_file()]
    if missing:
        print(f"agent-stream query: no such file: {', '.join(missing)}", file=sys.stderr)
        return 1
    try:
        con = connect(args.files, on_incomplete=incomplete_note("query"))
        result: duckdb.DuckDBPyRelation | None = con.sql(args.sql)
    except duckdb.Error as exc:
        print(f"agent-stream query: {exc}", file=sys.stderr)
        return 1
    if result is None:  # a statement without rows
        return 0
    columns = result.columns
    rows = result.fetchall()
    if args.json:
        objects = [{c: _plain(v) for c, v in zip(columns, row, strict=True)} for row in rows]
        out.write(msgspec.json.encode(objects).decode() + "\n")
        return 0
    out.write("\t".join(columns) + "\n")
    for row in rows:
        out.write("\t".join("" if v is None else str(_plain(v)) for v in row) + "\n")
    return 0
