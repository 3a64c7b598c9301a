"""The chaos soak's configuration and result: totals, RSS growth after warm-up, the table."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from bench.soak_check import Tally

__all__ = ["RUN_DEADLINE_S", "SoakConfig", "SoakResult"]

RUN_DEADLINE_S = 180.0  # one run, faults included; longer is a hang, reported as such


@dataclass
class SoakConfig:
    duration_s: float = 1800.0
    clients: int = 8
    seed: int = 17
    tokens: tuple[int, int] = (10, 60)
    delay_ms: tuple[int, int] = (2, 20)
    ask_rate: float = 0.2
    stop_rate: float = 0.1
    cut_every_s: float = 2.0
    kill_every_s: float = 120.0
    redis_every_s: float = 150.0
    lease_s: float = 2.0
    warmup_s: float | None = None  # RSS baseline after this; default a fifth of the soak
    rss_limit: float | None = 0.10
    verbose: bool = False


@dataclass
class SoakResult:
    config: SoakConfig
    tally: Tally = field(default_factory=Tally)
    cuts: int = 0
    kills: int = 0
    redis_restarts: int = 0
    redis_crashes: int = 0
    resumes: int = 0
    stops: int = 0
    stops_refused: int = 0
    answers: int = 0
    answers_refused: int = 0
    hung: int = 0
    streams_stored: int = 0
    unseen_streams: int = 0
    unseen_with_events: int = 0
    elapsed_s: float = 0.0
    rss: dict[str, list[tuple[float, int]]] = field(default_factory=dict)
    load: str = ""

    def rss_growth(self, name: str) -> tuple[int, int, float] | None:
        """(baseline, end, growth) of a worker: medians of the minute after warm-up and the
        last minute."""
        samples = self.rss.get(name, [])
        warmup = self.config.warmup_s
        if warmup is None:
            warmup = self.config.duration_s / 5
        base = [rss for t, rss in samples if warmup <= t < warmup + 60]
        last_t = samples[-1][0] if samples else 0.0
        end = [rss for t, rss in samples if t >= max(warmup + 60, last_t - 60)]
        if not base or not end:
            return None
        b, e = int(statistics.median(base)), int(statistics.median(end))
        return b, e, e / b - 1

    def violations(self) -> list[str]:
        found = list(self.tally.details)
        if self.hung:
            found.append(f"{self.hung} runs did not end within {RUN_DEADLINE_S:.0f} s")
        if self.config.rss_limit is not None:
            growth = self.rss_growth("worker 0")
            if growth is not None and growth[2] > self.config.rss_limit:
                found.append(f"worker 0 RSS grew {growth[2]:.1%} after warm-up")
        if self.tally.violations and not self.tally.details:
            found.append(f"{self.tally.violations} violations")
        return found

    def table(self) -> str:
        t = self.tally
        rows = [
            ("duration", f"{self.elapsed_s:.0f} s, {self.config.clients} clients"),
            ("runs checked", f"{t.runs:,}"),
            ("endings", ", ".join(f"{k} {v:,}" for k, v in sorted(t.endings.items()))),
            ("events stored", f"{t.events:,}"),
            ("proxy cuts", f"{self.cuts:,}"),
            ("worker SIGKILLs + restarts", str(self.kills)),
            ("redis restarts (of them SIGKILL)", f"{self.redis_restarts} ({self.redis_crashes})"),
            ("client resumes", f"{self.resumes:,}"),
            ("stops sent", f"{self.stops:,} ({self.stops_refused} refused)"),
            ("answers sent", f"{self.answers:,} ({self.answers_refused} refused)"),
            ("lost", str(t.lost)),
            ("duplicated", str(t.duplicated)),
            ("reordered / altered", f"{t.reordered} / {t.mismatched}"),
            ("stored gaps / script breaks", f"{t.gaps} / {t.script_violations}"),
            ("runs with dones != 1", str(t.done_violations)),
            (
                "clients that gave up / raised / hung",
                f"{t.gave_up} / {t.client_errors} / {self.hung}",
            ),
            (
                "streams in Redis / no client read (with agent events)",
                f"{self.streams_stored:,} / {self.unseen_streams} ({self.unseen_with_events})",
            ),
        ]
        if "worker 0" in self.rss:
            samples = self.rss["worker 0"]
            text = f"{samples[0][1] / 2**20:.1f} -> {samples[-1][1] / 2**20:.1f} MiB"
            growth = self.rss_growth("worker 0")
            if growth is not None:
                text += (
                    f"; after warm-up {growth[0] / 2**20:.1f} -> {growth[1] / 2**20:.1f} MiB"
                    f" ({growth[2]:+.1%})"
                )
            rows.append(("RSS worker 0 (never killed)", text))
        lives = [samples for name, samples in self.rss.items() if name.startswith("worker 1")]
        if lives:
            first = min(rss for samples in lives for _, rss in samples[:1])
            last = max(rss for samples in lives for _, rss in samples[-1:])
            rows.append(
                (
                    "RSS worker 1 (killed and restarted)",
                    f"{len(lives)} lives; first sample >= {first / 2**20:.1f} MiB, "
                    f"last sample <= {last / 2**20:.1f} MiB",
                )
            )
        rows.append(("load average", self.load))
        lines = ["| | |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows)]
        return "\n".join(lines)
