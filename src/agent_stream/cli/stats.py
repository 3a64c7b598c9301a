"""``agent-stream stats FILES… [--json]``: per-run and overall figures of recordings.

Figures and their definitions: :mod:`agent_stream.recording.stats`. ``--runs`` adds a line per
run; ``--json`` prints one JSON object (``overall`` and, with ``--runs``, ``runs``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TextIO

import msgspec

from ..errors import AgentStreamError
from ..recording.stats import RecordingStats, RunSummary, load_runs, recording_stats
from .incomplete import incomplete_note

__all__ = ["add_arguments", "run", "run_row"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE", help=".jsonl recordings")
    parser.add_argument("--json", action="store_true", help="print JSON for machines")
    parser.add_argument("--runs", action="store_true", help="also list every run")


def run_row(summary: RunSummary) -> dict[str, object]:
    """One run's figures, as ``--runs`` lists them."""
    rate = summary.tokens_per_s
    return {
        "stream_id": summary.stream_id,
        "end_reason": summary.end_reason,
        "duration_ms": summary.end_ms,
        "time_to_first_token_ms": summary.first_token_ms,
        "tokens": summary.tokens,
        "tokens_per_s": round(rate, 1) if rate is not None else None,
        "tool_calls": len(summary.tool_calls),
        "errors": len(summary.errors),
        "resumes": summary.resumes,
        "client_reports": len(summary.client_reports),
    }


def _ms(value: object) -> str:
    return f"{value:,.1f} ms" if isinstance(value, int | float) else "-"


def _spread_line(spread: dict[str, float | int | None], unit: str = "ms") -> str:
    def fmt(v: float | int | None) -> str:
        if v is None:
            return "-"
        return f"{v:,.1f} ms" if unit == "ms" else f"{v:,.1f}/s"

    return (
        f"p50 {fmt(spread['p50'])}  p95 {fmt(spread['p95'])}  p99 {fmt(spread['p99'])}  "
        f"(n={spread['count']})"
    )


def print_stats(stats: RecordingStats, out: TextIO) -> None:
    reasons = ", ".join(f"{k} {v:,}" for k, v in stats.runs_by_reason.items()) or "-"
    out.write(f"runs                 {stats.runs:,} ({reasons})\n")
    out.write(f"events               {stats.events:,} ({stats.tokens:,} tokens)\n")
    out.write(f"time to first event  {_spread_line(stats.time_to_first_event_ms)}\n")
    out.write(f"time to first token  {_spread_line(stats.time_to_first_token_ms)}\n")
    out.write(f"tokens per second    {_spread_line(stats.tokens_per_s, 'rate')}\n")
    out.write(f"errors               {stats.errors:,}\n")
    out.write(f"resumes              {stats.resumes:,} (in {stats.runs_resumed:,} runs)\n")
    reports = ", ".join(f"{k} {v:,}" for k, v in stats.client_reports_by_reason.items())
    out.write(
        f"client reports       {stats.client_reports:,}{f' ({reports})' if reports else ''}\n"
    )
    out.write(f"tool calls           {stats.tool_calls:,}\n")
    for name, spread in stats.tool_latency_ms.items():
        errors = f", {spread['errors']} failed" if spread["errors"] else ""
        out.write(f"  {name:<18} {_spread_line(spread)}{errors}\n")


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out if out is not None else sys.stdout
    try:
        runs = load_runs(args.files, on_incomplete=incomplete_note("stats"))
    except (OSError, AgentStreamError) as exc:
        print(f"agent-stream stats: {exc}", file=sys.stderr)
        return 1
    stats = recording_stats(runs)
    if args.json:
        payload: dict[str, object] = {"overall": stats.as_dict()}
        if args.runs:
            payload["runs"] = [run_row(r) for r in runs]
        out.write(msgspec.json.encode(payload).decode() + "\n")
        return 0
    print_stats(stats, out)
    if args.runs:
        out.write("\nstream_id                         end          ttft        tokens  tools\n")
        for summary in runs:
            row = run_row(summary)
            out.write(
                f"{summary.stream_id:<33} {summary.end_reason:<12} "
                f"{_ms(row['time_to_first_token_ms']):>11} {summary.tokens:>7} "
                f"{len(summary.tool_calls):>6}\n"
            )
    return 0
