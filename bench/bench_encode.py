"""Encode an agent run into SSE frames: agent-stream's emitter vs the original and peers.

Every contender turns the same corpus (``bench/corpus.py``: ``corpus_events(n)``, ~92 % tokens)
into one SSE frame per event, in one process, round-robin, and the median of ``--rounds`` runs
is reported. Each run makes fresh emitters; GC is collected before and disabled during a run.
Contenders (``ids`` = frames carry ``id: <stream_id>:<seq>``):

- ``agent-stream str``: ``AgentStreamEmitter(stream_id)`` methods (``token(text)``, ...), ids;
- ``agent-stream emit_bytes``: ``emit_bytes(Type(**data))``, typed event built per call, ids;
- ``agent-event-stream 0.1.0``: the original emitter's methods (no ids: it has none);
- ``ag-ui EventEncoder``: ``EventEncoder().encode(event)`` with the AG-UI event built per call
  (``TextMessageContentEvent`` for token/thinking, ``ToolCallStartEvent``, ``CustomEvent`` for
  the rest); AG-UI frames have no ids;
- ``sse-starlette``: ``JSONServerSentEvent(data, event=, id=).encode()``, ids;
- ``fastapi format_sse_event``: ``format_sse_event(data_str=json.dumps(...), event=, id=)``, ids;
- ``f-string + json.dumps``: compact ``json.dumps(ensure_ascii=False)`` in an f-string, ids;
- ``orjson + header bytes``: ``b"id: %b\\nevent: %b\\ndata: %b\\n\\n" % (...)``, ids (a floor);
- ``agent-stream str (no ids)``: our emitter without a stream id, like the original's frames;
- ``harness floor``: the same call loop with a no-op method, to read the ratios against.

Run: ``.venv/bin/python bench/bench_encode.py [--events 100000] [--rounds 7] [--markdown]``
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import sys
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from types import ModuleType
from typing import Any

import orjson
from ag_ui.core import (
    CustomEvent,
    TextMessageContentEvent,
    ToolCallResultEvent,
    ToolCallStartEvent,
)
from ag_ui.encoder import EventEncoder
from fastapi.sse import format_sse_event
from sse_starlette.event import JSONServerSentEvent

from agent_stream.emitter import AgentStreamEmitter, new_stream_id
from agent_stream.events import EVENT_TYPES

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))

from corpus import corpus_events  # noqa: E402
from timing import measure  # noqa: E402

Corpus = list[tuple[str, dict[str, Any]]]

# Positional arguments of the original 0.1 API for each type, in signature order.
_ARGS: dict[str, Callable[[dict[str, Any]], tuple[Any, ...]]] = {
    "token": lambda d: (d["text"],),
    "thinking": lambda d: (d["text"],),
    "tool_use": lambda d: (d["tool_name"], d["tool_use_id"], d.get("input_summary", "")),
    "tool_result": lambda d: (
        d["tool_name"],
        d["tool_use_id"],
        d.get("output_summary", ""),
        d.get("duration_ms", 0),
        d.get("status") == "error",
    ),
    "turn": lambda d: (d["turn_number"], d.get("total_tools", 0)),
    "progress": lambda d: (d["step"], d["percentage"], d["message"], d.get("sub_progress")),
    "creation": lambda d: (
        d["creation_type"],
        d["count"],
        d.get("tool_use_id", ""),
        d.get("items"),
    ),
    "error": lambda d: (d["error_type"], d["message"], d.get("details")),
    "done": lambda d: tuple(
        d.get(k, v)
        for k, v in [
            ("message_id", ""),
            ("num_turns", 0),
            ("tool_count", 0),
            ("duration_ms", 0),
            ("model", ""),
            ("total_cost_usd", 0.0),
        ]
    ),
}


def load_original() -> ModuleType:
    base = Path(os.environ.get("AGENT_STREAM_ORIGINAL_DIR", ROOT / ".cache" / "original"))
    path = base / "agent_stream" / "emitter.py"
    if not path.is_file():
        sys.exit(f"{path} missing: run scripts/fetch-original.sh")
    spec = importlib.util.spec_from_file_location("_original_agent_stream_emitter", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def method_calls(corpus: Corpus) -> list[tuple[str, tuple[Any, ...]]]:
    """The corpus as original-API calls: (method name, positional args)."""
    return [(event_type, _ARGS[event_type](data)) for event_type, data in corpus]


def make_contenders(corpus: Corpus) -> dict[str, Callable[[], list[Any]]]:
    original = load_original()
    calls = method_calls(corpus)
    ours_calls = [(getattr(AgentStreamEmitter, name), args) for name, args in calls]
    original_calls = [(getattr(original.AgentStreamEmitter, name), args) for name, args in calls]
    typed = [(EVENT_TYPES[event_type], data) for event_type, data in corpus]
    sid = new_stream_id()

    def ours_str() -> list[Any]:
        emitter = AgentStreamEmitter(sid)
        return [method(emitter, *args) for method, args in ours_calls]

    def ours_str_plain() -> list[Any]:
        emitter = AgentStreamEmitter()
        return [method(emitter, *args) for method, args in ours_calls]

    def harness_floor() -> list[Any]:
        # The loop every method-based contender pays: a call per event that encodes nothing.
        def noop(emitter: object, *_args: object) -> object:
            return emitter

        emitter = AgentStreamEmitter(sid)
        return [noop(emitter, *args) for _method, args in ours_calls]

    def ours_bytes() -> list[Any]:
        emit = AgentStreamEmitter(sid).emit_bytes
        return [emit(cls(**data)) for cls, data in typed]

    def agent_event_stream() -> list[Any]:
        emitter = original.AgentStreamEmitter()
        return [method(emitter, *args) for method, args in original_calls]

    def ag_ui() -> list[Any]:
        encoder = EventEncoder()
        frames = []
        for event_type, data in corpus:
            if event_type in ("token", "thinking"):
                event: Any = TextMessageContentEvent(message_id="m1", delta=data["text"])
            elif event_type == "tool_use":
                event = ToolCallStartEvent(
                    tool_call_id=data["tool_use_id"], tool_call_name=data["tool_name"]
                )
            elif event_type == "tool_result":
                event = ToolCallResultEvent(
                    message_id="m1",
                    tool_call_id=data["tool_use_id"],
                    content=data.get("output_summary", ""),
                )
            else:
                event = CustomEvent(name=event_type, value=data)
            frames.append(encoder.encode(event))
        return frames

    def sse_starlette() -> list[Any]:
        return [
            JSONServerSentEvent(data, event=event_type, id=f"{sid}:{seq}").encode()
            for seq, (event_type, data) in enumerate(corpus, 1)
        ]

    def fastapi() -> list[Any]:
        dumps = json.dumps
        return [
            format_sse_event(
                data_str=dumps(data, ensure_ascii=False, separators=(",", ":")),
                event=event_type,
                id=f"{sid}:{seq}",
            )
            for seq, (event_type, data) in enumerate(corpus, 1)
        ]

    def fstring_json() -> list[Any]:
        dumps = json.dumps
        return [
            f"id: {sid}:{seq}\nevent: {event_type}\ndata: "
            f"{dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n"
            for seq, (event_type, data) in enumerate(corpus, 1)
        ]

    def orjson_bytes() -> list[Any]:
        dumps = orjson.dumps
        prefix = sid.encode()
        return [
            b"id: %b:%d\nevent: %b\ndata: %b\n\n" % (prefix, seq, event_type.encode(), dumps(data))
            for seq, (event_type, data) in enumerate(corpus, 1)
        ]

    return {
        "agent-stream str (ids)": ours_str,
        "agent-stream emit_bytes (ids)": ours_bytes,
        "agent-stream str (no ids)": ours_str_plain,
        "harness floor (no-op method)": harness_floor,
        "agent-event-stream 0.1.0": agent_event_stream,
        "ag-ui EventEncoder": ag_ui,
        "sse-starlette (ids)": sse_starlette,
        "fastapi format_sse_event (ids)": fastapi,
        "f-string + json.dumps (ids)": fstring_json,
        "orjson + header bytes (ids)": orjson_bytes,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--markdown", action="store_true", help="print a RESULTS.md table")
    args = parser.parse_args()

    corpus = corpus_events(args.events)
    contenders = make_contenders(corpus)
    times = measure(contenders, args.rounds)
    medians = {name: statistics.median(ts) for name, ts in times.items()}
    baseline = medians["agent-event-stream 0.1.0"]
    versions = ", ".join(
        f"{dist} {version(dist)}"
        for dist in ("msgspec", "ag-ui-protocol", "sse-starlette", "fastapi", "orjson")
    )
    print(
        f"# {len(corpus):,} events, median of {args.rounds} rounds, round-robin; "
        f"Python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs; "
        f"{versions}"
    )
    if args.markdown:
        print("| contender | events/s | vs agent-event-stream 0.1.0 |")
        print("| --- | ---: | ---: |")
    for name, median in sorted(medians.items(), key=lambda item: item[1]):
        rate = len(corpus) / median
        ratio = baseline / median
        if args.markdown:
            print(f"| {name} | {rate:,.0f} | {ratio:.2f}x |")
        else:
            print(f"{name:34} {rate:>12,.0f} events/s  {ratio:5.2f}x original")


if __name__ == "__main__":
    main()
