"""The demo's real-model agent: Claude or an OpenAI model with a clock and a calculator.

Used when ``ANTHROPIC_API_KEY`` (first) or ``OPENAI_API_KEY`` is set; the SDKs also read
``ANTHROPIC_BASE_URL`` / ``OPENAI_BASE_URL``, so any OpenAI-compatible server works. The model
defaults to a small one and ``AGENT_STREAM_MODEL`` picks another. Each request is a fresh
one-message conversation run by :func:`~agent_stream.adapters.tool_loop`.
"""

from __future__ import annotations

import ast
import importlib
import operator
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from ..adapters import tool_loop
from ..errors import UsageError
from ..events import AgentEvent, JSONValue

__all__ = ["ModelAgent", "calculator", "clock", "model_agent_from_env"]

DEFAULT_MODELS = {"anthropic": "claude-haiku-4-5", "openai": "gpt-4o-mini"}
SYSTEM = (
    "You are the assistant of the agent-stream demo. Use the clock and calculator tools "
    "whenever a question involves the time or arithmetic. Answer briefly."
)
_MAX_EXPRESSION_CHARS = 200
_MAX_POWER = 1000

_BINARY: Mapping[type[ast.operator], Callable[[float, float], float]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: Mapping[type[ast.unaryop], Callable[[float], float]] = {
    ast.UAdd: operator.pos,
    ast.USub: operator.neg,
}


async def clock() -> str:
    """The current date and time in UTC (ISO 8601)."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def _evaluate(node: ast.expr) -> float:
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        number: float = node.value  # type: ignore[assignment]
        return number
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _evaluate(node.left), _evaluate(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > _MAX_POWER:
            raise ValueError(f"exponent {right:g} is too large")
        return _BINARY[type(node.op)](left, right)
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_evaluate(node.operand))
    raise ValueError(f"unsupported syntax: {ast.unparse(node)}")


async def calculator(expression: str) -> str:
    """Evaluate an arithmetic expression: numbers, + - * / // % ** and parentheses."""
    if len(expression) > _MAX_EXPRESSION_CHARS:
        raise ValueError(f"expression longer than {_MAX_EXPRESSION_CHARS} characters")
    tree = ast.parse(expression.replace("^", "**"), mode="eval")
    value = _evaluate(tree.body)
    return f"{value:g}" if isinstance(value, float) else str(value)


@dataclass(frozen=True, slots=True)
class ModelAgent:
    """A configured provider client and model; call :meth:`run` per request."""

    provider: str
    model: str
    client: object

    def run(self, message: str, *, needs_approval: bool = False) -> AsyncIterator[AgentEvent]:
        """The events of one run; with ``needs_approval`` each tool call asks a person first."""
        messages: list[Mapping[str, JSONValue]] = [{"role": "user", "content": message}]

        if self.provider == "anthropic":
            return tool_loop(
                self.client,
                model=self.model,
                messages=messages,
                tools=[clock, calculator],
                max_turns=5,
                tool_timeout_s=10.0,
                needs_approval=needs_approval,
                system=SYSTEM,
                max_tokens=1024,
            )
        return tool_loop(
            self.client,
            model=self.model,
            messages=[{"role": "system", "content": SYSTEM}, *messages],
            tools=[clock, calculator],
            max_turns=5,
            tool_timeout_s=10.0,
            needs_approval=needs_approval,
        )


def model_agent_from_env(environ: Mapping[str, str]) -> ModelAgent | None:
    """The real-model agent the environment configures, or None (the scripted agent runs)."""
    for provider, key, base_url, client_name in (
        ("anthropic", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "AsyncAnthropic"),
        ("openai", "OPENAI_API_KEY", "OPENAI_BASE_URL", "AsyncOpenAI"),
    ):
        if not environ.get(key):
            continue
        try:
            sdk = importlib.import_module(provider)
        except ImportError:
            raise UsageError(
                f"{key} is set but the {provider} SDK is not installed: "
                f"pip install 'agent-event-stream[{provider}]' (or unset {key} for the "
                "scripted agent)",
                code="missing-extra",
            ) from None
        model = environ.get("AGENT_STREAM_MODEL") or DEFAULT_MODELS[provider]
        client = getattr(sdk, client_name)(
            api_key=environ[key], base_url=environ.get(base_url) or None
        )
        return ModelAgent(provider, model, client)
    return None
