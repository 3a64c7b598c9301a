"""Anthropic Messages streams -> agent-stream events.

Example::

    from anthropic import AsyncAnthropic
    from agent_stream.adapters import anthropic

    client = AsyncAnthropic()

    async def agent(question):
        stream = await client.messages.create(
            model="claude-sonnet-4-5", max_tokens=1024, stream=True,
            messages=[{"role": "user", "content": question}],
        )
        async for event in anthropic.events(stream):
            yield event

``events`` takes the stream of ``messages.create(..., stream=True)`` or the object inside
``async with client.messages.stream(...) as stream`` (whose extra ``text``/``thinking``/
``input_json``/``citation``/``signature`` events repeat the raw deltas and are skipped).
``docs/adapters.md`` has the full mapping table.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, AsyncIterable, Callable, Sequence
from typing import Any

from ..events import UNSET, AgentEvent, JSONValue, Thinking, Token, ToolResult, ToolUse
from ._sdk import require
from ._summary import summarize
from ._turn import (
    UNPARSED,
    ToolCall,
    TurnResult,
    close_stream,
    incomplete_error,
    parse_arguments,
    plain,
    provider_error,
    stream_failures,
)
from ._usage import Prices, Usage, done_event

__all__ = ["AnthropicMapper", "events"]

_NOTHING: tuple[AgentEvent, ...] = ()
_TOOL_BLOCKS = frozenset({"tool_use", "server_tool_use", "mcp_tool_use"})


def _dump(model: Any) -> dict[str, Any]:
    """An SDK object as the JSON the API takes back (encrypted fields kept)."""
    dumped: dict[str, Any] = model.model_dump(mode="json", exclude_none=True)
    return dumped


class _ToolBlock:
    __slots__ = ("id", "kind", "name", "parts", "preset")

    def __init__(self, kind: str, block: Any) -> None:
        self.kind = kind
        self.id: str = block.id
        self.name: str = block.name
        self.parts: list[str] = []
        # a block may arrive with its input whole (no input_json_delta follows)
        preset = getattr(block, "input", None)
        self.preset: JSONValue = plain(preset) if preset else None


class AnthropicMapper:
    """Maps one Messages stream's events to agent-stream events, and remembers the turn.

    Sans-I/O: :meth:`feed` takes one SDK event and returns the events it maps to. ``text_offset``
    is where this message's text starts in the run (citations record their offset in it).
    """

    __slots__ = (
        "_blocks",
        "_cache_read",
        "_cache_write",
        "_clock",
        "_content",
        "_content_parts",
        "_input",
        "_output",
        "_server_started",
        "_text_parts",
        "has_usage",
        "is_complete",
        "result",
        "text_offset",
    )

    def __init__(
        self, *, text_offset: int = 0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.result = TurnResult()
        self.text_offset = text_offset
        self.has_usage = False
        self.is_complete = False
        self._clock = clock
        self._blocks: dict[int, _ToolBlock] = {}
        self._server_started: dict[str, tuple[str, float]] = {}
        # the content blocks by index, as the API wants them back in the next request
        self._content: dict[int, dict[str, Any]] = {}
        # text / thinking deltas by block index, joined once in finish()
        self._content_parts: dict[int, list[str]] = {}
        self._text_parts: list[str] = []
        self._input = self._output = self._cache_read = self._cache_write = 0

    def feed(self, event: Any) -> Sequence[AgentEvent]:
        """The agent-stream events for one SDK stream event (often none)."""
        kind = event.type
        if kind == "content_block_delta":
            delta = event.delta
            delta_kind = delta.type
            if delta_kind == "text_delta":
                text: str = delta.text
                self._text_parts.append(text)
                self.text_offset += len(text)
                self._content_parts.setdefault(event.index, []).append(text)
                return (Token(text=text),)
            if delta_kind == "thinking_delta":
                self._content_parts.setdefault(event.index, []).append(delta.thinking)
                return (Thinking(text=delta.thinking),)
            content = self._content.get(event.index, {})
            if delta_kind == "input_json_delta":
                block = self._blocks.get(event.index)
                if block is not None:
                    block.parts.append(delta.partial_json)
                return _NOTHING
            if delta_kind == "citations_delta":
                content.setdefault("citations", []).append(_dump(delta.citation))
                citation = plain(delta.citation)
                if isinstance(citation, dict):
                    citation["text_offset"] = self.text_offset
                    self.result.citations.append(citation)
            if delta_kind == "signature_delta":
                # authenticates the thinking block when it is sent back; nothing to show
                content["signature"] = delta.signature
            return _NOTHING
        if kind == "content_block_start":
            self._content[event.index] = _dump(event.content_block)
            self._content_parts[event.index] = []
            return self._start(event.index, event.content_block)
        if kind == "content_block_stop":
            return self._stop(event.index)
        if kind == "message_start":
            message = event.message
            self.result.model = message.model
            self.result.message_id = message.id
            self._usage(message.usage)
            return _NOTHING
        if kind == "message_delta":
            stop_reason = event.delta.stop_reason
            if stop_reason is not None:
                self.result.stop_reason = stop_reason
            self._usage(event.usage)
            return _NOTHING
        if kind == "message_stop":
            # the message is whole (events() adds done); a stream without it was cut short
            self.is_complete = True
        # helper events (text, input_json...) repeat the deltas
        return _NOTHING

    def _start(self, index: int, block: Any) -> Sequence[AgentEvent]:
        kind: str = block.type
        if kind == "text":
            return (Token(text=block.text),) if block.text else _NOTHING
        if kind == "thinking":
            return (Thinking(text=block.thinking),) if block.thinking else _NOTHING
        if kind in _TOOL_BLOCKS:
            self._blocks[index] = _ToolBlock(kind, block)
            return _NOTHING
        if kind.endswith("_tool_result"):
            return (self._server_result(kind, block),)
        # redacted_thinking (encrypted), container_upload, compaction...: nothing to show
        return _NOTHING

    def _stop(self, index: int) -> Sequence[AgentEvent]:
        block = self._blocks.pop(index, None)
        if block is None:
            return _NOTHING
        arguments = "".join(block.parts)
        tool_input: JSONValue
        if arguments:
            tool_input = parse_arguments(arguments)
        else:
            tool_input = block.preset if block.preset is not None else {}
        content = self._content.get(index)
        if content is not None:
            # the API takes back only an object: arguments that are not one are sent as {}
            valid = isinstance(tool_input, dict) and UNPARSED not in tool_input
            content["input"] = tool_input if valid else {}
        if block.kind == "tool_use":
            self.result.tool_calls.append(ToolCall(block.id, block.name, tool_input, arguments))
        else:
            # the API runs server tools itself: their result follows in this stream
            self.result.server_tool_count += 1
            self._server_started[block.id] = (block.name, self._clock())
        return (
            ToolUse(
                tool_name=block.name,
                tool_use_id=block.id,
                input_summary=summarize(tool_input),
                input=tool_input,
            ),
        )

    def _server_result(self, kind: str, block: Any) -> ToolResult:
        tool_use_id: str = block.tool_use_id
        name, started = self._server_started.pop(
            tool_use_id, (kind.removesuffix("_tool_result"), self._clock())
        )
        content = plain(getattr(block, "content", None))
        failed = bool(getattr(block, "is_error", False)) or (
            isinstance(content, dict) and str(content.get("type", "")).endswith("_error")
        )
        if isinstance(content, list):
            summary = f"{len(content)} result{'' if len(content) == 1 else 's'}"
        elif isinstance(content, dict) and failed:
            summary = summarize(content.get("error_code", content))
        else:
            summary = summarize(content)
        return ToolResult(
            tool_name=name,
            tool_use_id=tool_use_id,
            output_summary=summary,
            duration_ms=round((self._clock() - started) * 1000, 3),
            status="error" if failed else "done",
            output=content if content is not None else UNSET,
        )

    def _usage(self, usage: Any) -> None:
        if usage is None:
            return
        self.has_usage = True
        # message_delta counts are cumulative: the latest non-null value wins
        if usage.input_tokens is not None:
            self._input = usage.input_tokens
        if usage.output_tokens is not None:
            self._output = usage.output_tokens
        if usage.cache_read_input_tokens is not None:
            self._cache_read = usage.cache_read_input_tokens
        if usage.cache_creation_input_tokens is not None:
            self._cache_write = usage.cache_creation_input_tokens

    def finish(self) -> TurnResult:
        """The turn as mapped so far: usage totals, text, tool calls, stop reason."""
        result = self.result
        if self.has_usage:
            result.usage = Usage(
                input_tokens=self._input + self._cache_read + self._cache_write,
                output_tokens=self._output,
                cache_read_tokens=self._cache_read,
                cache_write_tokens=self._cache_write,
            )
        result.text = "".join(self._text_parts)
        result.is_complete = self.is_complete
        for index, parts in self._content_parts.items():
            block = self._content.get(index, {})
            key = "thinking" if block.get("type") == "thinking" else "text"
            if parts and key in block:
                block[key] += "".join(parts)
            parts.clear()
        result.content = [self._content[index] for index in sorted(self._content)]
        return result


async def events(
    stream: AsyncIterable[object], /, *, prices: Prices | None = None
) -> AsyncGenerator[AgentEvent, None]:
    """Yield agent-stream events for an Anthropic Messages stream, ending with ``done``.

    ``done`` carries the model, token counts, stop reason, citations and the cost from
    ``prices`` (USD per million tokens by model prefix; defaults to
    :data:`agent_stream.adapters.DEFAULT_PRICES`). An API error in the stream (e.g.
    ``overloaded_error``) becomes ``error`` with the provider's type, then ``done`` with
    ``reason="error"``; so does a connection cut or timed out mid-stream (``error_type`` is the
    exception the SDK raised: ``APIConnectionError`` since anthropic 2.17, before it httpx's,
    e.g. ``RemoteProtocolError``) and a stream that ends before
    ``message_stop`` (``incomplete-stream``). The stream is closed when this generator ends
    or is closed.
    """
    sdk = require("anthropic", extra="anthropic", user="agent_stream.adapters.anthropic")
    failures = stream_failures(sdk, extra="anthropic")
    mapper = AnthropicMapper()
    started = time.monotonic()
    failure = None
    try:
        try:
            async for item in stream:
                for event in mapper.feed(item):
                    yield event
        except failures as exc:
            failure = provider_error(exc, provider="anthropic")
    finally:
        await close_stream(stream)
    if failure is None and not mapper.is_complete:
        failure = incomplete_error(provider="anthropic", expected="message_stop")
    if failure is not None:
        yield failure
    result = mapper.finish()
    yield done_event(
        usage=result.usage,
        model=result.model,
        prices=prices,
        message_id=result.message_id,
        stop_reason=result.stop_reason,
        tool_count=len(result.tool_calls) + result.server_tool_count,
        duration_ms=(time.monotonic() - started) * 1000,
        reason="error" if failure is not None else UNSET,
        citations=result.citations,
    )
