"""``agent-stream report FILES… -o report.html``: one self-contained HTML page of recordings.

See :mod:`agent_stream.recording.html_report` for what it draws.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import AgentStreamError
from ..recording.html_report import render_report
from ..recording.stats import load_runs
from .incomplete import incomplete_note

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE", help=".jsonl recordings")
    parser.add_argument("-o", "--output", type=Path, required=True, help="the .html to write")
    parser.add_argument("--title", default="agent-stream report", help="the page's title")
    parser.add_argument(
        "--max-runs", type=int, default=200, help="draw timelines of at most N runs (200)"
    )


def run(args: argparse.Namespace) -> int:
    try:
        runs = load_runs(args.files, on_incomplete=incomplete_note("report"))
    except (OSError, AgentStreamError) as exc:
        print(f"agent-stream report: {exc}", file=sys.stderr)
        return 1
    page = render_report(runs, title=args.title, max_runs=args.max_runs)
    args.output.write_text(page, encoding="utf-8")
    print(f"wrote {args.output} ({len(runs):,} runs, {len(page.encode()):,} bytes)")
    return 0
