"""agent_stream.adapters.anthropic on the official SDK's own stream objects."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anthropic
import anyio
import httpx2
import pytest
from anthropic.types import MessageParam

from agent_stream import AgentEvent, Done, Error, Thinking, Token, ToolResult, ToolUse
from agent_stream.adapters import anthropic as adapter
from agent_stream.adapters import cost_usd
from agent_stream.adapters._usage import Price, Usage
from agent_stream.events import UNSET

from .conftest import (
    Recorded,
    anthropic_client,
    collect,
    cut_connection,
    folded,
    of_type,
    wire,
)

pytestmark = pytest.mark.anyio

MESSAGES: list[MessageParam] = [{"role": "user", "content": "What is 27 * 453?"}]


async def create_stream(name: str, seed: int = 0):
    client = anthropic_client(Recorded([wire(name)], seed=seed))
    return await client.messages.create(
        model="claude-sonnet-4-5", max_tokens=1024, messages=MESSAGES, stream=True
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
async def test_thinking_then_text_maps_to_thinking_and_tokens(seed):
    events = await collect(adapter.events(await create_stream("anthropic_thinking.sse", seed)))

    assert "".join(e.text for e in of_type(events, Thinking)) == (
        "The user wants 27 * 453. 27 * 453 = 12231."
    )
    assert [e.text for e in of_type(events, Token)] == ["27 \u00d7 453 = ", "**12,231** ✅", "\n"]
    done = events[-1]
    assert isinstance(done, Done) and len(of_type(events, Done)) == 1
    assert done.model == "claude-sonnet-4-5-20250929"
    assert done.message_id == "msg_01ThinkTxt"
    assert done.stop_reason == "end_turn"
    # Anthropic counts cached prompt tokens apart; done sums them into input_tokens
    assert (done.input_tokens, done.output_tokens) == (12 + 2048, 96)
    assert (done.cache_read_tokens, done.cache_write_tokens) == (2048, 0)
    assert done.total_cost_usd == pytest.approx((12 * 3 + 2048 * 0.30 + 96 * 15) / 1e6)
    assert done.reason is UNSET
    state = folded(events)
    assert state.text == "27 \u00d7 453 = **12,231** ✅\n" and state.is_done


async def test_the_message_stream_helper_gives_the_same_events():
    client = anthropic_client(Recorded([wire("anthropic_thinking.sse")]))
    async with client.messages.stream(
        model="claude-sonnet-4-5", max_tokens=1024, messages=MESSAGES
    ) as stream:
        helper_events = await collect(adapter.events(stream))
    raw_events = await collect(adapter.events(await create_stream("anthropic_thinking.sse")))

    def comparable(events: list[AgentEvent]) -> list[AgentEvent]:
        return [e for e in events if not isinstance(e, Done)]

    assert comparable(helper_events) == comparable(raw_events)


async def test_tool_input_fragments_become_one_tool_use_per_call_once_complete():
    events = await collect(adapter.events(await create_stream("anthropic_tools.sse", seed=5)))

    uses = of_type(events, ToolUse)
    assert [(u.tool_name, u.tool_use_id) for u in uses] == [
        ("get_weather", "toolu_01A09q90qw90lq917835lq9"),
        ("get_time", "toolu_01B7rPqXcW3nL8aD2fGhJkM"),
    ]
    assert uses[0].input == {"location": "San Francisco, CA", "unit": "celsius"}
    assert uses[0].input_summary == "location=San Francisco, CA, unit=celsius"
    assert uses[1].input == {"timezone": "America/Los_Angeles"}
    done = events[-1]
    assert isinstance(done, Done)
    assert done.stop_reason == "tool_use" and done.tool_count == 2
    assert (done.input_tokens, done.cache_write_tokens) == (472 + 1024, 1024)
    # the caller runs client tools: they stay active until done ends the run
    assert list(folded(events[:-1]).active_tools) == [u.tool_use_id for u in uses]


async def test_server_tool_call_result_and_citations():
    events = await collect(adapter.events(await create_stream("anthropic_web_search.sse", 3)))

    kinds = [e.type for e in events]
    assert kinds == ["token", "tool_use", "tool_result", "token", "done"]
    use, result = of_type(events, ToolUse)[0], of_type(events, ToolResult)[0]
    assert use.tool_name == "web_search" and use.input == {"query": "weather in Paris today"}
    assert result.tool_use_id == use.tool_use_id == "srvtoolu_014hJH82Qum7Td6UV8gDXThB"
    assert result.tool_name == "web_search" and result.status == "done"
    assert result.output_summary == "2 results" and result.duration_ms >= 0
    assert isinstance(result.output, list)
    assert result.output[0] == {
        "type": "web_search_result",
        "title": "Paris weather",
        "url": "https://weather.example/paris",
        "page_age": "3 hours ago",
    }
    done = events[-1]
    assert isinstance(done, Done)
    assert done.citations == [
        {
            "type": "web_search_result_location",
            "cited_text": "Sunny, high of 24 °C",
            "url": "https://weather.example/paris",
            "title": "Paris weather",
            "text_offset": len("Let me search for that."),
        }
    ]
    # message_delta may restate input usage (server tools): the latest values win
    assert (done.input_tokens, done.output_tokens) == (2679, 510)
    assert done.tool_count == 1
    state = folded(events)
    assert [t.tool_name for t in state.tools] == ["web_search"] and not state.active_tools


async def test_overloaded_error_mid_stream_becomes_error_then_done():
    events = await collect(adapter.events(await create_stream("anthropic_overloaded.sse")))

    assert [e.type for e in events] == ["token", "error", "done"]
    error = events[1]
    assert isinstance(error, Error)
    assert error.error_type == "overloaded_error" and error.message == "Overloaded"
    assert error.details["provider"] == "anthropic"
    done = events[2]
    assert isinstance(done, Done) and done.reason == "error"
    state = folded(events)
    assert state.text == "Once upon a" and state.error is not None and state.is_done


async def test_refusal_is_the_stop_reason():
    events = await collect(adapter.events(await create_stream("anthropic_refusal.sse")))

    assert [e.type for e in events] == ["done"]
    done = events[0]
    assert isinstance(done, Done) and done.stop_reason == "refusal"


async def test_a_price_table_override_sets_the_cost():
    prices = {"claude-sonnet": Price(input=10.0, output=100.0, cache_read=1.0, cache_write=20.0)}
    stream = await create_stream("anthropic_tools.sse")
    events = await collect(adapter.events(stream, prices=prices))
    done = events[-1]
    assert isinstance(done, Done)
    assert done.total_cost_usd == pytest.approx((472 * 10 + 1024 * 20 + 89 * 100) / 1e6)


def test_cost_of_an_unknown_model_is_zero_and_prefixes_pick_the_longest():
    usage = Usage(input_tokens=1_000_000, output_tokens=1_000_000)
    assert cost_usd(usage, "my-local-model") == 0.0
    assert cost_usd(usage, "claude-opus-4-5-20251101") == pytest.approx(30.0)
    assert cost_usd(usage, "claude-opus-4-1-20250805") == pytest.approx(90.0)


@pytest.mark.parametrize(
    ("model", "dollars"),
    [
        # each of these also starts with a cheaper model's prefix ("o3", "gpt-5", "o4-mini")
        ("o3-mini-2025-01-31", 1.10 + 4.40),
        ("o3-pro-2025-06-10", 20.0 + 80.0),
        ("gpt-5-pro-2025-10-06", 15.0 + 120.0),
        ("o4-mini-deep-research-2025-06-26", 2.0 + 8.0),
        ("o3-2025-04-16", 2.0 + 8.0),
    ],
)
def test_a_model_whose_name_extends_another_costs_its_own_price(model, dollars):
    usage = Usage(input_tokens=1_000_000, output_tokens=1_000_000)
    assert cost_usd(usage, model) == pytest.approx(dollars)


async def test_closing_early_closes_the_sdk_stream():
    stream = await create_stream("anthropic_thinking.sse")
    events = adapter.events(stream)
    first = await anext(events)
    assert isinstance(first, Thinking)
    await events.aclose()
    assert stream.response.is_closed


async def test_cancelling_the_run_closes_the_provider_response():
    body = wire("anthropic_thinking.sse")
    first_frame_end = body.index(b"\n\n") + 2
    reading, closed = anyio.Event(), anyio.Event()

    async def never_ends() -> AsyncIterator[bytes]:
        try:
            yield body[:first_frame_end]
            reading.set()  # the SDK asked for more: the stream is being iterated
            await anyio.sleep_forever()
        finally:
            closed.set()

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(
            200, headers={"content-type": "text/event-stream"}, content=never_ends()
        )

    client = anthropic.AsyncAnthropic(
        api_key="k", http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(handler))
    )
    stream = await client.messages.create(
        model="claude-sonnet-4-5", max_tokens=16, messages=MESSAGES, stream=True
    )

    async def run() -> None:
        async for _ in adapter.events(stream):
            pass

    with anyio.fail_after(10):
        async with anyio.create_task_group() as group:
            group.start_soon(run)
            await reading.wait()
            group.cancel_scope.cancel()
        await closed.wait()
    assert stream.response.is_closed


def before(name: str, marker: bytes) -> bytes:
    """The recorded body ``name`` up to (not including) the frame that holds ``marker``."""
    body = wire(name)
    return body[: body.rindex(b"\n\n", 0, body.index(marker)) + 2]


@pytest.mark.parametrize(
    ("chunked", "error_types"),
    # a cut chunked body: the SDK's exception, httpx's own before anthropic 2.17 and the SDK's
    # APIConnectionError from 2.17 on; a close-delimited body that just ends: ours
    [(True, {"RemoteProtocolError", "APIConnectionError"}), (False, {"incomplete-stream"})],
)
async def test_a_stream_cut_mid_answer_ends_in_error_then_done(chunked, error_types):
    # the proxy or the provider drops the connection after the first words: the chunked
    # transfer is cut (httpx2 raises), or a close-delimited body just ends (the SDK ends quietly)
    body = before("anthropic_thinking.sse", b'"text":"**12,231')
    async with cut_connection(body, chunked=chunked) as url:
        client = anthropic.AsyncAnthropic(api_key="k", base_url=url, max_retries=0)
        stream = await client.messages.create(
            model="claude-sonnet-4-5", max_tokens=1024, messages=MESSAGES, stream=True
        )
        with anyio.fail_after(10):
            events = await collect(adapter.events(stream))

    assert [e.type for e in events][-3:] == ["token", "error", "done"]
    error = events[-2]
    assert isinstance(error, Error) and error.error_type in error_types
    assert error.details["provider"] == "anthropic"
    done = events[-1]
    assert isinstance(done, Done) and done.reason == "error"
    # what the stream said before the cut is kept
    assert done.model == "claude-sonnet-4-5-20250929" and done.input_tokens == 12 + 2048
    assert folded(events).text == "27 \u00d7 453 = "
    assert stream.response.is_closed
