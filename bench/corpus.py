"""The agent-run corpus every benchmark shares: deterministic, seeded, no agent-stream imports.

``corpus_events(n)`` returns ``n`` ``(type, data)`` pairs shaped like a long agent run: about
92 % ``token`` events of 1-8 words (accents, CJK, emoji and the odd newline, so parsers meet
multibyte UTF-8 and JSON escapes), ``thinking`` bursts, a ``tool_use`` / ``tool_result`` /
``turn`` cycle roughly every 200 tokens, some ``progress``, and exactly one final ``done``.
Data dicts use the field names of the wire contract (``spec/PROTOCOL.md``).

``corpus_sse_bytes(n, stream_id=...)`` frames the same events as the wire does
(``id: <sid>:<seq>\\nevent: <type>\\ndata: <compact JSON>\\n\\n``), built with ``json.dumps``,
not with agent-stream's encoder, so the parse benchmark does not depend on the code it measures.

The API (names, arguments, the seed) is stable: encode, parse, server and client benchmarks all
import it, and equal inputs keep their numbers comparable.
"""

from __future__ import annotations

import json
import random
from typing import Any

__all__ = ["DEFAULT_STREAM_ID", "corpus_events", "corpus_frames", "corpus_sse_bytes"]

SEED = 20240917
DEFAULT_STREAM_ID = "bench0corpus0stream0id0"  # 23 URL-safe chars, like a real stream id

_WORDS = (
    "the agent reads the file and then calls a tool to search for the answer "
    "we stream every token as soon as the model produces it so users see progress "
    "résumé naïve café façade über straße déjà año "
    "東京 数据 流式 代理 ストリーム トークン "
    "🙂 🚀 ✨ 👍🏽 🧠 🔧 "
    "def return await async yield json http sse"
).split()
_TOOLS = ("search", "read_file", "write_file", "run_tests", "web_fetch", "grep")
_STEPS = ("planning", "searching", "reading", "editing", "testing", "summarising")

_FIVE_PERCENT = 0.05


def _text(rng: random.Random) -> str:
    words = rng.choices(_WORDS, k=rng.randint(1, 8))
    text = " ".join(words)
    roll = rng.random()
    if roll < _FIVE_PERCENT:
        text += "\n"  # a paragraph break inside a token: JSON-escaped on the wire
    elif roll < 2 * _FIVE_PERCENT:
        text += '\n\n"quoted"\t'
    return text if rng.random() < 0.5 else " " + text


def corpus_events(n: int = 100_000) -> list[tuple[str, dict[str, Any]]]:
    """``n`` events of an agent run as ``(type, data)``; the last one is ``done``."""
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    rng = random.Random(SEED)
    out: list[tuple[str, dict[str, Any]]] = []
    message_id = "msg_01"
    turn = 0
    tools = 0
    next_tool = rng.randint(150, 250)
    tokens_since_tool = 0
    thinking_left = 0
    while len(out) < n - 1:
        roll = rng.random()
        if thinking_left:
            thinking_left -= 1
            out.append(("thinking", {"text": _text(rng), "message_id": message_id}))
        elif tokens_since_tool >= next_tool:
            tools += 1
            turn += 1
            tool = rng.choice(_TOOLS)
            tool_id = f"toolu_{tools:05d}"
            summary = " ".join(rng.choices(_WORDS, k=4))
            out.append(
                (
                    "tool_use",
                    {
                        "tool_name": tool,
                        "tool_use_id": tool_id,
                        "input_summary": summary,
                        "status": "running",
                        "input": {"query": summary, "limit": rng.randint(1, 50)},
                    },
                )
            )
            out.append(
                (
                    "tool_result",
                    {
                        "tool_name": tool,
                        "tool_use_id": tool_id,
                        "output_summary": " ".join(rng.choices(_WORDS, k=6)),
                        "duration_ms": rng.randint(5, 3000),
                        "status": "error" if rng.random() < 0.05 else "done",
                    },
                )
            )
            out.append(("turn", {"turn_number": turn, "total_tools": tools}))
            tokens_since_tool = 0
            next_tool = rng.randint(150, 250)
        elif roll < 0.0025:
            thinking_left = rng.randint(10, 40)  # a burst of thinking deltas
        elif roll < 0.0105:
            step = rng.choice(_STEPS)
            out.append(
                (
                    "progress",
                    {
                        "step": step,
                        "percentage": round(100 * len(out) / n, 1),
                        "message": f"{step} ({len(out)} events so far)",
                    },
                )
            )
        else:
            tokens_since_tool += 1
            out.append(("token", {"text": _text(rng), "message_id": message_id}))
    del out[n - 1 :]
    out.append(
        (
            "done",
            {
                "message_id": message_id,
                "num_turns": turn,
                "tool_count": tools,
                "duration_ms": 61_234,
                "model": "bench-model-1",
                "total_cost_usd": 0.4242,
                "reason": "completed",
            },
        )
    )
    return out


def corpus_frames(n: int = 100_000, stream_id: str = DEFAULT_STREAM_ID) -> list[bytes]:
    """The corpus as one SSE frame (``bytes``) per event, ids ``<stream_id>:1`` upwards."""
    dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
    return [
        f"id: {stream_id}:{seq}\nevent: {kind}\ndata: {dumps(data)}\n\n".encode()
        for seq, (kind, data) in enumerate(corpus_events(n), 1)
    ]


def corpus_sse_bytes(n: int = 100_000, stream_id: str = DEFAULT_STREAM_ID) -> bytes:
    """The whole corpus as one SSE byte stream (see the module docstring for the framing)."""
    return b"".join(corpus_frames(n, stream_id))


if __name__ == "__main__":
    from collections import Counter

    events = corpus_events()
    print(Counter(kind for kind, _ in events))
    body = corpus_sse_bytes()
    print(f"{len(body)} bytes, {len(body) / len(events):.1f} bytes/event")
