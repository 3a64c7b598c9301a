"""LangGraph graph streams -> agent-stream events.

Example::

    from agent_stream.adapters import langgraph

    async def agent(question):
        stream = graph.astream(
            {"messages": [("user", question)]},
            stream_mode=["messages", "updates", "custom"],
        )
        async for event in langgraph.events(stream):
            yield event

Takes ``astream(..., stream_mode=[...])`` items as ``(mode, data)``, ``(namespace, mode, data)``
(``subgraphs=True``) or ``version="v2"`` dicts, and a bare ``stream_mode="messages"`` stream.
Message chunks give ``token``/``thinking`` and a ``turn`` per new model message; complete AI
messages give ``tool_use`` per tool call; ``ToolMessage`` gives ``tool_result``; each node
update gives ``progress``; ``__interrupt__`` gives ``input_required``; ``custom`` writes of
``{"type": name, ...}`` pass through as events of that type. ``docs/adapters.md`` has the table.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, AsyncIterable, Callable, Mapping, Sequence
from typing import Any

from ..events import (
    UNSET,
    AgentEvent,
    InputRequired,
    JSONValue,
    Progress,
    Thinking,
    Token,
    ToolResult,
    ToolUse,
    Turn,
    UnknownEvent,
    parse_event,
)
from ._sdk import require
from ._summary import summarize
from ._turn import close_stream, plain
from ._usage import Prices, Usage, done_event

__all__ = ["LangGraphMapper", "events"]

_NOTHING: tuple[AgentEvent, ...] = ()
_MODES = frozenset({"messages", "updates", "custom", "values", "debug", "checkpoints", "tasks"})
# a custom write must not end or re-prime the stream the server owns
_RESERVED = frozenset({"done", "start", "reconnect"})


def _split(item: Any) -> tuple[str, Any]:
    if isinstance(item, Mapping) and "type" in item and "data" in item:
        return str(item["type"]), item["data"]
    if isinstance(item, tuple):
        if len(item) == 2 and isinstance(item[0], str) and item[0] in _MODES:
            return item[0], item[1]
        if len(item) == 3 and isinstance(item[1], str) and item[1] in _MODES:
            return item[1], item[2]
        if len(item) == 2 and hasattr(item[0], "content"):
            return "messages", item
        if len(item) == 2 and isinstance(item[0], tuple) and isinstance(item[1], tuple):
            # a bare "messages" stream with subgraphs=True: (namespace, (message, metadata))
            return _split(item[1])
    return "values", item


def _text_of(content: JSONValue) -> JSONValue:
    """A message's content blocks as their text (MCP tools answer in blocks), else as is."""
    if not isinstance(content, list):
        return content
    texts = [
        block if isinstance(block, str) else block.get("text")
        for block in content
        if isinstance(block, str) or (isinstance(block, dict) and block.get("type") == "text")
    ]
    joined = " ".join(text for text in texts if isinstance(text, str))
    return joined or content


