"""Bridge encode throughput: our events -> AG-UI frames and -> AI SDK chunks, against peers.

Every contender turns the same run (``bench/corpus.py``: ``corpus_events(n)``, ~92 % tokens) into
wire bytes, in one process, round-robin, ``--rounds`` times, timed in this process's CPU time
(``time.process_time``: on a shared machine other processes do not add to it, as they do to
wall time). Events/s from the median time; ratios are the median of each round's ratio. Fresh
encoders per run, GC collected before and disabled during a run. Two input shapes, as a server
meets them:

- **stored**: ``(seq, type, compact JSON data)`` as the store holds them (what a resume or a
  second process reads);
- **typed**: the agent's typed events (``Token(...)``), as a run produces them.

Contenders:

- ``AG-UI bridge``: :class:`AGUIEncoder` (``encode`` / ``encode_event``), frames with our ids;
- ``ag-ui EventEncoder + pydantic``: a bridge written with ag-ui-protocol: our data decoded
  (``json.loads``, stored input only), then for each AG-UI event the same bridge emits, its
  pydantic model built (``TextMessageContentEvent(**fields)``, ...) and ``EventEncoder().encode``
  d. The mapping itself is precomputed and not timed (the peer gets it for free); no ids;
- ``AI SDK bridge``: :class:`AISDKEncoder`, UI message stream chunks with our ids;
- ``our framing``: our own SSE frames for the same events (``encode_frame_bytes`` for stored
  input, ``AgentStreamEmitter.emit_bytes`` for typed input), ids.

Run: ``.venv/bin/python bench/bench_bridges.py [--events 100000] [--rounds 7] [--markdown]
[--no-message-ids]`` (the corpus's tokens carry a ``message_id``; most adapters send none).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

from ag_ui.core import Event
from ag_ui.encoder import EventEncoder
from pydantic import TypeAdapter

from agent_stream.bridges.ag_ui import AGUIEncoder
from agent_stream.bridges.ai_sdk import AISDKEncoder
from agent_stream.emitter import AgentStreamEmitter
from agent_stream.events import AgentEvent, Thinking, Token, encode_data, parse_event
from agent_stream.framing import encode_frame_bytes

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from corpus import DEFAULT_STREAM_ID, corpus_events  # noqa: E402
from timing import measure  # noqa: E402

SID = DEFAULT_STREAM_ID
Stored = list[tuple[int, str, bytes]]


def stored_run(n: int, *, message_ids: bool = True) -> Stored:
    events = [parse_event(event_type, data) for event_type, data in corpus_events(n)]
    if not message_ids:  # as most adapters stream: tokens and thinking carry none
        events = [
            type(event)(text=event.text) if isinstance(event, Token | Thinking) else event
            for event in events
        ]
    return [(seq, event.type, encode_data(event)) for seq, event in enumerate(events, 1)]


def pydantic_plan(stored: Stored) -> list[list[tuple[type[Any], dict[str, Any]]]]:
    """For each of our events, the AG-UI events our bridge emits, as (model class, fields)."""
    adapter: TypeAdapter[Any] = TypeAdapter(Event)
    encoder = AGUIEncoder(SID, thread_id="t", run_id="r")
    plan = []
    for seq, event_type, data in stored:
        models = []
        for line in encoder.encode(seq, event_type, data).split(b"\n"):
            if line.startswith(b"data: "):
                fields = json.loads(line[6:])
                model = type(adapter.validate_python(fields))
                del fields["type"]
                models.append((model, fields))
        plan.append(models)
    return plan


def make_contenders(stored: Stored, typed: list[AgentEvent]) -> dict[str, Callable[[], object]]:
    plan = pydantic_plan(stored)

    def ag_ui_stored() -> object:
        encode = AGUIEncoder(SID, thread_id="t", run_id="r").encode
        return [encode(seq, event_type, data) for seq, event_type, data in stored]

    def ag_ui_typed() -> object:
        encode = AGUIEncoder(SID, thread_id="t", run_id="r").encode_event
        return [encode(seq, event) for seq, event in enumerate(typed, 1)]

    def event_encoder(*, decode: bool) -> Callable[[], object]:
        def run() -> object:
            encode = EventEncoder().encode
            loads = json.loads
            out = []
            for (_, _, data), models in zip(stored, plan, strict=True):
                if decode:
                    loads(data)
                out.append("".join([encode(model(**fields)) for model, fields in models]))
            return out

        return run

    def ai_sdk_stored() -> object:
        encode = AISDKEncoder(SID).encode
        return [encode(seq, event_type, data) for seq, event_type, data in stored]

    def ai_sdk_typed() -> object:
        encode = AISDKEncoder(SID).encode_event
        return [encode(seq, event) for seq, event in enumerate(typed, 1)]

    def framing_stored() -> object:
        return [
            encode_frame_bytes(event_type, data, f"{SID}:{seq}") for seq, event_type, data in stored
        ]

    def framing_typed() -> object:
        emit = AgentStreamEmitter(SID).emit_bytes
        return [emit(event) for event in typed]

    return {
        "stored: AG-UI bridge (ids)": ag_ui_stored,
        "stored: ag-ui EventEncoder + pydantic (no ids)": event_encoder(decode=True),
        "stored: AI SDK bridge (ids)": ai_sdk_stored,
        "stored: our framing (ids)": framing_stored,
        "typed: AG-UI bridge (ids)": ag_ui_typed,
        "typed: ag-ui EventEncoder + pydantic (no ids)": event_encoder(decode=False),
        "typed: AI SDK bridge (ids)": ai_sdk_typed,
        "typed: our framing (ids)": framing_typed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--markdown", action="store_true", help="print RESULTS.md tables")
    parser.add_argument(
        "--no-message-ids", action="store_true", help="tokens and thinking without message_id"
    )
    args = parser.parse_args()

    stored = stored_run(args.events, message_ids=not args.no_message_ids)
    typed = [parse_event(event_type, data) for _, event_type, data in stored]
    times = measure(make_contenders(stored, typed), args.rounds, clock=time.process_time)
    versions = ", ".join(
        f"{dist} {version(dist)}" for dist in ("msgspec", "ag-ui-protocol", "pydantic")
    )
    print(
        f"# {len(stored):,} events, {args.rounds} rounds of CPU time, round-robin; "
        f"Python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs; "
        f"{versions}; load average {os.getloadavg()[0]:.1f}"
    )
    for shape in ("stored", "typed"):
        rows = {name: ts for name, ts in times.items() if name.startswith(shape)}
        peer = rows[f"{shape}: ag-ui EventEncoder + pydantic (no ids)"]
        framing = rows[f"{shape}: our framing (ids)"]
        if args.markdown:
            print(f"\n| {shape} input | events/s | vs EventEncoder | time vs our framing |")
            print("| --- | ---: | ---: | ---: |")
        for name, ts in sorted(rows.items(), key=lambda item: statistics.median(item[1])):
            rate, label = len(stored) / statistics.median(ts), name.split(": ", 1)[1]
            # ratios of the same round's times, then their median: the runs of one round are
            # seconds apart, so a change in the machine's load moves both
            speedup, slowdown = ratio(peer, ts), ratio(ts, framing)
            if args.markdown:
                print(f"| {label} | {rate:,.0f} | {speedup:.2f}x | {slowdown:.2f}x |")
            else:
                print(
                    f"{name:48} {rate:>11,.0f} events/s  {speedup:5.2f}x EventEncoder  "
                    f"{slowdown:5.2f}x framing time"
                )


def ratio(numerators: list[float], denominators: list[float]) -> float:
    """The median of the rounds' ratios."""
    return statistics.median(a / b for a, b in zip(numerators, denominators, strict=True))


if __name__ == "__main__":
    main()
