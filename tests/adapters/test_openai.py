"""agent_stream.adapters.openai on the official SDK's own Chat Completions and Responses objects."""

from __future__ import annotations

import base64
import random

import anyio
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from agent_stream import Done, Error, Thinking, Token, ToolResult, ToolUse
from agent_stream.adapters import openai as adapter
from agent_stream.events import DEFAULT_MAX_EVENT_BYTES, UNSET, encode_data

from .conftest import Recorded, collect, cut_connection, folded, of_type, openai_client, wire

pytestmark = pytest.mark.anyio

MESSAGES: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Hello"}]


async def chat_stream(name: str, seed: int = 0, base_url: str | None = None):
    recorded = Recorded([wire(name)], seed=seed)
    client = openai_client(recorded, base_url=base_url)
    stream = await client.chat.completions.create(
        model="gpt-4o-mini",
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
    )
    return stream, recorded


async def responses_stream(name: str, seed: int = 0):
    client = openai_client(Recorded([wire(name)], seed=seed))
    return await client.responses.create(model="gpt-4.1", input="Hello", stream=True)


@pytest.mark.parametrize("seed", [0, 1])
async def test_chat_text_and_usage(seed):
    stream, _ = await chat_stream("chat_text.sse", seed)
    events = await collect(adapter.events(stream))

    assert [e.text for e in of_type(events, Token)] == [
        "Hello",
        "!",
        " How can I",
        " help you today? 👋",
    ]
    done = events[-1]
    assert isinstance(done, Done) and done.reason is UNSET
    assert done.model == "gpt-4o-mini-2024-07-18"
    assert done.message_id == "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG"
    assert done.stop_reason == "stop"
    assert (done.input_tokens, done.output_tokens, done.cache_read_tokens) == (19, 10, 0)
    assert done.total_cost_usd == pytest.approx((19 * 0.15 + 10 * 0.60) / 1e6)


async def test_chat_parallel_tool_calls_by_index():
    stream, _ = await chat_stream("chat_tools.sse", seed=7)
    events = await collect(adapter.events(stream))

    uses = of_type(events, ToolUse)
    assert [(u.tool_use_id, u.tool_name, u.input) for u in uses] == [
        ("call_DdmO9pD3xa9XTPNJ32zg2hcA", "get_weather", {"location": "Paris, France"}),
        ("call_ABGhyt6Ab2aEhW7iQyJAaEtH", "get_time", {"timezone": "Europe/Paris"}),
    ]
    done = events[-1]
    assert isinstance(done, Done)
    assert done.stop_reason == "tool_calls" and done.tool_count == 2
    # OpenAI's prompt_tokens include the cached ones
    assert (done.input_tokens, done.cache_read_tokens) == (82, 64)
    assert done.total_cost_usd == pytest.approx((18 * 0.15 + 64 * 0.075 + 51 * 0.60) / 1e6)


async def test_chat_refusal_is_shown_and_is_the_stop_reason():
    stream, _ = await chat_stream("chat_refusal.sse")
    events = await collect(adapter.events(stream))

    assert folded(events).text == "I'm sorry, I can't help with that."
    done = events[-1]
    assert isinstance(done, Done) and done.stop_reason == "refusal"


async def test_compatible_server_reasoning_content_through_base_url():
    stream, recorded = await chat_stream(
        "chat_compatible_reasoning.sse", base_url="http://127.0.0.1:8000/v1"
    )
    events = await collect(adapter.events(stream))

    assert [e.type for e in events] == ["thinking", "thinking", "token", "done"]
    assert "".join(e.text for e in of_type(events, Thinking)) == "Two plus two is four."
    done = events[-1]
    assert isinstance(done, Done) and done.model == "Qwen/Qwen3-8B"
    assert done.total_cost_usd == 0.0 and done.output_tokens == 9
    assert recorded.requests[0]["stream_options"] == {"include_usage": True}


async def test_chat_error_chunk_becomes_error_then_done():
    stream, _ = await chat_stream("chat_error.sse")
    events = await collect(adapter.events(stream))

    assert [e.type for e in events] == ["token", "error", "done"]
    error = events[1]
    assert isinstance(error, Error) and error.error_type == "server_error"
    assert "Sorry about that" in error.message
    done = events[-1]
    assert isinstance(done, Done) and done.reason == "error"


async def test_chat_stream_helper_chunks_are_unwrapped():
    client = openai_client(Recorded([wire("chat_tools.sse")]))
    async with client.chat.completions.stream(
        model="gpt-4o-mini", messages=MESSAGES, stream_options={"include_usage": True}
    ) as stream:
        events = await collect(adapter.events(stream))
    assert [e.type for e in events] == ["tool_use", "tool_use", "done"]


