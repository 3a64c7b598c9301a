"""A recording whose last line is incomplete (a write in progress, or a process killed in the
middle of one) is read up to its last whole line by every recording command, which says what
it skipped; a malformed line anywhere else is still an error."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from agent_stream.cli import main
from agent_stream.cli.query import connect
from agent_stream.errors import ProtocolError
from agent_stream.recording import RecordedEvent, read_recording, read_records
from agent_stream.recording.stats import load_runs, recording_stats


def _cut(source: Path, target: Path) -> tuple[Path, Path, int, bytes]:
    """``target``: ``source`` cut in the middle of its last event line, as a crash leaves it;
    also a copy of its whole lines. Returns both, the cut line's number and its bytes."""
    lines = source.read_bytes().splitlines(keepends=True)
    last = max(i for i, line in enumerate(lines) if b'"seq"' in line)
    half = lines[last][: len(lines[last]) // 2]
    target.write_bytes(b"".join(lines[:last]) + half)
    whole = target.with_name("whole-" + target.name)
    whole.write_bytes(b"".join(lines[:last]))
    return target, whole, last + 1, half


@pytest.fixture
def cut(demo_recording: list[Path], tmp_path: Path) -> tuple[Path, Path, int, bytes]:
    return _cut(demo_recording[0], tmp_path / "killed.jsonl")


def test_reader_skips_the_incomplete_last_line_and_says_so(
    cut: tuple[Path, Path, int, bytes], caplog: pytest.LogCaptureFixture
) -> None:
    path, whole, number, half = cut
    seen: list[tuple[int, bytes]] = []
    records = list(read_records(path, on_incomplete=lambda n, raw: seen.append((n, raw))))
    assert records == list(read_records(whole))
    assert seen == [(number, half)]
    with caplog.at_level(logging.WARNING, logger="agent_stream.recording"):
        events = list(read_recording(path))
    assert events == [r for r in records if isinstance(r, RecordedEvent)]
    assert f"recording line {number} is incomplete" in caplog.text


def test_a_whole_last_line_without_its_line_end_is_read(tmp_path: Path) -> None:
    path = tmp_path / "no-newline.jsonl"
    path.write_bytes(b'{"stream_id":"s1","seq":1,"type":"token","data":{"text":"hi"}}')
    (event,) = read_recording(path, on_incomplete=lambda n, raw: pytest.fail("not incomplete"))
    assert (event.stream_id, event.seq, event.data) == ("s1", 1, b'{"text":"hi"}')


@pytest.mark.parametrize(
    "content",
    [
        # malformed in the middle
        b'{"stream_id":"s1","seq":1,"type":"tok\n{"stream_id":"s1","seq":2,"type":"done"}\n',
        # malformed last line that has its line end: written whole, so not in progress
        b'{"stream_id":"s1","seq":1,"type":"token","data":{"text":"hi"}}\n{"seq":\n',
    ],
)
def test_malformed_lines_elsewhere_are_still_errors(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(content)
    with pytest.raises(ProtocolError) as caught:
        list(read_records(path, on_incomplete=lambda n, raw: pytest.fail("not incomplete")))
    assert caught.value.code == "invalid-recording"


def test_lines_given_one_by_one_have_no_incomplete_tail() -> None:
    # an iterable of lines has no line ends to go by: a malformed last one is an error
    lines = ['{"stream_id":"s1","seq":1,"type":"token","data":{"text":"hi"}}', '{"seq":']
    with pytest.raises(ProtocolError, match="line 2"):
        list(read_records(lines))


def test_stats_and_report_read_up_to_the_cut(
    cut: tuple[Path, Path, int, bytes], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, whole, number, half = cut
    note = f"{path}: line {number} is incomplete"
    assert main(["stats", "--json", str(path)]) == 0
    out, err = capsys.readouterr()
    assert note in err and f"{len(half):,} bytes without a line end" in err
    assert main(["stats", "--json", str(whole)]) == 0
    assert capsys.readouterr().out == out
    stats = recording_stats(load_runs([path], on_incomplete=lambda *a: None))
    assert stats.runs > 0 and stats.events == recording_stats(load_runs([whole])).events
    page = tmp_path / "report.html"
    assert main(["report", str(path), "-o", str(page)]) == 0
    assert note in capsys.readouterr().err
    assert page.read_text().count("<svg") > 1


def test_replay_prints_up_to_the_cut(
    cut: tuple[Path, Path, int, bytes], capsys: pytest.CaptureFixture[str]
) -> None:
    path, whole, number, _ = cut
    assert main(["replay", str(path)]) == 0
    out, err = capsys.readouterr()
    assert f"{path}: line {number} is incomplete" in err
    assert main(["replay", str(whole)]) == 0
    assert capsys.readouterr().out == out


def test_query_reads_up_to_the_cut_and_keeps_the_file_name(
    cut: tuple[Path, Path, int, bytes],
    demo_recording: list[Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    path, whole, number, _ = cut
    seen: list[tuple[str, int]] = []
    con = connect(
        [path, *demo_recording[1:]], on_incomplete=lambda p, n, _: seen.append((str(p), n))
    )
    assert seen == [(str(path), number)]
    with_cut = con.sql("SELECT file, count(*) FROM events GROUP BY ALL ORDER BY 1").fetchall()
    reference = connect([whole, *demo_recording[1:]])
    rows = reference.sql("SELECT file, count(*) FROM events GROUP BY ALL ORDER BY 1").fetchall()
    assert [n for _, n in with_cut] == [n for _, n in rows]
    assert str(path) in {file for file, _ in with_cut}
    assert main(["query", "SELECT count(*) FROM events", str(path)]) == 0
    out, err = capsys.readouterr()
    assert f"{path}: line {number} is incomplete" in err
    assert main(["query", "SELECT count(*) FROM events", str(whole)]) == 0
    assert capsys.readouterr().out == out
