"""The framing module: agent-stream's SSE format, and the rule that only it writes SSE lines."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from agent_stream import Start
from agent_stream.framing import (
    PING,
    RECONNECT,
    Framing,
    SSEFraming,
    data_blocks,
    encode_frame_bytes,
    event_head,
    id_prefix,
    priming_block,
)
from agent_stream.sse import SSEDecoder

SRC = Path(__file__).resolve().parent.parent / "src" / "agent_stream"
# A line that starts an SSE field we write: "event: ", "data: " or "id: ".
FIELD_LINE = re.compile(r"(?:^|\n)(?:event|data|id): ")


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            first = node.body[0] if node.body else None
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def _reading(tree: ast.AST) -> set[int]:
    # Constants that parse SSE rather than write it: patterns given to re.compile, and the
    # decoder (class SSEDecoder), whose slow path re-splits a frame it has read into lines.
    found: set[int] = set()
    for node in ast.walk(tree):
        is_pattern = (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "compile"
        )
        if is_pattern or (isinstance(node, ast.ClassDef) and node.name == "SSEDecoder"):
            found.update(id(inner) for inner in ast.walk(node))
    return found


def field_lines_written(path: Path, root: Path = SRC.parent) -> list[str]:
    """``file:line`` of each str/bytes literal in ``path`` that writes an SSE field line."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _docstrings(tree) | _reading(tree)
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and id(node) not in skip:
            value = node.value
            if isinstance(value, bytes):
                value = value.decode("latin-1")
            if isinstance(value, str) and FIELD_LINE.search(value):
                out.append(f"{path.relative_to(root)}:{node.lineno}")
    return sorted(out, key=lambda where: int(where.rsplit(":", 1)[1]))


def test_only_the_framing_module_writes_sse_field_lines() -> None:
    offenders = [
        where
        for path in sorted(SRC.rglob("*.py"))
        if path.name != "framing.py" or path.parent != SRC
        for where in field_lines_written(path)
    ]
    assert offenders == [], "write SSE lines through agent_stream.framing instead"


def test_the_scan_finds_what_it_looks_for(tmp_path: Path) -> None:
    # the rule above cannot pass by finding nothing: it sees each way a line gets written
    module = tmp_path / "sample.py"
    module.write_text(
        '"""Docstring: event: ok."""\n'
        'A = b"id: %b\\n"\n'
        'B = f"\\nevent: {1}"\n'
        'C = "x\\ndata: y"\n'
        'D = re.compile(r"data: (.*)")\n'
    )
    assert field_lines_written(module, tmp_path) == [f"sample.py:{n}" for n in (2, 3, 4)]


def test_sse_framing_frames_events_with_ids() -> None:
    framing = SSEFraming("s1")
    assert isinstance(framing, Framing)
    events = [("token", b'{"text":"a"}'), ("done", b'{"reason":"completed"}')]
    assert framing.events(7, events[:1]) == b'id: s1:7\nevent: token\ndata: {"text":"a"}\n\n'
    assert framing.events(7, events) == (
        b'id: s1:7\nevent: token\ndata: {"text":"a"}\n\n'
        b'id: s1:8\nevent: done\ndata: {"reason":"completed"}\n\n'
    )
    assert (
        framing.events(1, [("custom.kind", b"{}")]) == b"id: s1:1\nevent: custom.kind\ndata: {}\n\n"
    )
    assert framing.read_after(5) == 5
    assert framing.ping() is PING == b": ping\n\n"
    assert framing.reconnect() is RECONNECT


def test_sse_framing_priming_frame_carries_the_cursor_and_retry() -> None:
    start = Start(stream_id="s1", heartbeat_ms=15000, resume_url="/api/streams/s1", resumed=True)
    opened = SSEFraming("s1").open(start, cursor=4, retry_ms=1500)
    [event] = SSEDecoder().feed(opened)
    assert opened.startswith(b"id: s1:4\nretry: 1500\nevent: start\ndata: {")
    assert (event.event, event.id, event.retry) == ("start", "s1:4", 1500)
    assert '"resumed":true' in event.data


def test_reconnect_has_no_id_and_decodes() -> None:
    [event] = SSEDecoder().feed(RECONNECT)
    assert RECONNECT.startswith(b"event: reconnect\n")
    assert event.event == "reconnect" and '"server-shutdown"' in event.data


def test_pieces_for_the_emitter_and_the_bridges() -> None:
    sid, seq = "s1", 3
    frame = f"{id_prefix(sid)}{seq}{event_head('token', after_id=True)}{{}}\n\n"
    assert frame.encode() == encode_frame_bytes("token", b"{}", "s1:3")
    assert f"{event_head('token', after_id=False)}{{}}\n\n".encode() == encode_frame_bytes(
        "token", b"{}"
    )
    assert data_blocks([], b"s1", 2) == b"id: s1:2\n\n"
    assert data_blocks([b"{}", b"[]"], b"s1", 2) == b"data: {}\n\nid: s1:2\ndata: []\n\n"
    assert priming_block("s1", 0, 1000) == b"id: s1:0\nretry: 1000\n\n"