@pytest.mark.parametrize("seed", [0, 3])
async def test_responses_reasoning_text_annotation_and_usage(seed):
    events = await collect(adapter.events(await responses_stream("responses_text.sse", seed)))

    assert "".join(e.text for e in of_type(events, Thinking)) == (
        "**Answering a simple question**\n\nThe user asks for a haiku."
    )
    assert folded(events).text == "Autumn leaves drift down —\nquiet streams carry them 🍂"
    done = events[-1]
    assert isinstance(done, Done)
    assert done.model == "o4-mini-2025-04-16" and done.stop_reason == "completed"
    assert (done.input_tokens, done.output_tokens) == (37, 120)
    assert done.citations == [
        {
            "type": "url_citation",
            "start_index": 0,
            "end_index": 6,
            "title": "Haiku basics",
            "url": "https://poetry.example/haiku",
            "text_offset": len(folded(events).text),
        }
    ]


async def test_responses_function_calls_and_a_hosted_web_search():
    events = await collect(adapter.events(await responses_stream("responses_tools.sse", 2)))

    assert [e.type for e in events] == ["tool_use", "tool_result", "tool_use", "tool_use", "done"]
    search_use, search_result = events[0], events[1]
    assert isinstance(search_use, ToolUse) and isinstance(search_result, ToolResult)
    assert search_use.tool_name == "web_search"
    assert search_result.tool_use_id == search_use.tool_use_id
    assert search_result.output_summary == "weather in Paris today"
    assert search_result.status == "done"
    uses = of_type(events, ToolUse)[1:]
    assert [(u.tool_use_id, u.tool_name, u.input) for u in uses] == [
        ("call_unLAR8MvFNptuiZK6K6HCy5k", "get_weather", {"location": "Paris, France"}),
        ("call_Zt3kPq9YbN2mW7xV5cR1dF8g", "get_time", {"timezone": "Europe/Paris"}),
    ]
    done = events[-1]
    assert isinstance(done, Done)
    assert done.stop_reason == "tool_calls" and done.tool_count == 3
    assert (done.input_tokens, done.cache_read_tokens, done.output_tokens) == (291, 256, 64)


async def test_responses_failed_becomes_error_then_done():
    events = await collect(adapter.events(await responses_stream("responses_failed.sse")))

    assert [e.type for e in events] == ["token", "error", "done"]
    error = events[1]
    assert isinstance(error, Error) and error.error_type == "server_error"
    done = events[-1]
    assert isinstance(done, Done) and done.reason == "error" and done.stop_reason == "failed"


async def test_responses_error_event_becomes_error_then_done():
    events = await collect(adapter.events(await responses_stream("responses_error.sse")))

    assert [e.type for e in events] == ["error", "done"]
    error = events[0]
    assert isinstance(error, Error) and error.error_type == "rate_limit_exceeded"
    done = events[-1]
    assert isinstance(done, Done) and done.reason == "error"


async def test_responses_refusal():
    events = await collect(adapter.events(await responses_stream("responses_refusal.sse")))

    assert folded(events).text == "I can't help with that."
    done = events[-1]
    assert isinstance(done, Done) and done.stop_reason == "refusal"


def before(name: str, marker: bytes) -> bytes:
    """The recorded body ``name`` up to (not including) the frame that holds ``marker``."""
    body = wire(name)
    return body[: body.rindex(b"\n\n", 0, body.index(marker)) + 2]


async def test_a_chat_stream_cut_mid_answer_ends_in_error_then_done():
    body = before("chat_text.sse", b'"content":" How can I"')
    async with cut_connection(body, chunked=True) as url:
        client = openai.AsyncOpenAI(api_key="k", base_url=url, max_retries=0)
        stream = await client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True
        )
        with anyio.fail_after(10):
            events = await collect(adapter.events(stream))

    assert [e.type for e in events] == ["token", "token", "error", "done"]
    error = events[2]
    # the OpenAI SDK wraps a cut mid-stream in its own APIConnectionError
    assert isinstance(error, Error) and error.error_type == "APIConnectionError"
    assert error.details["provider"] == "openai"
    done = events[-1]
    assert isinstance(done, Done) and done.reason == "error"
    assert done.model == "gpt-4o-mini-2024-07-18"
    assert stream.response.is_closed


