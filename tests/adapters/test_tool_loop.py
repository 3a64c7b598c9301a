"""tool_loop against the official SDK clients: two turns, three tools, one fails, one times out."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anthropic
import anyio
import httpx2
import openai
import pytest

from agent_stream import AgentEvent, Done, Error, StreamState, Token, ToolResult, ToolUse, Turn
from agent_stream.adapters import Tool, ToolCall, tool_loop
from agent_stream.errors import UsageError
from agent_stream.events import UNSET

from .conftest import (
    Recorded,
    anthropic_client,
    collect,
    cut_connection,
    folded,
    of_type,
    openai_client,
    wire,
)

pytestmark = pytest.mark.anyio

QUESTION = [{"role": "user", "content": "What time is it, what is 1/0, and what about Lisbon?"}]
TIMEOUT_S = 0.3


async def clock() -> str:
    """The current time."""
    return "12:00"


async def divide(a: float, b: float) -> float:
    """a divided by b."""
    return a / b


async def slow_lookup(query: str) -> str:
    """Never answers: the loop's timeout ends it."""
    await anyio.Event().wait()
    return query


TOOLS: list[Callable[..., Awaitable[object]]] = [clock, divide, slow_lookup]


def check_the_run(events: list[AgentEvent], ids: list[str]) -> tuple[Done, StreamState]:
    turns = of_type(events, Turn)
    assert [(t.turn_number, t.total_tools) for t in turns] == [(1, 0), (2, 3)]
    assert [u.tool_use_id for u in of_type(events, ToolUse)] == ids
    results = {r.tool_use_id: r for r in of_type(events, ToolResult)}
    assert len(of_type(events, ToolResult)) == 3
    clock_id, divide_id, slow_id = ids
    assert (results[clock_id].status, results[clock_id].output) == ("done", "12:00")
    assert results[divide_id].status == "error"
    assert results[divide_id].output == "ZeroDivisionError: division by zero"
    assert results[slow_id].status == "error"
    assert results[slow_id].output == f"slow_lookup timed out after {TIMEOUT_S:g} s"
    # real durations: the timed-out call ran for its whole timeout
    assert results[slow_id].duration_ms >= TIMEOUT_S * 1000 * 0.9
    assert results[clock_id].duration_ms < results[slow_id].duration_ms
    # every result of turn 1 comes before turn 2 starts
    assert events.index(turns[1]) > max(events.index(r) for r in results.values())
    done = events[-1]
    assert isinstance(done, Done) and len(of_type(events, Done)) == 1
    assert (done.num_turns, done.tool_count) == (2, 3)
    state = folded(events)
    assert not state.active_tools and len(state.tools) == 3
    return done, state


async def test_anthropic_two_turns_three_tools():
    recorded = Recorded([wire("anthropic_loop_turn1.sse"), wire("anthropic_loop_turn2.sse")])
    client = anthropic_client(recorded)
    events = await collect(
        tool_loop(
            client,
            model="claude-sonnet-4-5",
            messages=QUESTION,
            tools=TOOLS,
            tool_timeout_s=TIMEOUT_S,
            max_tokens=512,
            system="Be brief.",
        )
    )

    done, state = check_the_run(events, ["toolu_01Clock", "toolu_02Divide", "toolu_03Slow"])
    assert state.text == "Let me look that up.It is noon; 1/0 is undefined."
    assert done.stop_reason == "end_turn" and done.message_id == "msg_01LoopTwo"
    # usage summed over both calls (cache reads are part of the prompt)
    assert (done.input_tokens, done.output_tokens) == (610 + 820 + 600, 120 + 15)
    assert done.cache_read_tokens == 600

    first, second = recorded.requests
    assert first["system"] == "Be brief." and first["max_tokens"] == 512
    assert [t["name"] for t in first["tools"]] == ["clock", "divide", "slow_lookup"]
    assert first["tools"][1]["input_schema"] == {
        "type": "object",
        "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
        "required": ["a", "b"],
    }
    assistant, answer = second["messages"][1:]
    assert [b["type"] for b in assistant["content"]] == ["text", "tool_use", "tool_use", "tool_use"]
    assert answer["role"] == "user"
    assert [(r["tool_use_id"], r["is_error"]) for r in answer["content"]] == [
        ("toolu_01Clock", False),
        ("toolu_02Divide", True),
        ("toolu_03Slow", True),
    ]
    assert answer["content"][0]["content"] == "12:00"


