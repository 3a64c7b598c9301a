"""Figures of recordings: ``agent_stream.recording.stats`` and ``agent-stream stats``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent_stream.cli import main
from agent_stream.recording.stats import load_runs, percentile, recording_stats
from tests.recording.demo_recording import EXPECTED, TOOL_LATENCY_MS, expected_tool_calls


def test_the_figures_of_1000_demo_runs(demo_recording: list[Path]) -> None:
    assert len(demo_recording) > 1  # rotated at 1 MB
    runs = load_runs(demo_recording)
    stats = recording_stats(runs)
    for name, value in EXPECTED.items():
        assert getattr(stats, name) == value, name
    calls = expected_tool_calls()
    assert stats.tool_calls == sum(calls.values())
    assert {name: s["count"] for name, s in stats.tool_latency_ms.items()} == calls
    for name, spread in stats.tool_latency_ms.items():
        assert spread["p50"] == spread["p99"] == TOOL_LATENCY_MS[name]
    assert stats.runs_resumed == EXPECTED["resumes"]
    assert stats.client_reports_by_reason == {"gave-up": EXPECTED["client_reports"]}
    # every token comes after 4 thinking pauses of 1.5 ms and a 1 ms token delay
    ttft = stats.time_to_first_token_ms
    assert ttft["count"] == 1000
    assert ttft["p50"] is not None and 7.0 <= ttft["p50"] <= ttft["p95"] <= ttft["p99"]  # type: ignore[operator]
    assert all(r.started_at is not None for r in runs)
    # a run's events may be split across segments; none is lost or counted twice
    assert stats.events == sum(r.events for r in runs)
    assert sorted({r.end_reason for r in runs}) == ["completed", "error"]


def test_a_file_given_twice_counts_once(demo_recording: list[Path]) -> None:
    once = recording_stats(load_runs(demo_recording))
    twice = recording_stats(load_runs(demo_recording + demo_recording[:1]))
    assert twice.events == once.events and twice.tokens == once.tokens


def test_percentile_interpolates_between_ranks() -> None:
    assert percentile([], 50) is None
    assert percentile([5.0], 99) == 5.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([10.0, 0.0], 95) == pytest.approx(9.5)


def test_stats_json_for_machines(
    demo_recording: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["stats", "--json", "--runs", *map(str, demo_recording)]) == 0
    payload = json.loads(capsys.readouterr().out)
    overall = payload["overall"]
    assert overall["runs_by_reason"] == EXPECTED["runs_by_reason"]
    assert overall["tokens"] == EXPECTED["tokens"]
    assert overall["client_reports"] == EXPECTED["client_reports"]
    assert len(payload["runs"]) == 1000
    failed = [r for r in payload["runs"] if r["end_reason"] == "error"]
    assert len(failed) == 100 and all(r["tokens"] == 2 and r["errors"] == 1 for r in failed)


def test_stats_text(demo_recording: list[Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stats", *map(str, demo_recording)]) == 0
    out = capsys.readouterr().out
    assert "runs                 1,000 (completed 900, error 100)" in out
    assert "client reports       10 (gave-up 10)" in out
    assert "read_page          p50 10.0 ms  p95 10.0 ms  p99 10.0 ms" in out


def test_stats_names_a_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stats", str(tmp_path / "nope.jsonl")]) == 1
    assert "nope.jsonl" in capsys.readouterr().err


def test_an_unfinished_run_and_a_tool_without_result(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text(
        '{"kind":"run","stream_id":"a","at":1000.0}\n'
        '{"stream_id":"a","seq":1,"type":"tool_use","data":{"tool_name":"t","tool_use_id":"1"},"t_ms":5}\n'
        '{"stream_id":"a","seq":2,"type":"token","data":{"text":"x"},"t_ms":9}\n'
        '{"kind":"connection","stream_id":"a","at":1000.5,"resumed":true,"cursor":1}\n'
    )
    (run,) = load_runs([path])
    assert run.end_reason == "unfinished" and run.first_token_ms == 9
    assert run.tool_calls[0].end_ms is None and run.tool_calls[0].latency_ms is None
    assert run.resumes == 1 and run.note_ms(run.connections[0]) == pytest.approx(500.0)
    stats = recording_stats([run])
    assert stats.runs_by_reason == {"unfinished": 1} and stats.tool_latency_ms == {}
