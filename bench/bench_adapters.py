"""Adapter overhead: iterating an LLM SDK's stream through our adapter vs iterating it alone.

For each SDK (Anthropic Messages, OpenAI Chat Completions, OpenAI Responses) a recording of
10,000 SSE events, shaped as the API reference shows (mostly text deltas, some thinking, a tool
call whose JSON arrives in fragments, usage at the end), is served by the SDK's own HTTP library
(``httpx2.MockTransport``, 16 KiB chunks) to the official async client. Timed from the first
``__anext__`` to the end of the stream:

- ``sdk alone``: ``async for item in stream: pass``
- ``sdk + adapter``: ``async for event in adapter.events(stream): pass``
- ``adapter alone``: the adapter's mapper fed the same SDK objects, collected beforehand (what
  the adapter costs by itself, without the SDK's parsing in the same loop)

Times are CPU time of this process (``time.process_time``), not wall time: the machine is shared,
and CPU time leaves out the waits other processes cause. Target (issue #11): the adapter adds
at most 10 % to the SDK's own per-event cost. Rounds run
round-robin (order alternating), GC collected before and disabled during each run; the median
of ``--rounds`` is reported. ``--profile`` prints a cProfile of the adapter-alone case.

    .venv/bin/python bench/bench_adapters.py                 # 10,000 events, 7 rounds
    .venv/bin/python bench/bench_adapters.py --events 2000 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import functools
import gc
import json
import os
import platform
import pstats
import statistics
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from importlib.metadata import version
from typing import Any

import anthropic
import httpx2
import openai

from agent_stream.adapters import anthropic as anthropic_adapter
from agent_stream.adapters import openai as openai_adapter
from agent_stream.adapters.anthropic import AnthropicMapper
from agent_stream.adapters.openai import ChatMapper, ResponsesMapper

CHUNK = 16 * 1024
WORDS = ["The", " quick", " brown", " fox", " jumps", " över", " the", " lazy", " dog ✨", "\n"]


def _dumps(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def anthropic_recording(events: int) -> bytes:
    """message_start, 2 % thinking, text deltas, one tool call in 20 fragments, usage."""

    def frame(data: dict[str, Any]) -> str:
        return f"event: {data['type']}\ndata: {_dumps(data)}\n\n"

    def delta(index: int, body: dict[str, Any]) -> str:
        return frame({"type": "content_block_delta", "index": index, "delta": body})

    def block(index: int, body: dict[str, Any]) -> str:
        return frame({"type": "content_block_start", "index": index, "content_block": body})

    usage = {"input_tokens": 1200, "output_tokens": 1}
    message: dict[str, Any] = {
        "id": "msg_bench",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5-20250929",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": usage,
    }
    out = [frame({"type": "message_start", "message": message})]
    thinking = events // 50
    fragments = 20
    text = events - thinking - fragments - 11
    out.append(block(0, {"type": "thinking", "thinking": "", "signature": ""}))
    out += [
        delta(0, {"type": "thinking_delta", "thinking": f"step {i}. "}) for i in range(thinking)
    ]
    out.append(delta(0, {"type": "signature_delta", "signature": "EqQBCkgIARABGAIiQL2mAn5r"}))
    out.append(frame({"type": "content_block_stop", "index": 0}))
    out.append(block(1, {"type": "text", "text": ""}))
    out += [delta(1, {"type": "text_delta", "text": WORDS[i % 10]}) for i in range(text)]
    out.append(frame({"type": "content_block_stop", "index": 1}))
    out.append(block(2, {"type": "tool_use", "id": "toolu_bench", "name": "search", "input": {}}))
    arguments = _dumps({"query": "x" * 200})
    step = len(arguments) // fragments + 1
    out += [
        delta(2, {"type": "input_json_delta", "partial_json": arguments[i : i + step]})
        for i in range(0, len(arguments), step)
    ]
    out.append(frame({"type": "content_block_stop", "index": 2}))
    out.append(
        frame(
            {
                "type": "message_delta",
                "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                "usage": {"output_tokens": events},
            }
        )
    )
    out.append(frame({"type": "message_stop"}))
    return "".join(out).encode()


def chat_recording(events: int) -> bytes:
    """Content deltas, one tool call in 20 fragments, finish_reason, usage, [DONE]."""

    def chunk(delta: dict[str, Any], finish: str | None = None, usage: Any = None) -> str:
        choices = [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
        body = {
            "id": "chatcmpl-bench",
            "object": "chat.completion.chunk",
            "created": 1741570283,
            "model": "gpt-4o-mini-2024-07-18",
            "system_fingerprint": "fp_bench",
            "choices": [] if usage else choices,
            "usage": usage,
        }
        return f"data: {_dumps(body)}\n\n"

    fragments = 20
    text = events - fragments - 4
    out = [chunk({"role": "assistant", "content": ""})]
    out += [chunk({"content": WORDS[i % 10]}) for i in range(text)]
    call = {"index": 0, "id": "call_bench", "type": "function"}
    out.append(chunk({"tool_calls": [{**call, "function": {"name": "search", "arguments": ""}}]}))
    arguments = _dumps({"query": "x" * 200})
    step = len(arguments) // fragments + 1
    out += [
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": arguments[i : i + step]}}]})
        for i in range(0, len(arguments), step)
    ]
    out.append(chunk({}, "tool_calls"))
    usage = {"prompt_tokens": 1200, "completion_tokens": events, "total_tokens": 1200 + events}
    out.append(chunk({}, usage=usage))
    return ("".join(out) + "data: [DONE]\n\n").encode()


def responses_recording(events: int) -> bytes:
    """created, a reasoning summary (2 %), output_text deltas, a function call, completed."""
    seq = iter(range(10 * events))

    def frame(kind: str, **data: Any) -> str:
        body = {"type": kind, **data, "sequence_number": next(seq)}
        return f"event: {kind}\ndata: {_dumps(body)}\n\n"

    response = {
        "id": "resp_bench",
        "object": "response",
        "created_at": 1741476542,
        "status": "in_progress",
        "model": "gpt-4.1-2025-04-14",
        "output": [],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": None,
        "error": None,
        "incomplete_details": None,
        "instructions": None,
        "metadata": {},
    }
    reasoning = events // 50
    fragments = 20
    text = events - reasoning - fragments - 8
    out = [frame("response.created", response=response)]
    out.append(
        frame(
            "response.output_item.added",
            output_index=0,
            item={"id": "rs_b", "type": "reasoning", "summary": []},
        )
    )
    out += [
        frame(
            "response.reasoning_summary_text.delta",
            item_id="rs_b",
            output_index=0,
            summary_index=0,
            delta=f"step {i}. ",
        )
        for i in range(reasoning)
    ]
    message = {
        "id": "msg_b",
        "type": "message",
        "status": "in_progress",
        "role": "assistant",
        "content": [],
    }
    out.append(frame("response.output_item.added", output_index=1, item=message))
    out += [
        frame(
            "response.output_text.delta",
            item_id="msg_b",
            output_index=1,
            content_index=0,
            delta=WORDS[i % 10],
            logprobs=[],
        )
        for i in range(text)
    ]
    call = {
        "id": "fc_b",
        "type": "function_call",
        "status": "in_progress",
        "arguments": "",
        "call_id": "call_b",
        "name": "search",
    }
    out.append(frame("response.output_item.added", output_index=2, item=call))
    arguments = _dumps({"query": "x" * 200})
    step = len(arguments) // fragments + 1
    out += [
        frame(
            "response.function_call_arguments.delta",
            item_id="fc_b",
            output_index=2,
            delta=arguments[i : i + step],
        )
        for i in range(0, len(arguments), step)
    ]
    out.append(
        frame(
            "response.function_call_arguments.done",
            item_id="fc_b",
            output_index=2,
            arguments=arguments,
        )
    )
    out.append(
        frame(
            "response.output_item.done",
            output_index=2,
            item={**call, "status": "completed", "arguments": arguments},
        )
    )
    usage = {
        "input_tokens": 1200,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": events,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 1200 + events,
    }
    out.append(
        frame("response.completed", response={**response, "status": "completed", "usage": usage})
    )
    return "".join(out).encode()


def _http(body: bytes) -> httpx2.AsyncClient:
    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), CHUNK):
            yield body[start : start + CHUNK]

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=chunks())

    return httpx2.AsyncClient(transport=httpx2.MockTransport(handler))


Opener = Callable[[bytes], Awaitable[Any]]


async def open_anthropic(body: bytes) -> Any:
    client = anthropic.AsyncAnthropic(api_key="k", http_client=_http(body), max_retries=0)
    return await client.messages.create(
        model="claude-sonnet-4-5",
        max_tokens=64,
        messages=[{"role": "user", "content": "x"}],
        stream=True,
    )


async def open_chat(body: bytes) -> Any:
    client = openai.AsyncOpenAI(api_key="k", http_client=_http(body), max_retries=0)
    return await client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}], stream=True
    )


async def open_responses(body: bytes) -> Any:
    client = openai.AsyncOpenAI(api_key="k", http_client=_http(body), max_retries=0)
    return await client.responses.create(model="gpt-4.1", input="x", stream=True)


@dataclass(frozen=True)
class Case:
    name: str
    body: bytes
    opener: Opener
    adapter: Callable[[Any], AsyncIterator[Any]]
    mapper: Callable[[], Any]


async def time_sdk_alone(case: Case) -> tuple[float, int]:
    stream = await case.opener(case.body)
    count = 0
    start = time.process_time()
    async for _ in stream:
        count += 1
    return time.process_time() - start, count


async def time_with_adapter(case: Case) -> tuple[float, int]:
    stream = await case.opener(case.body)
    count = 0
    start = time.process_time()
    async for _ in case.adapter(stream):
        count += 1
    return time.process_time() - start, count


async def collect_items(case: Case) -> list[Any]:
    stream = await case.opener(case.body)
    return [item async for item in stream]


def time_mapper(case: Case, items: Sequence[Any]) -> float:
    mapper = case.mapper()
    feed = mapper.feed
    start = time.process_time()
    for item in items:
        for _ in feed(item):
            pass
    mapper.finish()
    return time.process_time() - start


def _run_once(
    loop: asyncio.AbstractEventLoop,
    timer: Callable[[Case], Awaitable[tuple[float, int]]],
    case: Case,
) -> float:
    return loop.run_until_complete(timer(case))[0]


def measured(run: Callable[[], float]) -> float:
    gc.collect()
    gc.disable()
    try:
        return run()
    finally:
        gc.enable()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--profile", action="store_true", help="cProfile the adapter-alone runs")
    args = parser.parse_args(argv)

    cases = [
        Case(
            "Anthropic Messages",
            anthropic_recording(args.events),
            open_anthropic,
            anthropic_adapter.events,
            AnthropicMapper,
        ),
        Case(
            "OpenAI Chat Completions",
            chat_recording(args.events),
            open_chat,
            openai_adapter.events,
            ChatMapper,
        ),
        Case(
            "OpenAI Responses",
            responses_recording(args.events),
            open_responses,
            openai_adapter.events,
            ResponsesMapper,
        ),
    ]
    loop = asyncio.new_event_loop()
    items = {case.name: loop.run_until_complete(collect_items(case)) for case in cases}
    results: dict[str, dict[str, list[float]]] = {
        c.name: {"alone": [], "adapter": [], "mapper": []} for c in cases
    }
    for round_index in range(args.rounds):
        for case in cases:
            order = ["alone", "adapter"] if round_index % 2 == 0 else ["adapter", "alone"]
            for which in order:
                timer = time_sdk_alone if which == "alone" else time_with_adapter
                run_async = functools.partial(_run_once, loop, timer, case)
                results[case.name][which].append(measured(run_async))
            run_mapper = functools.partial(time_mapper, case, items[case.name])
            results[case.name]["mapper"].append(measured(run_mapper))
    loop.close()

    load = os.getloadavg()[0]
    print(
        f"Python {platform.python_version()}, anthropic {version('anthropic')}, "
        f"openai {version('openai')}, httpx2 {version('httpx2')}, pydantic {version('pydantic')}; "
        f"{args.events:,} events per recording, median of {args.rounds}; load average {load:.1f}"
    )
    print()
    print(
        "| SDK stream | SDK events | sdk alone µs/event | sdk + adapter µs/event | added "
        "| adapter alone µs/event | adapter alone / sdk |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for case in cases:
        n = len(items[case.name])
        alone = statistics.median(results[case.name]["alone"]) / n * 1e6
        both = statistics.median(results[case.name]["adapter"]) / n * 1e6
        mapper = statistics.median(results[case.name]["mapper"]) / n * 1e6
        print(
            f"| {case.name} | {n:,} | {alone:.2f} | {both:.2f} | {(both - alone) / alone:+.1%} "
            f"| {mapper:.3f} | {mapper / alone:.1%} |"
        )
    if args.profile:
        for case in cases:
            profile = cProfile.Profile()
            profile.enable()
            for _ in range(5):
                time_mapper(case, items[case.name])
            profile.disable()
            print(f"\n## {case.name}: adapter alone, cProfile of 5 runs")
            pstats.Stats(profile, stream=sys.stdout).sort_stats("tottime").print_stats(8)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