async def test_openai_two_turns_three_tools():
    recorded = Recorded([wire("chat_loop_turn1.sse"), wire("chat_loop_turn2.sse")])
    client = openai_client(recorded)
    events = await collect(
        tool_loop(
            client, model="gpt-4o-mini", messages=QUESTION, tools=TOOLS, tool_timeout_s=TIMEOUT_S
        )
    )

    done, state = check_the_run(events, ["call_clock", "call_divide", "call_slow"])
    assert state.text == "Checking.It is noon; 1/0 is undefined."
    assert done.stop_reason == "stop"
    assert (done.input_tokens, done.output_tokens, done.cache_read_tokens) == (720, 52, 256)
    assert done.total_cost_usd > 0

    first, second = recorded.requests
    assert first["stream"] is True and first["stream_options"] == {"include_usage": True}
    assert first["tools"][2]["function"]["name"] == "slow_lookup"
    assistant = second["messages"][1]
    assert assistant["content"] == "Checking."
    assert [c["id"] for c in assistant["tool_calls"]] == ["call_clock", "call_divide", "call_slow"]
    assert assistant["tool_calls"][1]["function"]["arguments"] == '{"a": 1, "b": 0}'
    tool_messages = second["messages"][2:]
    assert [(m["role"], m["tool_call_id"]) for m in tool_messages] == [
        ("tool", "call_clock"),
        ("tool", "call_divide"),
        ("tool", "call_slow"),
    ]


async def test_before_tool_can_refuse_a_call():
    asked: list[ToolCall] = []

    async def approve(call: ToolCall) -> bool | str:
        asked.append(call)
        return "not allowed here" if call.name == "slow_lookup" else True

    recorded = Recorded([wire("chat_loop_turn1.sse"), wire("chat_loop_turn2.sse")])
    events = await collect(
        tool_loop(
            openai_client(recorded),
            model="gpt-4o-mini",
            messages=QUESTION,
            tools=TOOLS,
            before_tool=approve,
        )
    )

    assert [c.name for c in asked] == ["clock", "divide", "slow_lookup"]
    refused = next(r for r in of_type(events, ToolResult) if r.tool_use_id == "call_slow")
    assert refused.status == "error" and refused.output == "not allowed here"
    assert recorded.requests[1]["messages"][-1]["content"] == "not allowed here"


async def test_max_turns_stops_the_loop():
    recorded = Recorded([wire("chat_loop_turn1.sse")])
    events = await collect(
        tool_loop(
            openai_client(recorded),
            model="gpt-4o-mini",
            messages=QUESTION,
            tools=[Tool(clock), Tool(divide), Tool(slow_lookup, timeout_s=0.05)],
            max_turns=1,
        )
    )
    done = events[-1]
    assert isinstance(done, Done) and done.stop_reason == "max_turns" and done.num_turns == 1
    assert len(recorded.requests) == 1


async def test_an_api_error_ends_the_run_with_error_and_done():
    recorded = Recorded([wire("anthropic_overloaded.sse")])
    events = await collect(
        tool_loop(
            anthropic_client(recorded), model="claude-sonnet-4-5", messages=QUESTION, tools=TOOLS
        )
    )
    assert [e.type for e in events] == ["turn", "token", "error", "done"]
    assert isinstance(events[2], Error) and events[2].error_type == "overloaded_error"
    done = events[3]
    assert isinstance(done, Done) and done.reason == "error"
    assert of_type(events, Token)[0].text == "Once upon a"
    # the failed call's usage still counts: its tokens were used
    assert (done.input_tokens, done.model) == (25, "claude-sonnet-4-5-20250929")


async def test_tools_must_be_async_and_uniquely_named():
    def sync_tool() -> str:
        return "x"

    with pytest.raises(UsageError, match="not an async function"):
        Tool(sync_tool)  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="two tools are named 'clock'"):
        await anext(tool_loop(object(), model="m", messages=[], tools=[clock, clock, divide]))
    with pytest.raises(UsageError, match="AsyncAnthropic or AsyncOpenAI"):
        await anext(tool_loop(object(), model="m", messages=[], tools=[clock]))


