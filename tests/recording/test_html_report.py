"""``agent-stream report``: the page's contents (the Chromium test opens it: js/e2e)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from agent_stream.cli import main
from agent_stream.recording.html_report import render_report, timeline_svg
from agent_stream.recording.stats import load_runs


def test_report_of_the_demo_recording(
    demo_recording: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report.html"
    assert main(["report", *map(str, demo_recording), "-o", str(out), "--max-runs", "50"]) == 0
    assert "1,000 runs" in capsys.readouterr().out
    page = out.read_text("utf-8")
    # self-contained: nothing is fetched, nothing runs
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    assert "<script" not in page and "@import" not in page
    assert page.count('<section class="run"') == 50
    assert "950 more runs not drawn" in page
    # problems first: the 100 failed runs fill the 50 timelines
    assert page.count('class="error-mark"') == 50
    assert 'data-testid="ttft-histogram"' in page and 'class="hist-bar"' in page


def test_a_timeline_draws_each_part(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    lines = [
        '{"kind":"run","stream_id":"s","at":100.0}',
        '{"stream_id":"s","seq":1,"type":"turn","data":{"turn_number":1},"t_ms":1}',
        '{"stream_id":"s","seq":2,"type":"tool_use","data":{"tool_name":"search","tool_use_id":"a"},"t_ms":2}',
        '{"stream_id":"s","seq":3,"type":"tool_use","data":{"tool_name":"read","tool_use_id":"b"},"t_ms":3}',
        '{"stream_id":"s","seq":4,"type":"tool_result","data":{"tool_name":"search","tool_use_id":"a","duration_ms":40},"t_ms":42}',
        '{"stream_id":"s","seq":5,"type":"tool_result","data":{"tool_name":"read","tool_use_id":"b","status":"error"},"t_ms":50}',
        '{"stream_id":"s","seq":6,"type":"turn","data":{"turn_number":2},"t_ms":51}',
        *(
            json.dumps(
                {"stream_id": "s", "seq": 7 + i, "type": "token", "data": {}, "t_ms": 60 + i}
            )
            for i in range(30)
        ),
        '{"kind":"connection","stream_id":"s","at":100.07,"resumed":true,"cursor":20}',
        '{"stream_id":"s","seq":37,"type":"error","data":{"error_type":"Boom","message":"<b>x</b>"},"t_ms":95}',
        '{"stream_id":"s","seq":38,"type":"done","data":{"reason":"error"},"t_ms":96}',
        '{"kind":"client_report","stream_id":"s","at":100.2,"reason":"gave-up","last_seq":38}',
    ]
    path.write_text("\n".join(lines) + "\n")
    (run,) = load_runs([path])
    svg = timeline_svg(run)
    assert svg.count('class="turn"') == 2
    assert svg.count('class="tool-bar done"') == 1 and svg.count('class="tool-bar failed"') == 1
    assert "search 40 ms" in svg and "read 47 ms" in svg
    assert svg.count('class="token-rate"') == 1
    assert svg.count('class="error-mark"') == 1 and "&lt;b&gt;x&lt;/b&gt;" in svg
    assert svg.count('class="resume-mark"') == 1 and svg.count('class="report-mark"') == 1
    assert svg.count('class="end-mark"') == 1
    # overlapping calls get two rows
    ys = re.findall(r'class="tool-bar [a-z]+" x="[0-9.]+" y="(\d+)"', svg)
    assert len(set(ys)) == 2
    page = render_report([run], title="t <1>")
    assert "<title>t &lt;1&gt;</title>" in page


def test_report_of_nothing(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text("")
    page = render_report(load_runs([path]))
    assert "no first token recorded" in page and "0 runs" in page


def test_the_page_inlines_the_timeline_stylesheet(tmp_path: Path) -> None:
    # the demo page's inspector imports the same file (its Chromium test checks the bar colour)
    path = tmp_path / "empty.jsonl"
    path.write_text("")
    page = render_report(load_runs([path]))
    shared = Path(__file__).parents[2] / "src/agent_stream/recording/timeline.css"
    assert shared.read_text("utf-8") in page  # inlined whole: the page stays self-contained
