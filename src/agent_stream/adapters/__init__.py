"""LLM SDK streams -> agent-stream events, and a tool loop.

Each provider module maps what its SDK's async streaming call gives you and imports the SDK
lazily, so ``import agent_stream.adapters`` needs no extra:

- ``agent_stream.adapters.anthropic.events(stream)`` (extra ``[anthropic]``)
- ``agent_stream.adapters.openai.events(stream)``: Chat Completions and Responses (``[openai]``)
- ``agent_stream.adapters.langgraph.events(graph_stream)`` (``[langgraph]``)
- :func:`tool_loop`: run a model with async Python tools until it stops (Anthropic, OpenAI)

See ``docs/adapters.md`` for the mapping tables.
"""

from __future__ import annotations

from ._loop import BeforeTool, NeedsApproval, tool_loop
from ._tools import Tool
from ._turn import ToolCall
from ._usage import DEFAULT_PRICES, Price, Usage, cost_usd

__all__ = [
    "DEFAULT_PRICES",
    "BeforeTool",
    "NeedsApproval",
    "Price",
    "Tool",
    "ToolCall",
    "Usage",
    "cost_usd",
    "tool_loop",
]