class LangGraphMapper:
    """Maps LangGraph stream items to agent-stream events; sans-I/O."""

    __slots__ = (
        "_asked",
        "_clock",
        "_counted",
        "_messages",
        "_results",
        "_served",
        "_tools",
        "model",
        "num_turns",
        "tool_count",
        "usage",
    )

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._messages: set[str] = set()
        self._counted: set[str] = set()
        self._tools: dict[str, tuple[str, float]] = {}
        self._results: set[str] = set()
        self._asked: set[str] = set()
        # the model name the provider reported; until then, the one the run asked for
        self._served = False
        self.model = ""
        self.num_turns = 0
        self.tool_count = 0
        self.usage: Usage | None = None

    def feed(self, item: Any) -> Sequence[AgentEvent]:
        """The agent-stream events for one ``astream`` item."""
        mode, data = _split(item)
        if mode == "messages":
            message, metadata = data
            return self._message(message, metadata)
        if mode == "updates":
            return self._updates(data)
        if mode == "custom":
            return (self._custom(data),)
        return _NOTHING

    def _message(self, message: Any, metadata: Any) -> Sequence[AgentEvent]:
        kind: str = message.type
        if kind == "tool":
            return self._tool_result(message)
        if kind not in ("ai", "AIMessageChunk"):
            return _NOTHING
        if not self._served:
            self._model_of(message, metadata)
        out: list[AgentEvent] = []
        message_id = message.id or ""
        is_chunk = kind == "AIMessageChunk"
        if is_chunk or message_id not in self._messages:
            self._content(message, out)
            self._count_usage(message, is_chunk)
            # a new message with text or a tool call starts a turn (empty closing chunks
            # carry ids of their own)
            starts = out or not is_chunk or getattr(message, "tool_call_chunks", None)
            if message_id not in self._messages and starts:
                self._messages.add(message_id)
                self.num_turns += 1
                out.insert(0, Turn(turn_number=self.num_turns, total_tools=self.tool_count))
        if not is_chunk:
            self._tool_uses(message, out)
        return out

    def _model_of(self, message: Any, metadata: Any) -> None:
        # a streamed message names its model in its first chunk only (often an empty one)
        response = getattr(message, "response_metadata", None) or {}
        name = response.get("model_name") or response.get("model")
        if isinstance(name, str) and name:
            self.model, self._served = name, True
        elif not self.model and isinstance(metadata, Mapping):
            requested = metadata.get("ls_model_name")
            if isinstance(requested, str):
                self.model = requested

    def _content(self, message: Any, out: list[AgentEvent]) -> None:
        reasoning = (getattr(message, "additional_kwargs", None) or {}).get("reasoning_content")
        if isinstance(reasoning, str) and reasoning:
            out.append(Thinking(text=reasoning))
        content = message.content
        if isinstance(content, str):
            if content:
                out.append(Token(text=content))
            return
        for block in content:
            if isinstance(block, str):
                out.append(Token(text=block))
                continue
            block_type = block.get("type")
            if block_type == "text" and block.get("text"):
                out.append(Token(text=block["text"]))
            elif block_type in ("thinking", "reasoning"):
                text = block.get(block_type)
                if isinstance(text, str) and text:
                    out.append(Thinking(text=text))

    def _count_usage(self, message: Any, is_chunk: bool) -> None:
        usage = getattr(message, "usage_metadata", None)
        if not usage:
            return
        # chunks' usage adds up (as LangChain merges them); a whole message counts once
        if not is_chunk:
            if message.id in self._counted:
                return
            self._counted.add(message.id)
        details = usage.get("input_token_details") or {}
        if self.usage is None:
            self.usage = Usage()
        self.usage.add(
            Usage(
                input_tokens=usage.get("input_tokens", 0),
                output_tokens=usage.get("output_tokens", 0),
                cache_read_tokens=details.get("cache_read", 0) or 0,
                cache_write_tokens=details.get("cache_creation", 0) or 0,
            )
        )

    def _tool_uses(self, message: Any, out: list[AgentEvent]) -> None:
        for call in getattr(message, "tool_calls", None) or ():
            call_id = call.get("id") or ""
            if call_id in self._tools or call_id in self._results:
                continue
            self._tools[call_id] = (call["name"], self._clock())
            self.tool_count += 1
            arguments = plain(call.get("args", {}))
            out.append(
                ToolUse(
                    tool_name=call["name"],
                    tool_use_id=call_id,
                    input_summary=summarize(arguments),
                    input=arguments,
                )
            )

    def _tool_result(self, message: Any) -> Sequence[AgentEvent]:
        call_id: str = message.tool_call_id
        if call_id in self._results:
            return _NOTHING
        self._results.add(call_id)
        name, started = self._tools.pop(call_id, (message.name or "tool", self._clock()))
        output = plain(message.content)
        return (
            ToolResult(
                tool_name=name,
                tool_use_id=call_id,
                output_summary=summarize(_text_of(output)),
                duration_ms=round((self._clock() - started) * 1000, 3),
                status="error" if getattr(message, "status", "success") == "error" else "done",
                output=output if output is not None else UNSET,
            ),
        )

    def _updates(self, data: Any) -> Sequence[AgentEvent]:
        if not isinstance(data, Mapping):
            return _NOTHING
        out: list[AgentEvent] = []
        for node, update in data.items():
            if node == "__interrupt__":
                # a subgraph's interrupt comes in its own updates and again in its parent's
                for interrupt in update:
                    asked = self._interrupt(interrupt)
                    if asked.request_id not in self._asked:
                        self._asked.add(asked.request_id)
                        out.append(asked)
                continue
            if node == "__metadata__":
                continue
            messages = update.get("messages") if isinstance(update, Mapping) else None
            if isinstance(messages, list | tuple):
                for message in messages:
                    kind = getattr(message, "type", None)
                    if kind == "ai":
                        # a message not streamed in "messages" mode shows up whole here
                        out.extend(self._message(message, None))
                    elif kind == "tool":
                        out.extend(self._tool_result(message))
            out.append(Progress(step=str(node), percentage=100, message=f"{node} finished"))
        return out

    def _interrupt(self, interrupt: Any) -> InputRequired:
        value = getattr(interrupt, "value", interrupt)
        request_id = str(getattr(interrupt, "id", "") or "interrupt")
        if isinstance(value, Mapping):
            prompt = value.get("prompt") or value.get("question") or summarize(plain(value))
            choices = value.get("choices") or value.get("options")
            return InputRequired(
                request_id=request_id,
                prompt=str(prompt),
                choices=[str(c) for c in choices] if isinstance(choices, list) else UNSET,
            )
        return InputRequired(request_id=request_id, prompt=str(value))

    def _custom(self, data: Any) -> AgentEvent:
        if isinstance(data, Mapping):
            event_type = data.get("type")
            if isinstance(event_type, str) and event_type not in _RESERVED:
                payload = {str(k): v for k, v in data.items() if k != "type"}
                return parse_event(event_type, plain(payload))  # type: ignore[arg-type]
            body = plain(data)
            return UnknownEvent("custom", body if isinstance(body, dict) else {"value": body})
        value: JSONValue = plain(data)
        return UnknownEvent("custom", {"value": value})


async def events(
    graph_stream: AsyncIterable[Any], /, *, prices: Prices | None = None
) -> AsyncGenerator[AgentEvent, None]:
    """Yield agent-stream events for a compiled graph's ``astream``, ending with ``done``.

    Use ``stream_mode=["messages", "updates", "custom"]`` for everything this maps. ``done``
    carries the turns, tool calls, model and summed ``usage_metadata`` with its cost. An
    exception from the graph propagates (the server turns it into ``error`` + ``done``).
    """
    require("langchain_core", extra="langgraph", user="agent_stream.adapters.langgraph")
    mapper = LangGraphMapper()
    started = time.monotonic()
    try:
        async for item in graph_stream:
            for event in mapper.feed(item):
                yield event
    finally:
        await close_stream(graph_stream)
    yield done_event(
        usage=mapper.usage,
        model=mapper.model,
        prices=prices,
        num_turns=mapper.num_turns,
        tool_count=mapper.tool_count,
        duration_ms=(time.monotonic() - started) * 1000,
    )
