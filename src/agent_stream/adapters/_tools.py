"""Tools for :func:`~agent_stream.adapters.tool_loop`: an async callable plus its JSON Schema."""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import time
import types
import typing
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from ..errors import UsageError
from ..events import JSONValue, ToolResult
from ._summary import summarize
from ._turn import ToolCall, is_unparsed, plain

__all__ = ["Tool", "ToolOutcome", "as_tools", "run_tool"]

logger = logging.getLogger("agent_stream")

ToolFunction = Callable[..., Awaitable[object]]

_JSON_TYPES: Mapping[object, str] = {
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    dict: "object",
    list: "array",
}


def _schema_of(annotation: object) -> dict[str, JSONValue]:
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return {"enum": list(typing.get_args(annotation))}
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _schema_of(args[0]) if len(args) == 1 else {}
    json_type = _JSON_TYPES.get(origin or annotation)
    return {"type": json_type} if json_type else {}


def _parameters_of(function: ToolFunction) -> dict[str, JSONValue]:
    hints = typing.get_type_hints(function)
    properties: dict[str, JSONValue] = {}
    required: list[JSONValue] = []
    for name, parameter in inspect.signature(function).parameters.items():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        properties[name] = _schema_of(hints.get(name, object))
        if parameter.default is parameter.empty:
            required.append(name)
    return {"type": "object", "properties": properties, "required": required}


@dataclass(frozen=True, slots=True)
class Tool:
    """A tool the model may call: ``function(**input)`` is awaited with the model's arguments.

    ``name`` and ``description`` default to the function's name and docstring; ``parameters``
    (a JSON Schema object) defaults to one read from the signature (str, int, float, bool,
    list, dict, Literal and optional parameters). ``timeout_s`` overrides the loop's timeout.
    """

    function: ToolFunction
    name: str = ""
    description: str = ""
    parameters: Mapping[str, JSONValue] = field(default_factory=dict)
    timeout_s: float | None = None

    def __post_init__(self) -> None:
        if not inspect.iscoroutinefunction(self.function):
            raise UsageError(
                f"tool {self.function!r} is not an async function; tools are awaited "
                "(wrap blocking code with anyio.to_thread.run_sync)",
                code="invalid-tool",
            )
        if not self.name:
            object.__setattr__(self, "name", self.function.__name__)
        if not self.description:
            object.__setattr__(self, "description", inspect.getdoc(self.function) or self.name)
        if not self.parameters:
            object.__setattr__(self, "parameters", _parameters_of(self.function))


def as_tools(tools: object) -> dict[str, Tool]:
    """Tools by name from a list of :class:`Tool` or async functions."""
    if not isinstance(tools, list | tuple):
        raise UsageError("tools= is a list of Tool or async functions", code="invalid-tool")
    result: dict[str, Tool] = {}
    for item in tools:
        tool = item if isinstance(item, Tool) else Tool(item)
        if tool.name in result:
            raise UsageError(f"two tools are named {tool.name!r}", code="invalid-tool")
        result[tool.name] = tool
    return result


@dataclass(frozen=True, slots=True)
class ToolOutcome:
    """A finished call: the event to show and the text to send back to the model."""

    call: ToolCall
    event: ToolResult
    content: str
    is_error: bool


def _outcome(call: ToolCall, started: float, output: JSONValue, failed: bool) -> ToolOutcome:
    content = output if isinstance(output, str) else json.dumps(output, default=str)
    return ToolOutcome(
        call,
        ToolResult(
            tool_name=call.name,
            tool_use_id=call.id,
            output_summary=summarize(output),
            duration_ms=round((time.monotonic() - started) * 1000, 3),
            status="error" if failed else "done",
            output=output,
        ),
        content,
        failed,
    )


async def run_tool(call: ToolCall, tools: Mapping[str, Tool], timeout_s: float) -> ToolOutcome:
    """Run one call with its timeout; a failure becomes an error result the model reads."""
    started = time.monotonic()
    tool = tools.get(call.name)
    if tool is None:
        return _outcome(call, started, f"unknown tool {call.name!r}", True)
    if is_unparsed(call):
        written = summarize(call.arguments, 200)
        message = f"the arguments are not valid JSON ({written}); call {call.name} again"
        return _outcome(call, started, message, True)
    arguments = call.input if isinstance(call.input, dict) else {}
    limit = tool.timeout_s if tool.timeout_s is not None else timeout_s
    try:
        output = await asyncio.wait_for(tool.function(**arguments), limit)
    except TimeoutError:
        return _outcome(call, started, f"{call.name} timed out after {limit:g} s", True)
    # a tool's failure is data for the model (it may retry or explain), never the run's end
    except Exception as exc:  # noqa: BLE001
        logger.info("tool %s failed: %r", call.name, exc)
        return _outcome(call, started, f"{type(exc).__name__}: {exc}", True)
    return _outcome(call, started, plain(output), False)
