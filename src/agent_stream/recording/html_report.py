"""``agent-stream report``: one self-contained HTML page of recordings, drawn as inline SVG.

No script, no network: the page is HTML + CSS + SVG written here, so it opens offline and
from a mail attachment. Per run, a timeline on the run's own time axis: turns (dashed lines),
tool calls (bars with their latency), the token rate (a line), errors, resumes and client
reports (marks) and the end (its reason); above them the summary figures and histograms of
time to first token and tool latency.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import cache
from importlib import resources

from .stats import RecordingStats, RunSummary, ToolCall, recording_stats

__all__ = ["histogram_svg", "render_report", "timeline_svg"]

_WIDTH = 880
_LEFT = 110
_PLOT = _WIDTH - _LEFT - 20
_RATE_BUCKETS = 60
_REASON_CLASS = {"completed": "ok", "error": "bad", "unfinished": "bad"}

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:920px;color:#1d2330}
h1{font-size:22px}h2{font-size:17px;margin-top:32px}
.figures{display:grid;grid-template-columns:repeat(4,1fr);gap:8px}
.figure{background:#f3f5f9;border-radius:6px;padding:8px 10px}
.figure b{display:block;font-size:18px}
.run{border-top:1px solid #dde2ea;margin-top:18px;padding-top:6px}
.run h3{font-size:14px;margin:4px 0;font-family:ui-monospace,monospace}
.ok{color:#1d7a3a}.bad{color:#b3261e}.warn{color:#9a6700}
svg text{font:11px system-ui,sans-serif;fill:#4a5262}.hist-bar{fill:#6f8fd8}
table{border-collapse:collapse}td,th{padding:2px 10px 2px 0;text-align:left}
"""


@cache
def _timeline_css() -> str:
    # the timeline's own rules live in a file the demo page's inspector imports too (js/demo)
    return resources.files("agent_stream.recording").joinpath("timeline.css").read_text("utf-8")


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _fmt_ms(value: float | int | None) -> str:
    if value is None:
        return "-"
    return f"{value / 1000:.2f} s" if value >= 10_000 else f"{value:,.0f} ms"


def _figure(label: str, value: str) -> str:
    return f'<div class="figure"><b>{_e(value)}</b>{_e(label)}</div>'


def _summary(stats: RecordingStats) -> str:
    reasons = stats.runs_by_reason
    ttft, rate = stats.time_to_first_token_ms, stats.tokens_per_s
    items = [
        _figure("runs", f"{stats.runs:,}"),
        _figure("completed", f"{reasons.get('completed', 0):,}"),
        _figure("errors", f"{reasons.get('error', 0):,}"),
        _figure(
            "cancelled / interrupted",
            f"{reasons.get('cancelled', 0)} / {reasons.get('interrupted', 0)}",
        ),
        _figure("time to first token p50", _fmt_ms(ttft["p50"])),
        _figure("time to first token p95", _fmt_ms(ttft["p95"])),
        _figure("tokens per second p50", "-" if rate["p50"] is None else f"{rate['p50']:,.0f}"),
        _figure("tool calls", f"{stats.tool_calls:,}"),
        _figure("resumes", f"{stats.resumes:,}"),
        _figure("client-reported failures", f"{stats.client_reports:,}"),
        _figure("unfinished", f"{reasons.get('unfinished', 0):,}"),
        _figure("tokens", f"{stats.tokens:,}"),
    ]
    return f'<div class="figures" data-testid="summary">{"".join(items)}</div>'


def histogram_svg(values: Sequence[float], *, label: str, bins: int = 24) -> str:
    """An SVG histogram of ``values`` (milliseconds); one ``rect.hist-bar`` per non-empty bin."""
    if not values:
        return f'<p class="empty">no {_e(label)} recorded</p>'
    low, high = min(values), max(values)
    width = (high - low) / bins or 1.0
    counts = [0] * bins
    for v in values:
        counts[min(bins - 1, int((v - low) / width))] += 1
    height, top = 140, max(counts)
    step = _PLOT / bins
    parts = [
        f'<svg class="histogram" width="{_WIDTH}" height="{height + 40}" role="img" '
        f'aria-label="{_e(label)}">'
    ]
    for i, count in enumerate(counts):
        if not count:
            continue
        h = height * count / top
        x = _LEFT + i * step
        lo, hi = low + i * width, low + (i + 1) * width
        parts.append(
            f'<rect class="hist-bar" x="{x:.1f}" y="{height - h + 10:.1f}" '
            f'width="{max(step - 2, 1):.1f}" height="{h:.1f}">'
            f"<title>{_fmt_ms(lo)} to {_fmt_ms(hi)}: {count}</title></rect>"
        )
    parts.append(f'<text x="0" y="{height / 2 + 10:.0f}">{_e(label)}</text>')
    parts.append(f'<text x="0" y="24">{top}</text>')
    parts.append(f'<text x="{_LEFT}" y="{height + 28}">{_e(_fmt_ms(low))}</text>')
    parts.append(
        f'<text x="{_LEFT + _PLOT}" y="{height + 28}" text-anchor="end">{_e(_fmt_ms(high))}</text>'
    )
    parts.append("</svg>")
    return "".join(parts)


