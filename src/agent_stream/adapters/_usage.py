"""Token usage summed over a run, and its cost from a price table the caller can override.

Providers count prompt tokens differently: Anthropic's ``input_tokens`` leaves out the tokens
read from or written to the cache, OpenAI's ``prompt_tokens`` includes its ``cached_tokens``.
:class:`Usage` holds one meaning for both: ``input_tokens`` is every prompt token, and the cache
counts are parts of it, so usage from either provider adds up and costs the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..events import UNSET, Done, DoneReason, JSONValue, UnsetType

__all__ = ["DEFAULT_PRICES", "Price", "Prices", "Usage", "cost_usd", "done_event"]


@dataclass(frozen=True, slots=True)
class Price:
    """US dollars per million tokens: prompt, output, cache read, cache write."""

    input: float
    output: float
    cache_read: float | None = None
    cache_write: float | None = None


Prices = Mapping[str, Price]

# USD per million tokens from the providers' public price lists when this was written; prices
# change, so pass ``prices=`` to override. Keys are model-name prefixes; the longest match wins.
DEFAULT_PRICES: Mapping[str, Price] = {
    "claude-opus-4-5": Price(5.0, 25.0, 0.50, 6.25),
    "claude-opus-4": Price(15.0, 75.0, 1.50, 18.75),
    "claude-sonnet-4": Price(3.0, 15.0, 0.30, 3.75),
    "claude-3-7-sonnet": Price(3.0, 15.0, 0.30, 3.75),
    "claude-haiku-4-5": Price(1.0, 5.0, 0.10, 1.25),
    "claude-3-5-haiku": Price(0.80, 4.0, 0.08, 1.0),
    "gpt-5": Price(1.25, 10.0, 0.125),
    "gpt-5-mini": Price(0.25, 2.0, 0.025),
    "gpt-5-nano": Price(0.05, 0.40, 0.005),
    "gpt-4.1": Price(2.0, 8.0, 0.50),
    "gpt-4.1-mini": Price(0.40, 1.60, 0.10),
    "gpt-4.1-nano": Price(0.10, 0.40, 0.025),
    "gpt-4o": Price(2.50, 10.0, 1.25),
    "gpt-4o-mini": Price(0.15, 0.60, 0.075),
    "gpt-5-pro": Price(15.0, 120.0),
    "o1": Price(15.0, 60.0, 7.50),
    "o1-mini": Price(1.10, 4.40, 0.55),
    "o1-pro": Price(150.0, 600.0),
    "o3": Price(2.0, 8.0, 0.50),
    "o3-mini": Price(1.10, 4.40, 0.55),
    "o3-pro": Price(20.0, 80.0),
    "o3-deep-research": Price(10.0, 40.0, 2.50),
    "o4-mini": Price(1.10, 4.40, 0.275),
    "o4-mini-deep-research": Price(2.0, 8.0, 0.50),
}


def _price_of(model: str, prices: Prices) -> Price | None:
    best: str | None = None
    for prefix in prices:
        if model.startswith(prefix) and (best is None or len(prefix) > len(best)):
            best = prefix
    return None if best is None else prices[best]


@dataclass(slots=True)
class Usage:
    """Token counts; ``cache_read_tokens`` and ``cache_write_tokens`` are parts of ``input``."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0

    def add(self, other: Usage) -> None:
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.cache_read_tokens += other.cache_read_tokens
        self.cache_write_tokens += other.cache_write_tokens


def cost_usd(usage: Usage, model: str, prices: Prices | None = None) -> float:
    """What ``usage`` of ``model`` costs in USD; 0.0 for a model the table does not know."""
    price = _price_of(model, DEFAULT_PRICES if prices is None else prices)
    if price is None:
        return 0.0
    cache_read = price.input if price.cache_read is None else price.cache_read
    cache_write = price.input if price.cache_write is None else price.cache_write
    uncached = max(usage.input_tokens - usage.cache_read_tokens - usage.cache_write_tokens, 0)
    total = (
        uncached * price.input
        + usage.cache_read_tokens * cache_read
        + usage.cache_write_tokens * cache_write
        + usage.output_tokens * price.output
    )
    return round(total / 1_000_000, 8)


def done_event(
    *,
    usage: Usage | None,
    model: str,
    prices: Prices | None,
    message_id: str = "",
    stop_reason: str | None = None,
    num_turns: int = 1,
    tool_count: int = 0,
    duration_ms: float = 0,
    reason: DoneReason | UnsetType = UNSET,
    citations: list[dict[str, JSONValue]] | None = None,
) -> Done:
    """The run's ``done``: model, usage, cost, stop reason and counts."""
    unset = UNSET
    return Done(
        message_id=message_id,
        num_turns=num_turns,
        tool_count=tool_count,
        duration_ms=round(duration_ms, 3),
        model=model,
        total_cost_usd=0.0 if usage is None else cost_usd(usage, model, prices),
        reason=reason,
        stop_reason=unset if stop_reason is None else stop_reason,
        input_tokens=unset if usage is None else usage.input_tokens,
        output_tokens=unset if usage is None else usage.output_tokens,
        cache_read_tokens=unset if usage is None else usage.cache_read_tokens,
        cache_write_tokens=unset if usage is None else usage.cache_write_tokens,
        citations=citations if citations else unset,
    )
