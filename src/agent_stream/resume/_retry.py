"""When to try again: exponential backoff with full jitter, and ``Retry-After``.

Pure functions of their arguments (the random draw and the clock come in), so retry timing is
tested without waiting.
"""

from __future__ import annotations

import email.utils
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["RetryPolicy", "parse_retry_after"]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how long to wait before reconnecting.

    ``max_retries`` bounds consecutive failed attempts (a connection that delivers a new event
    resets the count). Attempt ``n`` (from 1) waits ``random() * min(backoff_max_s,
    base * 2 ** (n - 1))`` seconds, where ``base`` is the server's ``retry:`` interval when it
    sent one, else ``backoff_base_s`` (full jitter: reconnecting clients spread out instead of
    arriving together).
    """

    max_retries: int = 8
    backoff_base_s: float = 1.0
    backoff_max_s: float = 30.0

    def delay_s(
        self, attempt: int, *, server_retry_ms: int | None, random: Callable[[], float]
    ) -> float:
        """Seconds to wait before attempt ``attempt`` (1 for the first retry)."""
        base = server_retry_ms / 1000 if server_retry_ms is not None else self.backoff_base_s
        ceiling = min(self.backoff_max_s, base * 2.0 ** min(attempt - 1, 62))
        return max(0.0, random() * ceiling)


def parse_retry_after(value: str | None, *, now_s: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delay-seconds or an HTTP date).

    ``now_s`` is the current Unix time (for the date form). ``None`` when absent or malformed.
    """
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now_s)
