"""Short human-readable summaries of tool inputs and outputs (``input_summary``)."""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["SUMMARY_CHARS", "summarize"]

SUMMARY_CHARS = 80


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def summarize(value: object, limit: int = SUMMARY_CHARS) -> str:
    """``key=value, …`` for a mapping, the text for a string, ``repr``-free JSON-ish otherwise."""
    if isinstance(value, str):
        return _cut(" ".join(value.split()), limit)
    if isinstance(value, Mapping):
        parts = [f"{key}={summarize(item, limit)}" for key, item in value.items()]
        return _cut(", ".join(parts), limit)
    if isinstance(value, list | tuple):
        return _cut(f"{len(value)} item{'' if len(value) == 1 else 's'}", limit)
    if value is None:
        return ""
    return _cut(str(value), limit)
