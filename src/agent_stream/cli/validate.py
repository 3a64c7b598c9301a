"""``agent-stream validate FILE``: check a recording (.jsonl) or a captured stream (.sse).

Each event is checked against its schema (:func:`agent_stream.events.parse_event`) and the
stream against the protocol's rules (the docs' protocol page; spec/PROTOCOL.md in the
repository). Every problem is printed as ``FILE:LINE: RULE: message``; the exit status is 1
when there is any, 0 otherwise.

Rules: ``sse-syntax``, ``json`` (a .jsonl line is not a JSON object), ``schema``,
``data-one-line``, ``id-missing``, ``id-format``, ``stream-id`` (one stream per file),
``priming-first``, ``seq-increasing``, ``seq-gap``, ``reconnect-id`` (``reconnect`` carries no
id), ``done-missing``, ``done-once``, ``done-last``, ``error-before-done`` (a ``done`` with
reason ``error`` follows an ``error`` event).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import msgspec

from ..emitter import parse_event_id
from ..errors import ProtocolError
from ..events import Done, Start, parse_event
from ..sse import SSEDecoder
from . import help_text

__all__ = ["Frame", "Problem", "add_arguments", "check_frames", "main", "read_frames", "run"]


@dataclass(frozen=True, slots=True)
class Frame:
    """One event as found in a file: where it starts and what it says."""

    line: int
    event: str
    data: str
    id: str | None  # the block's own id (None when it has none)
    data_lines: int = 1
    stream: str = ""  # which stream of a recording ("" for a capture: one stream)


@dataclass(frozen=True, slots=True)
class Problem:
    line: int
    rule: str
    message: str


def read_frames(lines: Iterable[str], *, jsonl: bool) -> Iterator[Frame | Problem]:
    """Frames of a .jsonl recording or a .sse capture, with syntax problems in between."""
    return _read_jsonl(lines) if jsonl else _read_sse(lines)


def _read_jsonl(lines: Iterable[str]) -> Iterator[Frame | Problem]:
    # the formats agent_stream.recording reads: ours ({"stream_id","seq","type","data"}),
    # `agent-stream tail --jsonl` ({"id","event","data"}), the original recorder's
    # ({"t","event","data"} after a {"session",...} header) and bare {"type","data"} lines
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = msgspec.json.decode(line)
        except msgspec.DecodeError as exc:
            yield Problem(number, "json", f"not JSON: {exc}")
            continue
        if not isinstance(record, dict):
            yield Problem(number, "json", "a recording line is a JSON object")
            continue
        if "kind" in record or ("session" in record and "event" not in record):
            continue  # a header or note line (meta, run, connection, client_report)
        kind = record.get("type", record.get("event"))
        if not isinstance(kind, str):
            yield Problem(number, "json", 'the line names no event type ("type" or "event")')
            continue
        data = record.get("data", {})
        event_id = record.get("id")
        stream = record.get("stream_id")
        seq = record.get("seq")
        if isinstance(stream, str) and isinstance(seq, int):
            event_id = f"{stream}:{seq}"
        elif isinstance(event_id, str) and event_id:
            stream = event_id.rpartition(":")[0]
        else:
            event_id, stream = None, ""
        yield Frame(
            number,
            kind,
            data if isinstance(data, str) else msgspec.json.encode(data).decode(),
            event_id,
            stream=stream if isinstance(stream, str) else "",
        )


def _read_sse(lines: Iterable[str]) -> Iterator[Frame | Problem]:
    decoder = SSEDecoder()
    start: int | None = None
    own_id: str | None = None
    data_lines = 0
    for number, line in enumerate(lines, 1):
        body = line.rstrip("\r\n")
        if body and not body.startswith(":"):
            if start is None:
                start = number
            name = body.split(":", 1)[0]
            if name == "id":
                own_id = body[3:].removeprefix(" ")
            elif name == "data":
                data_lines += 1
        try:
            events = decoder.feed(line.encode())
        except ProtocolError as exc:
            yield Problem(number, "sse-syntax", str(exc))
            decoder = SSEDecoder()
            events = []
        if not body:
            for sse in events:
                yield Frame(start or number, sse.event, sse.data, own_id, data_lines)
            if events or start is not None:
                start, own_id, data_lines = None, None, 0
    try:
        tail = decoder.close()
    except ProtocolError as exc:
        yield Problem(start or 0, "sse-syntax", str(exc))
        return
    if start is not None and not tail:
        yield Problem(start, "sse-syntax", "the file ends inside a frame (no blank line after it)")
    for sse in tail:
        yield Frame(start or 0, sse.event, sse.data, own_id, data_lines)


class _StreamCheck:
    """The protocol rules over the events of one stream, in order."""

    def __init__(self, problems: list[Problem], *, wire: bool) -> None:
        self.problems = problems
        self.wire = wire  # a capture of the bytes: priming and ids are required
        self.stream_id: str | None = None
        self.last_seq: int | None = None
        self.done_line: int | None = None
        self.error_seen = False
        self.count = 0
        self.has_ids = False

    def add(self, item: Frame) -> None:
        self.count += 1
        at = item.line

        def report(rule: str, message: str) -> None:
            self.problems.append(Problem(at, rule, message))

        try:
            event = parse_event(item.event, item.data)
        except ProtocolError as exc:
            report("schema", str(exc))
            event = None
        if item.data_lines > 1:
            report("data-one-line", f"{item.data_lines} data lines; the JSON is one line")
        if self.done_line is not None:
            report("done-last", f"{item.event!r} after the done at line {self.done_line}")
        if self.wire and self.count == 1 and item.event != "start":
            report("priming-first", f"the first event is {item.event!r}, not the priming start")
        if item.event == "reconnect":
            if item.id is not None:
                report("reconnect-id", f"reconnect carries id {item.id!r}; it must carry none")
            return
        if item.id is None:
            if self.wire or self.has_ids:
                report("id-missing", f"{item.event!r} has no id (<stream_id>:<seq>)")
        else:
            self.has_ids = True
            self._check_id(item.id, event, report)
        if item.event == "error":
            self.error_seen = True
        if isinstance(event, Done):
            if self.done_line is not None:
                report("done-once", f"a second done (the first at line {self.done_line})")
            else:
                self.done_line = at
            if event.reason == "error" and not self.error_seen:
                report("error-before-done", "done has reason 'error' but no error event before")

    def _check_id(self, event_id: str, event: object, report: Callable[[str, str], None]) -> None:
        parsed = parse_event_id(event_id)
        if parsed is None:
            report("id-format", f"id {event_id!r} is not <stream_id>:<seq>")
            return
        sid, seq = parsed
        if self.stream_id is None:
            self.stream_id = sid
        elif sid != self.stream_id:
            report("stream-id", f"id {event_id!r} names another stream than {self.stream_id!r}")
        last = self.last_seq
        if isinstance(event, Start):
            if event.stream_id != sid:
                report("stream-id", f"start names {event.stream_id!r} but its id {sid!r}")
            if last is not None and seq > last:
                report("seq-gap", f"resumed at {seq} but the last event was {last}")
            self.last_seq = seq  # a resumed response restarts from its cursor
        elif last is not None and seq <= last:
            report("seq-increasing", f"seq {seq} after seq {last}")
        else:
            expected = 1 if last is None and self.wire else (None if last is None else last + 1)
            if expected is not None and seq != expected:
                report("seq-gap", f"seq {seq} where {expected} was due; {seq - expected} missing")
            self.last_seq = seq

    def finish(self, name: str) -> None:
        if self.done_line is None and self.count:
            self.problems.append(Problem(0, "done-missing", f"{name} has no done event"))


def check_frames(
    items: Iterable[Frame | Problem], *, wire: bool = True
) -> tuple[list[Problem], int]:
    """Every protocol problem, and how many events there are.

    ``wire`` is for a capture of one response's bytes (a .sse file): it must open with the
    priming ``start`` and every event carries an id. A recording may hold many streams
    (``Frame.stream``), each checked on its own.
    """
    problems: list[Problem] = []
    streams: dict[str, _StreamCheck] = {}
    count = 0
    for item in items:
        if isinstance(item, Problem):
            problems.append(item)
            continue
        count += 1
        check = streams.get(item.stream)
        if check is None:
            check = streams[item.stream] = _StreamCheck(problems, wire=wire)
        check.add(item)
    for stream, check in streams.items():
        check.finish(f"stream {stream!r}" if stream else "the stream")
    return problems, count


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="a .jsonl recording or a .sse capture ('-' for stdin)")
    parser.add_argument(
        "--format",
        choices=["auto", "jsonl", "sse"],
        default="auto",
        help="how to read FILE (default: by extension, else by its first byte)",
    )


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    name: str = args.file
    try:
        text = sys.stdin.read() if name == "-" else Path(name).read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"{name}: cannot read: {exc}", file=out)
        return 2
    fmt: str = args.format
    if fmt == "auto":
        if name.endswith((".jsonl", ".ndjson")):
            fmt = "jsonl"
        elif name.endswith(".sse"):
            fmt = "sse"
        else:
            fmt = "jsonl" if text.lstrip().startswith("{") else "sse"
    lines = text.splitlines(keepends=True)
    problems, count = check_frames(read_frames(lines, jsonl=fmt == "jsonl"), wire=fmt == "sse")
    for problem in sorted(problems, key=lambda p: p.line or 1 << 62):
        line = problem.line or len(text.splitlines())
        print(f"{name}:{line}: {problem.rule}: {problem.message}", file=out)
    if problems:
        print(f"{name}: {len(problems)} problem(s) in {count} event(s)", file=out)
        return 1
    print(f"{name}: OK, {count} event(s)", file=out)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="agent-stream validate", description=help_text(__doc__))
    add_arguments(parser)
    return run(parser.parse_args(argv))
