"""OpenAI streams (Chat Completions and Responses API) -> agent-stream events.

Example::

    from openai import AsyncOpenAI
    from agent_stream.adapters import openai

    client = AsyncOpenAI()  # or AsyncOpenAI(base_url="http://localhost:8000/v1") for vLLM, Ollama

    async def agent(question):
        stream = await client.chat.completions.create(
            model="gpt-4o-mini", stream=True, stream_options={"include_usage": True},
            messages=[{"role": "user", "content": question}],
        )
        async for event in openai.events(stream):
            yield event

``events`` tells the two APIs apart by the first item: a ``chat.completion.chunk`` or a
Responses event (``response.*``). It also takes the ``.stream()`` helpers of both. Reasoning
text that OpenAI-compatible servers send as ``reasoning_content`` or ``reasoning`` in a chat
delta becomes ``thinking``. ``docs/adapters.md`` has the full mapping table.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, AsyncIterable, Callable, Sequence
from typing import Any

from ..events import UNSET, AgentEvent, Error, Thinking, Token, ToolResult, ToolUse
from ._sdk import require
from ._summary import summarize
from ._turn import (
    ToolCall,
    TurnResult,
    close_stream,
    incomplete_error,
    parse_arguments,
    plain,
    provider_error,
)
from ._usage import Prices, Usage, done_event

__all__ = ["ChatMapper", "ResponsesMapper", "events"]

_NOTHING: tuple[AgentEvent, ...] = ()


def _tool_use(call: ToolCall) -> ToolUse:
    return ToolUse(
        tool_name=call.name,
        tool_use_id=call.id,
        input_summary=summarize(call.input),
        input=call.input,
    )


class _PartialCall:
    __slots__ = ("id", "name", "parts")

    def __init__(self) -> None:
        self.id = ""
        self.name = ""
        self.parts: list[str] = []


class ChatMapper:
    """Maps Chat Completions chunks (choice 0) to agent-stream events; sans-I/O."""

    __slots__ = ("_calls", "_refused", "_slots", "_text_parts", "result")

    def __init__(self) -> None:
        self.result = TurnResult()
        # calls in the order they started; _slots: the call each tool_calls index is filling
        self._calls: list[_PartialCall] = []
        self._slots: dict[int | None, _PartialCall] = {}
        self._refused = False
        self._text_parts: list[str] = []

    def feed(self, chunk: Any) -> Sequence[AgentEvent]:
        """The agent-stream events for one chunk (often none)."""
        if chunk.usage is not None:
            self._usage(chunk.usage)
        choices = chunk.choices
        if not choices:
            return _NOTHING
        choice = choices[0]
        if choice.index != 0:
            return _NOTHING
        delta = choice.delta
        content = delta.content
        finish = choice.finish_reason
        # fields the SDK does not know, such as compatible servers' reasoning
        extra = delta.model_extra
        if content and not delta.tool_calls and finish is None and not extra:
            # the common chunk: one text fragment
            self._text_parts.append(content)
            return (Token(text=content),)
        if not self.result.model:
            self.result.model = chunk.model
            self.result.message_id = chunk.id
        out: list[AgentEvent] = []
        # OpenAI-compatible servers stream reasoning beside content under either name, at
        # times in the same chunk as the answer's first words (vLLM)
        reasoning = (extra.get("reasoning_content") or extra.get("reasoning")) if extra else None
        if isinstance(reasoning, str) and reasoning:
            out.append(Thinking(text=reasoning))
        if content:
            self._text_parts.append(content)
            out.append(Token(text=content))
        if delta.refusal:
            self._refused = True
            self._text_parts.append(delta.refusal)
            out.append(Token(text=delta.refusal))
        for fragment in delta.tool_calls or ():
            # OpenAI numbers parallel calls by index; some compatible servers (Gemini's) leave
            # index out or reuse 0, and only a new id tells the next call apart
            call = self._slots.get(fragment.index)
            if call is None or (fragment.id and call.id and fragment.id != call.id):
                call = self._slots[fragment.index] = _PartialCall()
                self._calls.append(call)
            if fragment.id:
                call.id = fragment.id
            function = fragment.function
            if function is not None:
                if function.name:
                    call.name = function.name
                if function.arguments:
                    call.parts.append(function.arguments)
        if finish is not None:
            self.result.stop_reason = "refusal" if self._refused else finish
            out.extend(self._flush_calls())
        return out

    def _flush_calls(self) -> list[AgentEvent]:
        out: list[AgentEvent] = []
        for partial in self._calls:
            arguments = "".join(partial.parts)
            call = ToolCall(partial.id, partial.name, parse_arguments(arguments), arguments)
            self.result.tool_calls.append(call)
            out.append(_tool_use(call))
        self._calls.clear()
        self._slots.clear()
        return out

    def _usage(self, usage: Any) -> None:
        details = usage.prompt_tokens_details
        cached = (details.cached_tokens or 0) if details is not None else 0
        self.result.usage = Usage(
            input_tokens=usage.prompt_tokens or 0,
            output_tokens=usage.completion_tokens or 0,
            cache_read_tokens=cached,
        )

    def finish(self) -> tuple[Sequence[AgentEvent], TurnResult]:
        """Tool calls a server left without ``finish_reason``, and the turn."""
        pending = self._flush_calls()
        self.result.text = "".join(self._text_parts)
        return pending, self.result


_HOSTED_SUFFIX = "_call"


class ResponsesMapper:
    """Maps Responses API stream events to agent-stream events; sans-I/O."""

    __slots__ = (
        "_calls",
        "_clock",
        "_emitted",
        "_hosted",
        "_refused",
        "_text_parts",
        "is_complete",
        "result",
    )

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.result = TurnResult()
        # a Responses stream ends with response.completed, .incomplete, .failed or error
        self.is_complete = False
        self._clock = clock
        self._calls: dict[str, Any] = {}
        self._emitted: set[str] = set()
        self._hosted: dict[str, float] = {}
        self._refused = False
        self._text_parts: list[str] = []

    def feed(self, event: Any) -> Sequence[AgentEvent]:
        """The agent-stream events for one Responses event (often none)."""
        kind: str = event.type
        if kind == "response.output_text.delta":
            self._text_parts.append(event.delta)
            return (Token(text=event.delta),)
        if kind in ("response.reasoning_summary_text.delta", "response.reasoning_text.delta"):
            return (Thinking(text=event.delta),)
        if kind == "response.reasoning_summary_part.added" and event.summary_index > 0:
            # each summary part is a paragraph with its own bold title: keep them apart
            return (Thinking(text="\n\n"),)
        if kind == "response.function_call_arguments.done":
            item = self._calls.get(event.item_id)
            if item is None:
                return _NOTHING
            return self._call_done(event.item_id, item.call_id, item.name, event.arguments)
        if kind == "response.output_item.added":
            return self._item_added(event.item)
        if kind == "response.output_item.done":
            return self._item_done(event.item)
        if kind == "response.refusal.delta":
            self._refused = True
            self._text_parts.append(event.delta)
            return (Token(text=event.delta),)
        if kind == "response.output_text.annotation.added":
            citation = plain(event.annotation)
            if isinstance(citation, dict):
                citation["text_offset"] = sum(map(len, self._text_parts))
                self.result.citations.append(citation)
            return _NOTHING
        if kind in ("response.created", "response.in_progress", "response.queued"):
            response = event.response
            self.result.model = response.model
            self.result.message_id = response.id
            return _NOTHING
        if kind in ("response.completed", "response.incomplete", "response.failed"):
            self.is_complete = True
            return self._finished(kind, event.response)
        if kind == "error":
            self.is_complete = True
            return (
                Error(
                    error_type=event.code or "error",
                    message=event.message,
                    details={"provider": "openai", "param": event.param},
                ),
            )
        # function_call_arguments.delta: the done event repeats the whole arguments
        return _NOTHING

    def _item_added(self, item: Any) -> Sequence[AgentEvent]:
        kind: str = item.type
        if kind == "function_call":
            self._calls[item.id] = item
            return _NOTHING
        if kind.endswith(_HOSTED_SUFFIX) and kind != "custom_tool_call":
            # web_search_call, file_search_call, code_interpreter_call, mcp_call...: OpenAI runs
            # them; the query is only known when the item is done, so tool_use comes now
            self._hosted[item.id] = self._clock()
            self.result.server_tool_count += 1
            return (ToolUse(tool_name=kind.removesuffix(_HOSTED_SUFFIX), tool_use_id=item.id),)
        return _NOTHING

    def _item_done(self, item: Any) -> Sequence[AgentEvent]:
        kind: str = item.type
        if kind == "function_call":
            return self._call_done(item.id, item.call_id, item.name, item.arguments)
        started = self._hosted.pop(item.id, None)
        if started is None:
            return _NOTHING
        output = plain(item)
        if isinstance(output, dict):
            output.pop("id", None)
            output.pop("type", None)
            image = output.pop("result", None) if kind == "image_generation_call" else None
            if isinstance(image, str):
                # the picture in base64, megabytes: over an event's size limit; its size stays
                output["result_bytes"] = len(image) * 3 // 4 - image[-2:].count("=")
        status = getattr(item, "status", None)
        action = getattr(item, "action", None)
        query = getattr(action, "query", None) if action is not None else None
        described = query or getattr(item, "revised_prompt", None)
        return (
            ToolResult(
                tool_name=kind.removesuffix(_HOSTED_SUFFIX),
                tool_use_id=item.id,
                output_summary=summarize(described if described else status),
                duration_ms=round((self._clock() - started) * 1000, 3),
                status="error" if status in ("failed", "incomplete") else "done",
                output=output,
            ),
        )

    def _call_done(
        self, item_id: str, call_id: str, name: str, arguments: str
    ) -> Sequence[AgentEvent]:
        if item_id in self._emitted:
            return _NOTHING
        self._emitted.add(item_id)
        call = ToolCall(call_id, name, parse_arguments(arguments), arguments)
        self.result.tool_calls.append(call)
        return (_tool_use(call),)

    def _finished(self, kind: str, response: Any) -> Sequence[AgentEvent]:
        self.result.model = response.model or self.result.model
        self.result.message_id = response.id or self.result.message_id
        usage = response.usage
        if usage is not None:
            details = usage.input_tokens_details
            self.result.usage = Usage(
                input_tokens=usage.input_tokens or 0,
                output_tokens=usage.output_tokens or 0,
                cache_read_tokens=(details.cached_tokens or 0) if details is not None else 0,
            )
        if kind == "response.incomplete":
            details = response.incomplete_details
            self.result.stop_reason = getattr(details, "reason", None) or "incomplete"
            return _NOTHING
        if kind == "response.failed":
            error = response.error
            self.result.stop_reason = "failed"
            return (
                Error(
                    error_type=(getattr(error, "code", None) or "response_failed"),
                    message=(getattr(error, "message", None) or "the response failed"),
                    details={"provider": "openai", "response_id": response.id},
                ),
            )
        if self._refused:
            self.result.stop_reason = "refusal"
        elif self.result.tool_calls:
            self.result.stop_reason = "tool_calls"
        else:
            self.result.stop_reason = response.status or "completed"
        return _NOTHING

    def finish(self) -> tuple[Sequence[AgentEvent], TurnResult]:
        """Nothing is left pending in a Responses stream; the turn."""
        self.result.text = "".join(self._text_parts)
        return _NOTHING, self.result


def _mapper_for(first: Any) -> tuple[ChatMapper | ResponsesMapper, bool]:
    """The mapper for a stream by its first item, and whether items are helper-wrapped."""
    if getattr(first, "object", None) == "chat.completion.chunk" or hasattr(first, "choices"):
        return ChatMapper(), False
    if getattr(first, "type", None) == "chunk":
        # client.chat.completions.stream(): each chunk comes as a "chunk" event, beside
        # derived events ("content.delta", ...) that repeat it
        return ChatMapper(), True
    return ResponsesMapper(), False


async def events(
    stream: AsyncIterable[object], /, *, prices: Prices | None = None
) -> AsyncGenerator[AgentEvent, None]:
    """Yield agent-stream events for a Chat Completions or Responses stream, ending with ``done``.

    ``done`` carries the model, token counts (Chat Completions needs
    ``stream_options={"include_usage": True}``), stop reason, citations and the cost from
    ``prices``. A stream error (a Chat Completions ``{"error": ...}`` chunk, a Responses
    ``error`` or ``response.failed`` event) becomes ``error`` with OpenAI's type or code, then
    ``done`` with ``reason="error"``; so does a connection cut or timed out mid-stream (the
    SDK's ``APIConnectionError`` / ``APITimeoutError``) and a Responses stream that ends
    before its ``response.completed`` (``incomplete-stream``). The stream is closed when this
    generator ends.
    """
    sdk = require("openai", extra="openai", user="agent_stream.adapters.openai")
    mapper: ChatMapper | ResponsesMapper | None = None
    started = time.monotonic()
    failed = wrapped = False
    try:
        try:
            async for item in stream:
                if mapper is None:
                    mapper, wrapped = _mapper_for(item)
                if wrapped:
                    if getattr(item, "type", None) != "chunk":
                        continue
                    item = item.chunk  # type: ignore[attr-defined]
                for event in mapper.feed(item):
                    if type(event) is Error:
                        failed = True
                    yield event
        except sdk.APIError as exc:
            failed = True
            yield provider_error(exc, provider="openai")
    finally:
        await close_stream(stream)
    if mapper is None:
        mapper = ChatMapper()
    if not failed and isinstance(mapper, ResponsesMapper) and not mapper.is_complete:
        failed = True
        yield incomplete_error(provider="openai", expected="response.completed")
    pending, result = mapper.finish()
    for event in pending:
        yield event
    yield done_event(
        usage=result.usage,
        model=result.model,
        prices=prices,
        message_id=result.message_id,
        stop_reason=result.stop_reason,
        tool_count=len(result.tool_calls) + result.server_tool_count,
        duration_ms=(time.monotonic() - started) * 1000,
        reason="error" if failed else UNSET,
        citations=result.citations,
    )
