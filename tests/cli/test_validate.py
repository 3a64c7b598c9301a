"""``agent-stream validate``: good files pass, each broken rule is named with its line."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent_stream.cli import main
from agent_stream.emitter import AgentStreamEmitter

SID = "AAAAAAAAAAAAAAAAAAAAAA"
START = (
    f"id: {SID}:0\nretry: 1000\nevent: start\n"
    f'data: {{"stream_id":"{SID}","heartbeat_ms":15000,"resumed":false}}\n\n'
)


def capture(*, done: bool = True) -> list[str]:
    emitter = AgentStreamEmitter(SID)
    frames = [START, emitter.turn(1), emitter.token("Hé"), emitter.token("llo 🎉")]
    if done:
        frames.append(emitter.done(message_id="m"))
    return frames


def validate(tmp_path: Path, name: str, text: str, capsys: pytest.CaptureFixture[str]):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    status = main(["validate", str(path)])
    return status, capsys.readouterr().out.replace(str(path), name)


def test_a_good_capture_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = "".join(capture()).replace("\n\nevent: token", "\n\n: ping\n\nevent: token", 1)
    status, out = validate(tmp_path, "good.sse", text, capsys)
    assert status == 0, out
    assert out == "good.sse: OK, 5 event(s)\n"


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda f: [*f[:3], f[2], *f[3:]], "good.sse:14: seq-increasing: seq 2 after seq 2"),
        (lambda f: f[:-1], "good.sse:17: done-missing"),
        (lambda f: [*f, f[-1]], "good.sse:22: done-once"),
        (lambda f: f[1:], "good.sse:1: priming-first"),
        (lambda f: [*f[:2], *f[3:]], "good.sse:10: seq-gap: seq 3 where 2 was due"),
        (
            lambda f: [*f[:2], f[2].replace('"text"', '"txt"'), *f[3:]],
            "good.sse:10: schema: invalid 'token' event",
        ),
        (lambda f: [*f, "event: token\ndata: {}\n\n"], "good.sse:22: done-last"),
        (
            lambda f: [*f[:2], f"id: {SID}:9\nevent: reconnect\ndata: {{}}\n\n", *f[2:]],
            "good.sse:10: reconnect-id",
        ),
        (lambda f: [*f[:2], "event: token\ndata: {}\n\n", *f[2:]], "good.sse:10: id-missing"),
        (lambda f: [*f[:2], f[2].replace(SID, "x.y"), *f[3:]], "good.sse:10: id-format"),
        (lambda f: [*f[:-1], f[-1][:-1]], "good.sse:18: sse-syntax: the file ends inside"),
    ],
)
def test_a_broken_capture_names_rule_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], edit, expected: str
) -> None:
    status, out = validate(tmp_path, "good.sse", "".join(edit(capture())), capsys)
    assert status == 1
    assert expected in out, out


def test_a_recording_with_two_streams(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = [
        '{"kind":"meta","format":"agent-stream-recording","version":1}',
        '{"stream_id":"a","seq":1,"type":"token","data":{"text":"x"},"t_ms":1}',
        '{"stream_id":"b","seq":1,"type":"token","data":{"text":"y"},"t_ms":1}',
        '{"stream_id":"a","seq":2,"type":"done","data":{},"t_ms":2}',
        '{"stream_id":"b","seq":2,"type":"error","data":{"error_type":"E","message":"m"},"t_ms":2}',
        '{"stream_id":"b","seq":3,"type":"done","data":{"reason":"error"},"t_ms":3}',
    ]
    status, out = validate(tmp_path, "rec.jsonl", "\n".join(lines) + "\n", capsys)
    assert (status, out) == (0, "rec.jsonl: OK, 5 event(s)\n")

    lines[3] = lines[3].replace('"seq":2', '"seq":1')
    lines.append("not json")
    status, out = validate(tmp_path, "rec.jsonl", "\n".join(lines) + "\n", capsys)
    assert status == 1
    assert "rec.jsonl:4: seq-increasing: seq 1 after seq 1" in out
    assert "rec.jsonl:7: json: not JSON" in out


def test_tail_jsonl_output_and_original_recordings_validate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tail = [
        f'{{"id":"{SID}:0","event":"start","data":{{"stream_id":"{SID}"}}}}',
        f'{{"id":"{SID}:1","event":"token","data":{{"text":"hi"}}}}',
        f'{{"id":"{SID}:2","event":"done","data":{{}}}}',
    ]
    assert validate(tmp_path, "t.jsonl", "\n".join(tail), capsys)[0] == 0
    original = [
        '{"session":"s1","started_at":"2025-01-01T00:00:00Z","t":0}',
        '{"t":0.1,"event":"token","data":{"text":"hi"}}',
        '{"t":0.2,"event":"done","data":{"num_turns":1}}',
    ]
    assert validate(tmp_path, "o.jsonl", "\n".join(original), capsys)[0] == 0


def test_unreadable_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(tmp_path / "missing.sse")]) == 2
    assert "cannot read" in capsys.readouterr().out