@pytest.mark.parametrize(
    ("chunked", "error_types"),
    # a cut chunked body: the SDK's exception, httpx's own before anthropic 2.17 and the SDK's
    # APIConnectionError from 2.17 on; a close-delimited body that just ends: ours
    [(True, {"RemoteProtocolError", "APIConnectionError"}), (False, {"incomplete-stream"})],
)
async def test_a_turn_cut_mid_stream_runs_no_tool_and_ends_in_error_then_done(chunked, error_types):
    body = wire("anthropic_loop_turn1.sse")
    # cut after two complete tool_use blocks, while the model is still writing the third
    body = body[: body.index(b"event: content_block_start", body.index(b"toolu_02Divide"))]
    ran: list[str] = []

    async def recorded_clock() -> str:
        """The current time."""
        ran.append("clock")
        return "12:00"

    async with cut_connection(body, chunked=chunked) as url:
        client = anthropic.AsyncAnthropic(api_key="k", base_url=url, max_retries=0)
        with anyio.fail_after(10):
            events = await collect(
                tool_loop(
                    client,
                    model="claude-sonnet-4-5",
                    messages=QUESTION,
                    tools=[Tool(recorded_clock, name="clock"), divide, slow_lookup],
                )
            )

    assert [e.type for e in events][-2:] == ["error", "done"]
    error = events[-2]
    assert isinstance(error, Error) and error.error_type in error_types
    done = events[-1]
    assert isinstance(done, Done) and done.reason == "error" and done.num_turns == 1
    assert not of_type(events, ToolResult) and not ran


async def test_tool_input_that_is_not_json_goes_back_to_the_model_as_that_calls_error():
    # the model wrote `"b": zero}`: messages.stream() would raise ValueError mid-turn
    recorded = Recorded([wire("anthropic_loop_bad_json.sse"), wire("anthropic_loop_turn2.sse")])
    ran: list[str] = []

    async def divide(a: float, b: float) -> float:
        """a divided by b."""
        ran.append("divide")
        return a / b

    events = await collect(
        tool_loop(
            anthropic_client(recorded),
            model="claude-sonnet-4-5",
            messages=QUESTION,
            tools=[clock, divide],
            thinking={"type": "enabled", "budget_tokens": 1024},
        )
    )

    results = {r.tool_use_id: r for r in of_type(events, ToolResult)}
    assert results["toolu_02Clock"].status == "done"
    bad = results["toolu_01Divide"]
    assert bad.status == "error" and not ran
    assert bad.output == 'the arguments are not valid JSON ({"a": 1, "b": zero}); call divide again'
    done = events[-1]
    assert isinstance(done, Done) and done.reason is UNSET and done.num_turns == 2

    # the next request carries the turn back as the API wants it: the thinking block with its
    # signature, and an object as the bad call's input
    assistant, answer = recorded.requests[1]["messages"][1:]
    assert assistant["content"] == [
        {
            "type": "thinking",
            "thinking": "Two lookups: the time, and 1/0.",
            "signature": "ErUBCkYIBRgCIkDsU3nJ0tq1pG8hRRw9sC2TzFZs0XgPwVhNw2d0S2Gf==",
        },
        {"type": "text", "text": "Checking both."},
        {"type": "tool_use", "id": "toolu_01Divide", "name": "divide", "input": {}},
        {"type": "tool_use", "id": "toolu_02Clock", "name": "clock", "input": {}},
    ]
    assert [(r["tool_use_id"], r["is_error"]) for r in answer["content"]] == [
        ("toolu_01Divide", True),
        ("toolu_02Clock", False),
    ]


