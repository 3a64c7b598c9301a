"""``tool_loop``: run a model with tools until it stops, streaming every step as events."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeAlias

from ..errors import UsageError
from ..events import UNSET, AgentEvent, JSONValue, ToolResult, Turn
from ._sdk import require
from ._tools import Tool, ToolFunction, ToolOutcome, as_tools, run_tool
from ._turn import (
    ToolCall,
    TurnResult,
    incomplete_error,
    is_unparsed,
    provider_error,
    stream_failures,
)
from ._usage import Prices, Usage, done_event

__all__ = ["BeforeTool", "NeedsApproval", "tool_loop"]

BeforeTool: TypeAlias = Callable[[ToolCall], Awaitable[bool | str | None]]
"""Awaited before each call runs: ``True``/``None`` runs it; ``False`` or a reason skips it."""

NeedsApproval: TypeAlias = bool | Callable[[ToolCall], bool | Awaitable[bool]]
"""Whether a person must approve a call first: for every call, or per call (e.g. by name)."""

REFUSED = "the user refused this call"
UNANSWERED = "nobody approved this call in time"


def _with_approval(
    needs_approval: NeedsApproval, before_tool: BeforeTool | None
) -> BeforeTool | None:
    """``before_tool`` preceded by ``approve()`` (agent_stream.server) for calls that need it."""
    if needs_approval is False:
        return before_tool

    async def check(call: ToolCall) -> bool | str | None:
        wanted = needs_approval(call) if callable(needs_approval) else needs_approval
        if inspect.isawaitable(wanted):
            wanted = await wanted
        if wanted:
            # the server is needed only here: asking runs inside a RunManager's run
            from ..errors import InputError
            from ..server.questions import approve

            try:
                if not await approve(call.name, call.input, tool_use_id=call.id):
                    return REFUSED
            except InputError:
                return UNANSWERED
        return None if before_tool is None else await before_tool(call)

    return check


Message: TypeAlias = dict[str, Any]


def _denied(call: ToolCall, verdict: bool | str) -> ToolOutcome:
    reason = verdict if isinstance(verdict, str) else "the call was not approved"
    return ToolOutcome(
        call,
        ToolResult(
            tool_name=call.name,
            tool_use_id=call.id,
            output_summary=reason,
            status="error",
            output=reason,
        ),
        reason,
        True,
    )


async def _run_calls(
    calls: Sequence[ToolCall],
    tools: Mapping[str, Tool],
    timeout_s: float,
    before_tool: BeforeTool | None,
    outcomes: list[ToolOutcome],
) -> AsyncGenerator[AgentEvent, None]:
    """Run the approved calls concurrently; yield each tool_result as it finishes."""
    approved: list[ToolCall] = []
    for call in calls:
        verdict = None if before_tool is None else await before_tool(call)
        if verdict is None or verdict is True:
            approved.append(call)
        else:
            outcome = _denied(call, verdict)
            outcomes.append(outcome)
            yield outcome.event
    tasks = [asyncio.ensure_future(run_tool(call, tools, timeout_s)) for call in approved]
    try:
        for next_done in asyncio.as_completed(tasks):
            outcome = await next_done
            outcomes.append(outcome)
            yield outcome.event
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
    # the provider pairs results with calls by id; keep the model's order
    order = {call.id: index for index, call in enumerate(calls)}
    outcomes.sort(key=lambda outcome: order.get(outcome.call.id, 0))


class _AnthropicTurns:
    def __init__(self, client: Any, model: str, tools: Mapping[str, Tool], params: Message):
        self.sdk = require("anthropic", extra="anthropic", user="tool_loop with Anthropic")
        self.failures = stream_failures(self.sdk, extra="anthropic")
        from .anthropic import AnthropicMapper

        self.mapper_class = AnthropicMapper
        self.client, self.model, self.params = client, model, params
        self.schemas = [
            {"name": t.name, "description": t.description, "input_schema": dict(t.parameters)}
            for t in tools.values()
        ]

    async def turn(
        self, messages: list[Message], text_offset: int, result: list[TurnResult]
    ) -> AsyncGenerator[AgentEvent, None]:
        mapper = self.mapper_class(text_offset=text_offset)
        params = dict(self.params)
        params.setdefault("max_tokens", 1024)
        # the raw stream, not messages.stream(): that helper raises on a tool input that is
        # not JSON, which the loop instead sends back to the model as the call's error
        stream = await self.client.messages.create(
            model=self.model, messages=messages, tools=self.schemas, stream=True, **params
        )
        try:
            async for item in stream:
                for event in mapper.feed(item):
                    yield event
        finally:
            await stream.close()
            # kept even when the stream fails: its tokens were used (and billed)
            result.append(mapper.finish())
        messages.append({"role": "assistant", "content": result[0].content})

    def answer(self, messages: list[Message], outcomes: Sequence[ToolOutcome]) -> None:
        messages.append(
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": o.call.id,
                        "content": o.content,
                        "is_error": o.is_error,
                    }
                    for o in outcomes
                ],
            }
        )


class _OpenAITurns:
    def __init__(self, client: Any, model: str, tools: Mapping[str, Tool], params: Message):
        self.sdk = require("openai", extra="openai", user="tool_loop with OpenAI")
        self.failures: tuple[type[Exception], ...] = (self.sdk.APIError,)
        from .openai import ChatMapper

        self.mapper_class = ChatMapper
        self.client, self.model, self.params = client, model, params
        self.schemas = [
            {
                "type": "function",
                "function": {
                    "name": t.name,
                    "description": t.description,
                    "parameters": dict(t.parameters),
                },
            }
            for t in tools.values()
        ]

    async def turn(
        self, messages: list[Message], text_offset: int, result: list[TurnResult]
    ) -> AsyncGenerator[AgentEvent, None]:
        mapper = self.mapper_class()
        params = dict(self.params)
        params.setdefault("stream_options", {"include_usage": True})
        stream = await self.client.chat.completions.create(
            model=self.model, messages=messages, tools=self.schemas, stream=True, **params
        )
        try:
            async for chunk in stream:
                for event in mapper.feed(chunk):
                    yield event
        finally:
            await stream.close()
            pending, turn = mapper.finish()
            result.append(turn)
        for event in pending:
            yield event
        message: Message = {"role": "assistant", "content": turn.text or None}
        if turn.tool_calls:
            message["tool_calls"] = [
                {
                    "id": call.id,
                    "type": "function",
                    # not the model's bad JSON: compatible servers parse it and refuse
                    "function": {
                        "name": call.name,
                        "arguments": "{}" if is_unparsed(call) else call.arguments or "{}",
                    },
                }
                for call in turn.tool_calls
            ]
        messages.append(message)

    def answer(self, messages: list[Message], outcomes: Sequence[ToolOutcome]) -> None:
        for outcome in outcomes:
            messages.append(
                {"role": "tool", "tool_call_id": outcome.call.id, "content": outcome.content}
            )


async def tool_loop(
    client: object,
    *,
    model: str,
    messages: Sequence[Mapping[str, JSONValue]],
    tools: Sequence[Tool | ToolFunction],
    max_turns: int = 10,
    tool_timeout_s: float = 30.0,
    before_tool: BeforeTool | None = None,
    needs_approval: NeedsApproval = False,
    prices: Prices | None = None,
    **params: Any,
) -> AsyncGenerator[AgentEvent, None]:
    """Call the model, run the tools it asks for, send the results back; repeat until it stops.

    ``client`` is an ``AsyncAnthropic`` (Messages API) or ``AsyncOpenAI`` (Chat Completions,
    any OpenAI-compatible server). ``tools`` are async functions (or :class:`Tool`) run
    concurrently, each within ``tool_timeout_s``; a failure or timeout goes back to the model as
    an error result. ``before_tool`` is awaited before each call (an approval step): ``False``
    or a reason string skips the call. ``needs_approval`` (True, or a function of the call)
    asks a person first with :func:`agent_stream.server.approve` (the run must be served by a
    ``RunManager``): a refusal or no answer in time goes back to the model as the call's error
    result. Other keyword arguments go to the SDK call
    (``max_tokens``, ``system``, ``temperature`` ...).

    Yields ``turn`` per model call, ``thinking``/``token``, one ``tool_use`` per call, a
    ``tool_result`` per call with its real duration, and ``done`` with ``num_turns``,
    ``tool_count``, summed token usage and cost. An API error ends the run with ``error`` +
    ``done{reason: "error"}``.

    Example::

        async def clock() -> str:
            "The current UTC time."
            return datetime.now(UTC).isoformat()

        events = tool_loop(AsyncAnthropic(), model="claude-sonnet-4-5",
                           messages=[{"role": "user", "content": "What time is it?"}],
                           tools=[clock])
    """
    if max_turns < 1:
        raise UsageError(f"max_turns={max_turns} must be at least 1", code="invalid-option")
    by_name = as_tools(list(tools))
    before_tool = _with_approval(needs_approval, before_tool)
    turns: _AnthropicTurns | _OpenAITurns
    if hasattr(client, "messages") and not hasattr(client, "chat"):
        turns = _AnthropicTurns(client, model, by_name, params)
    elif hasattr(client, "chat"):
        turns = _OpenAITurns(client, model, by_name, params)
    else:
        raise UsageError(
            f"tool_loop needs an AsyncAnthropic or AsyncOpenAI client, not {type(client).__name__}",
            code="invalid-option",
        )
    history: list[Message] = [dict(message) for message in messages]
    started = time.monotonic()
    usage: Usage | None = None
    tool_count = 0
    text_offset = 0
    num_turns = 0
    last: TurnResult | None = None
    citations: list[dict[str, JSONValue]] = []
    stop_reason: str | None = None
    failure = None
    while num_turns < max_turns:
        num_turns += 1
        yield Turn(turn_number=num_turns, total_tools=tool_count)
        results: list[TurnResult] = []
        try:
            async for event in turns.turn(history, text_offset, results):
                yield event
        except turns.failures as exc:
            failure = provider_error(exc, provider=turns.sdk.__name__)
        if not results:
            break  # refused before its stream began
        last = results[0]
        if failure is None and not last.is_complete:
            # a cut stream's tool calls may be half-formed: run none of them
            failure = incomplete_error(provider=turns.sdk.__name__, expected="message_stop")
        text_offset += len(last.text)
        citations.extend(last.citations)
        stop_reason = last.stop_reason
        tool_count += len(last.tool_calls) + last.server_tool_count
        if last.usage is not None:
            usage = usage or Usage()
            usage.add(last.usage)
        if failure is not None:
            break
        if last.stop_reason == "pause_turn" and not last.tool_calls:
            # Anthropic paused a long server-tool turn: sending its content back continues it
            continue
        if not last.tool_calls:
            break
        outcomes: list[ToolOutcome] = []
        async for event in _run_calls(
            last.tool_calls, by_name, tool_timeout_s, before_tool, outcomes
        ):
            yield event
        turns.answer(history, outcomes)
    else:
        stop_reason = "max_turns"
    if failure is not None:
        yield failure
    yield done_event(
        usage=usage,
        model=last.model if last is not None and last.model else model,
        prices=prices,
        message_id=last.message_id if last is not None else "",
        stop_reason=stop_reason,
        num_turns=num_turns,
        tool_count=tool_count,
        duration_ms=(time.monotonic() - started) * 1000,
        reason="error" if failure is not None else UNSET,
        citations=citations,
    )