def _lanes(calls: Sequence[ToolCall], span: float) -> list[int]:
    # a call (its bar and the label after it) takes the first row free when it starts
    ms_per_px = span / _PLOT
    ends: list[float] = []
    lanes = []
    for call in calls:
        stop = call.end_ms if call.end_ms is not None else span
        label_px = 6.5 * (len(call.tool_name) + 8)
        stop = max(stop, call.start_ms + 2 * ms_per_px) + label_px * ms_per_px
        lane = next((i for i, e in enumerate(ends) if e <= call.start_ms), len(ends))
        if lane == len(ends):
            ends.append(stop)
        else:
            ends[lane] = stop
        lanes.append(lane)
    return lanes


def timeline_svg(run: RunSummary) -> str:
    """One run's timeline (see the module's docstring); elements carry class names."""
    notes = [(run.note_ms(c), "resume") for c in run.connections if c.get("resumed") is True]
    notes += [(run.note_ms(r), "report") for r in run.client_reports]
    times = [run.end_ms or 0.0, run.last_token_ms or 0.0]
    times += [c.end_ms or c.start_ms for c in run.tool_calls]
    times += [t for t, _ in notes if t is not None]
    span = max(max(times), 1.0)

    def x(t: float) -> float:
        return _LEFT + _PLOT * max(0.0, t) / span

    lanes = _lanes(run.tool_calls, span)
    tool_rows = max(lanes, default=-1) + 1
    tools_top, rate_top = 22, 30 + 18 * tool_rows
    rate_h = 40
    height = rate_top + rate_h + 34
    out = [
        f'<svg class="timeline" width="{_WIDTH}" height="{height}" role="img" '
        f'aria-label="timeline of {_e(run.stream_id)}">'
    ]
    out.append(f'<text x="0" y="{tools_top + 12}">tools</text>')
    out.append(f'<text x="0" y="{rate_top + rate_h / 2 + 4:.0f}">tokens/s</text>')
    for t, number in run.turns:
        out.append(
            f'<line class="turn" x1="{x(t):.1f}" y1="4" x2="{x(t):.1f}" y2="{height - 24}">'
            f"<title>turn {number} at {_fmt_ms(t)}</title></line>"
            f'<text x="{x(t) + 3:.1f}" y="14">turn {number}</text>'
        )
    for call, lane in zip(run.tool_calls, lanes, strict=True):
        stop = call.end_ms if call.end_ms is not None else span
        kind = "open" if call.end_ms is None else "failed" if call.status == "error" else "done"
        y = tools_top + 18 * lane
        w = max(x(stop) - x(call.start_ms), 2.0)
        label = f"{call.tool_name} {_fmt_ms(call.latency_ms)}"
        out.append(
            f'<rect class="tool-bar {kind}" x="{x(call.start_ms):.1f}" y="{y}" width="{w:.1f}" '
            f'height="14" rx="2"><title>{_e(label)} ({_e(call.status)})</title></rect>'
            f'<text x="{x(call.start_ms) + w + 3:.1f}" y="{y + 11}">{_e(label)}</text>'
        )
    out.append(_rate_line(run, span, rate_top, rate_h))
    for t, message_type, message in run.errors:
        out.append(
            f'<circle class="error-mark" cx="{x(t):.1f}" cy="{rate_top - 6}" r="5">'
            f"<title>error {_e(message_type)}: {_e(message)}</title></circle>"
        )
    for at_ms, what in notes:
        if at_ms is None:
            continue
        t = at_ms
        css = "resume-mark" if what == "resume" else "report-mark"
        out.append(
            f'<rect class="{css}" x="{x(t) - 4:.1f}" y="{rate_top + rate_h + 2}" width="8" '
            f'height="8" transform="rotate(45 {x(t):.1f} {rate_top + rate_h + 6})">'
            f"<title>{'resumed' if what == 'resume' else 'client report'} at "
            f"{_fmt_ms(t)}</title></rect>"
        )
    if run.end_ms is not None:
        ex = x(run.end_ms)
        out.append(
            f'<line class="end-mark" x1="{ex:.1f}" y1="4" x2="{ex:.1f}" y2="{height - 24}">'
            f"<title>done: {_e(run.end_reason)}</title></line>"
            f'<text x="{min(ex + 3, _WIDTH - 70):.1f}" y="{height - 28}">{_e(run.end_reason)}'
            "</text>"
        )
    out.append(
        f'<text x="{_LEFT}" y="{height - 6}">0</text>'
        f'<text x="{_LEFT + _PLOT}" y="{height - 6}" text-anchor="end">{_fmt_ms(span)}</text>'
    )
    out.append("</svg>")
    return "".join(out)