async def test_a_paused_server_tool_turn_is_sent_back_to_be_continued():
    # a long web search: the API stops with pause_turn, and the turn goes on when its content
    # is sent back as it was
    recorded = Recorded([wire("anthropic_pause_turn1.sse"), wire("anthropic_pause_turn2.sse")])
    events = await collect(
        tool_loop(
            anthropic_client(recorded),
            model="claude-sonnet-4-5",
            messages=[{"role": "user", "content": "Weather in Paris?"}],
            tools=[clock],
        )
    )

    assert [e.type for e in events] == [
        "turn", "token", "tool_use", "tool_result", "turn", "token", "done"
    ]  # fmt: skip
    assert folded(events).text == "Let me search for that.It is sunny in Paris, 24 °C."
    done = events[-1]
    assert isinstance(done, Done) and done.reason is UNSET
    assert (done.stop_reason, done.num_turns, done.tool_count) == ("end_turn", 2, 1)
    assert done.citations is not UNSET and len(done.citations) == 1

    first, second = recorded.requests
    paused = second["messages"][1]
    assert second["messages"][0] == first["messages"][0] and len(second["messages"]) == 2
    assert paused["role"] == "assistant"
    assert [b["type"] for b in paused["content"]] == [
        "text", "server_tool_use", "web_search_tool_result"
    ]  # fmt: skip
    assert paused["content"][1]["input"] == {"query": "weather in Paris today"}
    # the search results go back whole, encrypted content included
    assert paused["content"][2]["content"][0]["encrypted_content"].startswith("EqgfCio")


def refusing(status: int, body: dict[str, object], headers: dict[str, str]) -> httpx2.AsyncClient:
    """An HTTP client whose every request gets ``status`` with ``body`` (a provider's refusal)."""

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(status, json=body, headers=headers)

    return httpx2.AsyncClient(transport=httpx2.MockTransport(handler))


async def test_a_rate_limit_before_the_stream_says_when_to_retry():
    client = anthropic.AsyncAnthropic(
        api_key="k",
        max_retries=0,
        http_client=refusing(
            429,
            {
                "type": "error",
                "error": {"type": "rate_limit_error", "message": "Number of request tokens..."},
            },
            {"retry-after": "12", "request-id": "req_011CRate"},
        ),
    )
    events = await collect(
        tool_loop(client, model="claude-sonnet-4-5", messages=QUESTION, tools=TOOLS)
    )

    assert [e.type for e in events] == ["turn", "error", "done"]
    error = events[1]
    assert isinstance(error, Error) and error.error_type == "rate_limit_error"
    assert error.details["status_code"] == 429 and error.details["retry_after_s"] == 12.0
    assert error.details["request_id"] == "req_011CRate"


async def test_an_openai_error_keeps_its_code_beside_its_type():
    # OpenAI's type is coarse ("invalid_request_error"); the code says what went wrong
    client = openai.AsyncOpenAI(
        api_key="k",
        max_retries=0,
        http_client=refusing(
            400,
            {
                "error": {
                    "message": "This model's maximum context length is 128000 tokens.",
                    "type": "invalid_request_error",
                    "param": "messages",
                    "code": "context_length_exceeded",
                }
            },
            {},
        ),
    )
    events = await collect(tool_loop(client, model="gpt-4o-mini", messages=QUESTION, tools=TOOLS))

    error = events[1]
    assert isinstance(error, Error) and error.error_type == "invalid_request_error"
    assert error.details["code"] == "context_length_exceeded"
    assert error.details["status_code"] == 400 and "retry_after_s" not in error.details


async def test_openai_tool_arguments_that_are_not_json_go_back_as_an_object():
    # the next request must not carry the bad JSON as the call's arguments: compatible servers
    # parse them (for the chat template) and refuse the request
    recorded = Recorded([wire("chat_loop_bad_json.sse"), wire("chat_loop_turn2.sse")])
    events = await collect(
        tool_loop(
            openai_client(recorded),
            model="gpt-4o-mini",
            messages=QUESTION,
            tools=TOOLS,
            tool_timeout_s=TIMEOUT_S,
        )
    )

    results = {r.tool_use_id: r for r in of_type(events, ToolResult)}
    assert results["call_divide"].status == "error"
    assert results["call_divide"].output == (
        'the arguments are not valid JSON ({"a": 1, "b": zero}); call divide again'
    )
    calls = recorded.requests[1]["messages"][1]["tool_calls"]
    assert [(c["id"], c["function"]["arguments"]) for c in calls] == [
        ("call_clock", "{}"),
        ("call_divide", "{}"),
        ("call_slow", '{"query": "Lisbon"}'),
    ]
