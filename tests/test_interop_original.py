"""Frames from agent-event-stream 0.1.0's emitter decode with our SSEDecoder and fold right.

The original is loaded by path from .cache/original/ (scripts/fetch-original.sh) or
$AGENT_STREAM_ORIGINAL_DIR; its import name is also ``agent_stream``, so it is never installed.
"""

from __future__ import annotations

import random
from types import ModuleType

import pytest

from agent_stream.events import parse_event
from agent_stream.sse import SSEDecoder
from agent_stream.state import StreamState


def original_run(module: ModuleType) -> bytes:
    emitter = module.AgentStreamEmitter()
    frames = [
        emitter.thinking("Planning… 🤔"),
        emitter.turn(1),
        emitter.token("Hello, "),
        emitter.token("wörld 😀\nnew line\r\nand \u2028 and \x00 and </script>"),
        emitter.tool_use("search", "tu_1", "query=ünï"),
        emitter.progress("search", 40, "Searching", {"pages": 2}),
        emitter.tool_use("fetch", "tu_2"),
        emitter.tool_result("search", "tu_1", "3 results", 120),
        emitter.creation("file", 1, "tu_1", [{"name": "a.txt"}]),
        emitter.turn(2, 2),
        emitter.token(" Done."),
        emitter.error("ToolError", "fetch failed", {"status": 502}),
        emitter.tool_result("fetch", "tu_2", "502", 30, True),
        emitter.done("msg_1", 2, 2, 1234, "model-x", 0.0042),
    ]
    return "".join(frames).encode("utf-8")


def fold_bytes(chunks: list[bytes]) -> StreamState:
    decoder = SSEDecoder()
    messages = []
    for chunk in chunks:
        messages.extend(decoder.feed(chunk))
    messages.extend(decoder.close())
    state = StreamState()
    for message in messages:
        assert message.id == ""  # the original sends no ids
        state = state.apply(parse_event(message.event, message.data))
    return state


def check(state: StreamState) -> None:
    assert state.text == "Hello, wörld 😀\nnew line\r\nand \u2028 and \x00 and </script> Done."
    assert state.thinking == "Planning… 🤔"
    assert state.is_done and not state.is_streaming
    assert state.done_reason == "completed"
    assert state.done is not None and state.done.total_cost_usd == 0.0042
    assert [(t.tool_use_id, t.status, t.duration_ms) for t in state.tools] == [
        ("tu_1", "done", 120),
        ("tu_2", "error", 30),
    ]
    assert state.tools[0].input_summary == "query=ünï"
    assert dict(state.active_tools) == {}
    assert state.turn == 2
    assert state.progress is not None and state.progress.sub_progress == {"pages": 2}
    assert state.error is not None and state.error.details == {"status": 502}
    assert len(state.creations) == 1


def test_whole(original_emitter_module: ModuleType) -> None:
    check(fold_bytes([original_run(original_emitter_module)]))


def test_byte_by_byte(original_emitter_module: ModuleType) -> None:
    data = original_run(original_emitter_module)
    check(fold_bytes([data[i : i + 1] for i in range(len(data))]))


@pytest.mark.parametrize("seed", range(20))
def test_random_splits(original_emitter_module: ModuleType, seed: int) -> None:
    data = original_run(original_emitter_module)
    rng = random.Random(seed)
    cuts = sorted(rng.sample(range(1, len(data)), rng.randint(1, 40)))
    chunks = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
    check(fold_bytes(chunks))


def test_crlf_line_ends_from_a_proxy(original_emitter_module: ModuleType) -> None:
    # Some proxies rewrite line ends; WHATWG SSE accepts CRLF and CR alike.
    data = original_run(original_emitter_module).replace(b"\n", b"\r\n")
    check(fold_bytes([data]))


def test_original_batcher_output_folds_to_the_same_text(
    original_emitter_module: ModuleType, original_batcher_module: ModuleType
) -> None:
    batcher = original_batcher_module.TokenBatcher(interval_ms=0)
    emitter = original_emitter_module.AgentStreamEmitter()
    frames = [emitter.token(out) for t in ["a", "b", "c"] if (out := batcher.add(t))]
    if rest := batcher.flush():
        frames.append(emitter.token(rest))
    frames.append(emitter.done())
    state = fold_bytes(["".join(frames).encode()])
    assert state.text == "abc"
    assert state.is_done