@pytest.mark.parametrize(
    ("chunked", "error_type"), [(True, "APIConnectionError"), (False, "incomplete-stream")]
)
async def test_a_responses_stream_cut_mid_answer_ends_in_error_then_done(chunked, error_type):
    body = before("responses_text.sse", b'"delta":"quiet"')
    async with cut_connection(body, chunked=chunked) as url:
        client = openai.AsyncOpenAI(api_key="k", base_url=url, max_retries=0)
        stream = await client.responses.create(model="gpt-4.1", input="Hello", stream=True)
        with anyio.fail_after(10):
            events = await collect(adapter.events(stream))

    assert [e.type for e in events][-3:] == ["token", "error", "done"]
    error = events[-2]
    assert isinstance(error, Error) and error.error_type == error_type
    done = events[-1]
    assert isinstance(done, Done) and done.reason == "error"
    assert done.model == "o4-mini-2025-04-16"
    assert folded(events).text == "Autumn leaves drift down —\n"


async def test_compatible_server_tool_calls_without_index_stay_apart():
    # Gemini's OpenAI-compatible endpoint sends each call whole, with no index, and ends
    # with finish_reason "stop"
    stream, _ = await chat_stream("chat_compatible_indexless_tools.sse", seed=4)
    events = await collect(adapter.events(stream))

    uses = of_type(events, ToolUse)
    assert [(u.tool_use_id, u.tool_name, u.input) for u in uses] == [
        ("function-call-14011316537463370542", "get_weather", {"location": "Lisbon"}),
        ("function-call-14011316537463370543", "get_weather", {"location": "Porto"}),
        ("function-call-14011316537463370544", "get_time", {"timezone": "Europe/Lisbon"}),
    ]
    done = events[-1]
    assert isinstance(done, Done) and done.tool_count == 3 and done.stop_reason == "stop"


async def test_compatible_server_reusing_index_0_with_a_new_id_starts_a_new_call():
    stream, _ = await chat_stream("chat_compatible_reused_index.sse", seed=5)
    events = await collect(adapter.events(stream))

    uses = of_type(events, ToolUse)
    assert [(u.tool_use_id, u.input) for u in uses] == [
        ("toolu_530f1", {"path": "", "pattern": "**/*"}),
        ("toolu_530f2", {"path": "content/wiki", "pattern": ""}),
    ]


async def test_responses_reasoning_summary_parts_are_paragraphs_apart():
    stream = await responses_stream("responses_reasoning_parts.sse", seed=6)
    events = await collect(adapter.events(stream))

    assert "".join(e.text for e in of_type(events, Thinking)) == (
        "**Answering a simple question**\n\nThe user asks for a haiku.\n\n"
        "**Choosing the season**\n\nAutumn fits a short, quiet poem."
    )
    assert folded(events).text == "Autumn leaves drift down —\nquiet streams carry them 🍂"


async def test_compatible_server_chunk_with_reasoning_and_answer_keeps_both():
    # vLLM's reasoning parser: the chunk where the reasoning ends carries its last words and
    # the answer's first
    stream, _ = await chat_stream("chat_compatible_reasoning_boundary.sse")
    events = await collect(adapter.events(stream))

    assert [e.type for e in events] == ["thinking", "thinking", "token", "done"]
    assert "".join(e.text for e in of_type(events, Thinking)) == "Two plus two is four."
    assert folded(events).text == "4"


async def test_a_generated_image_is_not_sent_as_base64_in_the_tool_result():
    # the image_generation tool's result is the picture in base64 (megabytes): as a tool_result
    # it would be over the server's max_event_bytes and end the run
    image = base64.b64encode(random.Random(1).randbytes(1_200_000)).decode()
    body = wire("responses_image.sse").replace(b"<IMAGE>", image.encode())
    body = body.replace(b"<PARTIAL>", image[:400_000].encode())
    client = openai_client(Recorded([body]))
    stream = await client.responses.create(
        model="gpt-4.1", input="Draw a fox", tools=[{"type": "image_generation"}], stream=True
    )
    events = await collect(adapter.events(stream))

    assert [e.type for e in events] == ["tool_use", "tool_result", "token", "done"]
    result = events[1]
    assert isinstance(result, ToolResult) and result.status == "done"
    assert result.tool_name == "image_generation"
    assert result.output_summary.startswith("A watercolor fox curled up")
    assert isinstance(result.output, dict) and "result" not in result.output
    assert result.output["result_bytes"] == 1_200_000
    assert len(encode_data(result)) < DEFAULT_MAX_EVENT_BYTES // 100