def _rate_line(run: RunSummary, span: float, top: float, height: float) -> str:
    if not run.token_times_ms:
        return ""
    width = span / _RATE_BUCKETS
    counts = [0] * _RATE_BUCKETS
    for t in run.token_times_ms:
        counts[min(_RATE_BUCKETS - 1, int(t / width))] += 1
    peak = max(counts)
    rates = [c * 1000.0 / width for c in counts]
    points = " ".join(
        f"{_LEFT + _PLOT * (i + 0.5) / _RATE_BUCKETS:.1f},{top + height - height * c / peak:.1f}"
        for i, c in enumerate(counts)
    )
    return (
        f'<polyline class="token-rate" points="{points}"><title>peak '
        f"{max(rates):,.0f} tokens/s</title></polyline>"
    )


def _run_section(run: RunSummary) -> str:
    css = _REASON_CLASS.get(run.end_reason, "warn")
    rate = run.tokens_per_s
    facts = [
        f'<span class="{css}">{_e(run.end_reason)}</span>',
        f"duration {_fmt_ms(run.end_ms)}",
        f"first token {_fmt_ms(run.first_token_ms)}",
        f"{run.tokens:,} tokens" + (f" ({rate:,.0f}/s)" if rate is not None else ""),
        f"{len(run.tool_calls)} tool calls",
    ]
    if run.resumes:
        facts.append(f"{run.resumes} resumes")
    if run.client_reports:
        facts.append(f"{len(run.client_reports)} client reports")
    if run.started_at is not None:
        facts.append(datetime.fromtimestamp(run.started_at, UTC).strftime("%Y-%m-%d %H:%M:%S Z"))
    return (
        f'<section class="run" data-stream-id="{_e(run.stream_id)}">'
        f"<h3>{_e(run.stream_id)}</h3><p>{' · '.join(facts)}</p>{timeline_svg(run)}</section>"
    )


def render_report(
    runs: Sequence[RunSummary], *, title: str = "agent-stream report", max_runs: int = 200
) -> str:
    """The whole page. Timelines are drawn for the first ``max_runs`` runs (with problems
    first: errors, unfinished runs, client reports, resumes), the figures cover all runs."""
    stats = recording_stats(runs)
    ttft = [r.first_token_ms for r in runs if r.first_token_ms is not None]
    tool_ms = [c.latency_ms for r in runs for c in r.tool_calls if c.latency_ms is not None]

    def trouble(run: RunSummary) -> int:
        bad = run.end_reason != "completed" or run.client_reports or run.errors or run.resumes
        return 0 if bad else 1

    shown = sorted(runs, key=trouble)[:max_runs]
    more = len(runs) - len(shown)
    sections = "".join(_run_section(run) for run in shown)
    note = f"<p>{more:,} more runs not drawn (--max-runs).</p>" if more > 0 else ""
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width"><title>{_e(title)}</title>'
        f"<style>{_CSS}{_timeline_css()}</style></head><body>"
        f"<h1>{_e(title)}</h1><p>{len(runs):,} runs · generated {generated}</p>"
        f"{_summary(stats)}"
        "<h2>Time to first token</h2>"
        f'<div data-testid="ttft-histogram">{histogram_svg(ttft, label="first token")}</div>'
        "<h2>Tool latency</h2>"
        f'<div data-testid="tool-histogram">{histogram_svg(tool_ms, label="tool latency")}</div>'
        f"{_tool_table(stats)}"
        f'<h2>Runs</h2><div data-testid="runs">{sections}</div>{note}'
        "</body></html>\n"
    )


def _tool_table(stats: RecordingStats) -> str:
    if not stats.tool_latency_ms:
        return ""
    rows = "".join(
        f"<tr><td>{_e(name)}</td><td>{s['count']}</td><td>{_fmt_ms(s['p50'])}</td>"
        f"<td>{_fmt_ms(s['p95'])}</td><td>{_fmt_ms(s['p99'])}</td><td>{s['errors']}</td></tr>"
        for name, s in stats.tool_latency_ms.items()
    )
    return (
        "<table><tr><th>tool</th><th>calls</th><th>p50</th><th>p95</th><th>p99</th>"
        f"<th>failed</th></tr>{rows}</table>"
    )
