"""The chaos soak's per-run check: what a client received against what Redis stored.

A run passes when the stored stream is gap-free (seq 1..n), ends with exactly one ``done`` and
holds the agent's script (``soak_app.script``) as a prefix - all of it unless the run was
stopped or its worker was killed; and when the client received every stored event exactly once,
in seq order, each equal to the stored one (a stopped run's client may end early, with a
synthetic ``done``, but never with a wrong or repeated event).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from itertools import pairwise

from agent_stream.events import Done, Error, Token, UnsetType, parse_event
from agent_stream.resume import StreamEvent

__all__ = ["RunRecord", "Tally", "check_run"]

MAX_DETAILS = 30


@dataclass
class RunRecord:
    """One run as the client saw it, plus what it asked for."""

    run: str
    script: list[str]
    stopped: bool
    stream_id: str | None = None
    received: list[StreamEvent] = field(default_factory=list)
    synthetic: StreamEvent | None = None
    failure: str = ""
    answered: bool = False
    refused_answer: str = ""
    error: str = ""


@dataclass
class Tally:
    """Totals over all runs; ``details`` holds the first violations, one line each."""

    runs: int = 0
    events: int = 0
    endings: Counter[str] = field(default_factory=Counter)
    lost: int = 0
    duplicated: int = 0
    reordered: int = 0
    mismatched: int = 0
    gaps: int = 0
    script_violations: int = 0
    done_violations: int = 0
    gave_up: int = 0
    client_errors: int = 0
    details: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def violation(self, record: RunRecord, what: str) -> None:
        if len(self.details) < MAX_DETAILS:
            self.details.append(
                f"run {record.run} stream {record.stream_id}: {what}"
                + (f" (client failure: {record.failure})" if record.failure else "")
            )

    @property
    def violations(self) -> int:
        return (
            self.lost
            + self.duplicated
            + self.reordered
            + self.mismatched
            + self.gaps
            + self.script_violations
            + self.done_violations
            + self.gave_up
            + self.client_errors
        )


def _reason(done: Done) -> str:
    return "completed" if isinstance(done.reason, UnsetType) else done.reason


def check_run(tally: Tally, record: RunRecord, stored: list[tuple[int, str, bytes]]) -> None:
    """Fold one finished run into ``tally``; ``stored`` is (seq, type, data) from Redis."""
    tally.runs += 1
    tally.events += len(stored)
    seqs = [seq for seq, _, _ in stored]
    if seqs != list(range(1, len(stored) + 1)):
        tally.gaps += 1
        tally.violation(record, f"stored seqs are not 1..n: {seqs[:5]}..{seqs[-5:]}")
    by_seq = {seq: parse_event(kind, data) for seq, kind, data in stored}
    dones = [seq for seq, kind, _ in stored if kind == "done"]
    if len(dones) != 1 or dones[0] != len(stored):
        tally.done_violations += 1
        tally.violation(record, f"stored done at seqs {dones} of {len(stored)}")
        return
    done = by_seq[dones[0]]
    assert isinstance(done, Done)
    reason = _reason(done)
    tally.endings[reason] += 1
    if reason == "error" and len(tally.notes) < MAX_DETAILS:
        errors = [event for event in by_seq.values() if isinstance(event, Error)]
        what = f"{errors[-1].error_type}: {errors[-1].message}" if errors else "no error event"
        tally.notes.append(f"run {record.run} stream {record.stream_id} ended in error: {what}")
    texts = [event.text for event in by_seq.values() if isinstance(event, Token)]
    full = reason == "completed"
    if texts != record.script[: len(texts)] or (full and len(texts) != len(record.script)):
        tally.script_violations += 1
        tally.violation(record, f"{reason} run stored tokens {texts[:3]}..{texts[-3:]}")
    if reason == "cancelled" and not record.stopped:
        tally.script_violations += 1
        tally.violation(record, "cancelled without a stop")

    got = [event.seq for event in record.received if event.seq is not None]
    counts = Counter(got)
    duplicated = sum(n - 1 for n in counts.values() if n > 1)
    if duplicated:
        tally.duplicated += duplicated
        tally.violation(record, f"{duplicated} events received twice")
    if any(b <= a for a, b in pairwise(got)):
        tally.reordered += 1
        tally.violation(record, "events received out of seq order")
    for event in record.received:
        if event.seq is None or by_seq.get(event.seq) != event.event:
            tally.mismatched += 1
            tally.violation(record, f"received seq {event.seq} {event.type} differs from stored")
            break
    missing = sorted(set(by_seq) - set(got))
    received_dones = sum(1 for event in record.received if event.type == "done")
    if record.synthetic is not None and received_dones:
        tally.done_violations += 1
        tally.violation(record, "client gave the server's done, then a synthetic one")
    elif record.synthetic is None:
        if received_dones != 1:
            tally.done_violations += 1
            tally.violation(record, f"client received {received_dones} dones")
        if missing:
            tally.lost += len(missing)
            tally.violation(record, f"{len(missing)} stored events never received: {missing[:5]}")
    elif not record.stopped:
        # the client gave up on a run nobody stopped: everything it did not show is lost
        tally.gave_up += 1
        tally.lost += len(missing)
        tally.violation(record, f"client gave up; {len(missing)} stored events not received")
    elif got != list(range(1, len(got) + 1)):
        tally.lost += 1
        tally.violation(record, f"stopped run received a gap: {got[:5]}..{got[-5:]}")
