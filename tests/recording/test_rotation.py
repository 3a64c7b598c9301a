"""``JsonlRecorder`` rotation (size, time, kept files) and note lines."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from agent_stream.errors import UsageError
from agent_stream.recording import JsonlRecorder, RecordedEvent, RecordedNote, read_records


def _segments(tmp_path: Path) -> list[Path]:
    return sorted(tmp_path.glob("runs.*.jsonl"))


def test_size_rotation_keeps_lines_whole(tmp_path: Path) -> None:
    data = b'{"text":"' + b"x" * 200 + b'"}'
    with JsonlRecorder(tmp_path / "runs.jsonl", max_bytes=4_000) as recorder:
        for seq in range(1, 101):
            recorder.record("s", seq, "token", data, float(seq))
            if seq % 10 == 0:
                assert recorder.flush()
    files = _segments(tmp_path)
    assert files == recorder.files and len(files) >= 5
    assert not (tmp_path / "runs.jsonl").exists()
    seqs = []
    for path in files:
        raw = path.read_bytes()
        assert len(raw) <= 4_000 and raw.endswith(b"\n")
        lines = [json.loads(line) for line in raw.splitlines()]
        assert lines[0]["kind"] == "meta"
        seqs += [line["seq"] for line in lines if "seq" in line]
    assert seqs == list(range(1, 101))


def test_one_huge_line_still_goes_out(tmp_path: Path) -> None:
    with JsonlRecorder(tmp_path / "runs.jsonl", max_bytes=100) as recorder:
        recorder.record("s", 2, "token", b'{"text":"' + b"y" * 500 + b'"}', 1.0)
        recorder.record("s", 3, "token", b'{"text":"z"}', 2.0)
    events = [r for path in recorder.files for r in read_records(path)]
    assert [e.seq for e in events if isinstance(e, RecordedEvent)] == [2, 3]
    assert len(recorder.files) == 2


def test_keep_files_deletes_the_oldest(tmp_path: Path) -> None:
    with JsonlRecorder(tmp_path / "runs.jsonl", max_bytes=300, keep_files=2) as recorder:
        for seq in range(2, 40):
            recorder.record("s", seq, "token", b'{"text":"' + b"x" * 100 + b'"}', 0.0)
            assert recorder.flush()
    assert len(_segments(tmp_path)) == 2 == len(recorder.files)
    last = [r for r in read_records(recorder.files[-1]) if isinstance(r, RecordedEvent)]
    assert last[-1].seq == 39


def test_time_rotation(tmp_path: Path) -> None:
    with JsonlRecorder(tmp_path / "runs.jsonl", rotate_s=0.05) as recorder:
        recorder.record("s", 2, "token", b"{}", 0.0)
        assert recorder.flush()
        deadline = time.monotonic() + 0.06
        while time.monotonic() < deadline:  # the clock passes rotate_s (bounded)
            time.sleep(0.01)
        recorder.record("s", 3, "token", b"{}", 0.0)
        assert recorder.flush()
    assert len(recorder.files) == 2


def test_notes_and_the_run_line(tmp_path: Path) -> None:
    path = tmp_path / "runs.jsonl"
    before = time.time()
    with JsonlRecorder(path) as recorder:
        recorder.record("s", 1, "token", b'{"text":"a"}', 250.0)
        recorder.record_note("client_report", "s", {"reason": "gave-up", "last_seq": 1})
        with pytest.raises(UsageError, match="note kind 'bogus'"):
            recorder.record_note("bogus", "s", {})
    records = list(read_records(path))
    run, event, report = records
    assert isinstance(run, RecordedNote) and run.kind == "run"
    assert before - 0.25 - 1 <= run.at <= time.time() - 0.25 + 1
    assert isinstance(event, RecordedEvent) and event.seq == 1
    assert isinstance(report, RecordedNote) and report.kind == "client_report"
    assert report.fields == {"reason": "gave-up", "last_seq": 1}


def test_bad_options(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        JsonlRecorder(tmp_path / "x.jsonl", max_bytes=0)
    with pytest.raises(UsageError):
        JsonlRecorder(tmp_path / "x.jsonl", keep_files=0)
