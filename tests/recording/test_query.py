"""``agent-stream query``: SQL over recordings with DuckDB, against the known figures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent_stream.cli import main
from agent_stream.cli.query import connect
from agent_stream.recording.stats import load_runs, recording_stats
from tests.recording.demo_recording import EXPECTED, TOOL_LATENCY_MS, expected_tool_calls


def _rows(sql: str, files: list[Path]) -> list[tuple[object, ...]]:
    return connect(files).sql(sql).fetchall()


def test_runs_view_has_the_known_figures(demo_recording: list[Path]) -> None:
    rows = _rows("SELECT end_reason, count(*) FROM runs GROUP BY ALL ORDER BY 1", demo_recording)
    assert dict(rows) == EXPECTED["runs_by_reason"]  # type: ignore[arg-type]
    ((tokens, resumes, reports, errors),) = _rows(
        "SELECT sum(tokens), sum(resumes), sum(client_reports), sum(errors) FROM runs",
        demo_recording,
    )
    assert (tokens, resumes, reports, errors) == (
        EXPECTED["tokens"],
        EXPECTED["resumes"],
        EXPECTED["client_reports"],
        EXPECTED["errors"],
    )
    assert _rows("SELECT count(*) FROM runs WHERE started_at IS NULL", demo_recording) == [(0,)]


def test_tool_calls_view(demo_recording: list[Path]) -> None:
    rows = _rows(
        "SELECT tool_name, count(*), min(latency_ms), max(latency_ms), count(*) FILTER "
        "(WHERE status <> 'done') FROM tool_calls GROUP BY ALL",
        demo_recording,
    )
    calls = expected_tool_calls()
    assert {name: (n, lo, hi, bad) for name, n, lo, hi, bad in rows} == {
        name: (calls[name], TOOL_LATENCY_MS[name], TOOL_LATENCY_MS[name], 0) for name in calls
    }


def test_sql_and_stats_agree_on_percentiles(demo_recording: list[Path]) -> None:
    # two implementations (DuckDB's quantile_cont, ours) of the same definitions
    stats = recording_stats(load_runs(demo_recording))
    ((ttft, rate_p50),) = _rows(
        "SELECT quantile_cont(time_to_first_token_ms, [0.5, 0.95, 0.99]), "
        "quantile_cont(tokens_per_s, 0.5) FROM runs",
        demo_recording,
    )
    want = stats.time_to_first_token_ms
    assert ttft == pytest.approx([want["p50"], want["p95"], want["p99"]])
    assert rate_p50 == pytest.approx(stats.tokens_per_s["p50"])


def test_events_and_notes_views(demo_recording: list[Path]) -> None:
    ((events,),) = _rows("SELECT count(*) FROM events", demo_recording)
    assert events == recording_stats(load_runs(demo_recording)).events
    assert _rows(
        "SELECT count(*), count(DISTINCT stream_id) FROM connections WHERE resumed",
        demo_recording,
    ) == [(EXPECTED["resumes"], EXPECTED["resumes"])]
    assert _rows(
        "SELECT reason, attempts, count(*) FROM client_reports GROUP BY ALL", demo_recording
    ) == [("gave-up", 3, EXPECTED["client_reports"])]
    ((text,),) = _rows(
        "SELECT data->>'text' FROM events WHERE type = 'token' ORDER BY stream_id, seq LIMIT 1",
        demo_recording,
    )
    assert isinstance(text, str) and text


def test_query_cli_json(demo_recording: list[Path], capsys: pytest.CaptureFixture[str]) -> None:
    sql = "SELECT end_reason, count(*) AS n FROM runs GROUP BY ALL ORDER BY n DESC"
    assert main(["query", "--json", sql, *map(str, demo_recording)]) == 0
    assert json.loads(capsys.readouterr().out) == [
        {"end_reason": "completed", "n": 900},
        {"end_reason": "error", "n": 100},
    ]
    assert (
        main(["query", "SELECT min(started_at) < now() AS ok FROM runs", str(demo_recording[0])])
        == 0
    )
    assert capsys.readouterr().out == "ok\nTrue\n"


def test_query_cli_reports_bad_sql(
    demo_recording: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["query", "SELECT nope FROM runs", str(demo_recording[0])]) == 1
    assert "nope" in capsys.readouterr().err
