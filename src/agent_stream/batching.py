"""``TokenBatcher``: coalesce token text so a client re-renders at most every few ms.

The original 0.1 batcher only flushes inside ``add``, so the last tokens before a pause wait
for the next token. This one keeps ``add`` / ``flush`` / ``has_content`` and also says when a
flush is due (:meth:`TokenBatcher.next_deadline`), so the loop that owns the timer can call
:meth:`TokenBatcher.poll` then. It never reads a clock of its own accord beyond ``clock`` and
starts no timers.

Example (a server loop)::

    batcher = TokenBatcher(interval_ms=50)
    ...
    if (text := batcher.add(chunk)) is not None:
        send(emitter.token(text))
    # when idle, wait until batcher.next_deadline(), then:
    if (text := batcher.poll()) is not None:
        send(emitter.token(text))
"""

from __future__ import annotations

import time
from collections.abc import Callable

from .errors import UsageError

__all__ = ["TokenBatcher"]

# Weight of the newest inter-token gap in the adaptive interval's moving average.
_EWMA_ALPHA = 0.2


class TokenBatcher:
    """Accumulates token text and releases it at most once per interval.

    ``interval_ms`` is the fixed interval. With ``adaptive=True`` the interval instead follows an
    exponentially weighted moving average of the gap between ``add`` calls, clamped to
    ``[min_interval_ms, max_interval_ms]``: tokens that arrive slower than the interval go out
    one by one with no added delay, faster ones are coalesced to one flush per interval.
    ``clock`` returns seconds (``time.monotonic`` by default); times passed to :meth:`poll` and
    returned by :meth:`next_deadline` are on that clock.
    """

    __slots__ = (
        "_adaptive",
        "_buffer",
        "_clock",
        "_gap_s",
        "_interval_s",
        "_last_add",
        "_last_flush",
        "_max_s",
        "_min_s",
    )

    def __init__(
        self,
        interval_ms: float = 50,
        *,
        adaptive: bool = False,
        min_interval_ms: float = 16,
        max_interval_ms: float = 100,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if interval_ms < 0:
            raise UsageError(
                f"interval_ms must be >= 0, got {interval_ms!r}", code="invalid-interval"
            )
        if not 0 <= min_interval_ms <= max_interval_ms:
            raise UsageError(
                f"need 0 <= min_interval_ms <= max_interval_ms, got {min_interval_ms!r} and "
                f"{max_interval_ms!r}",
                code="invalid-interval",
            )
        self._buffer: list[str] = []
        self._clock = clock
        self._adaptive = adaptive
        self._min_s = min_interval_ms / 1000
        self._max_s = max_interval_ms / 1000
        self._interval_s = interval_ms / 1000
        if adaptive:
            self._interval_s = min(max(self._interval_s, self._min_s), self._max_s)
        self._gap_s = self._interval_s
        self._last_flush = clock()
        self._last_add: float | None = None

    @property
    def interval_ms(self) -> float:
        """The interval in force (it moves in adaptive mode)."""
        return self._interval_s * 1000

    @property
    def has_content(self) -> bool:
        """True if text is buffered and not yet flushed."""
        return bool(self._buffer)

    def add(self, text: str) -> str | None:
        """Buffer ``text``; return everything buffered if the interval has elapsed, else None.

        Empty text is not buffered (it would become an empty ``token``).
        """
        now = self._clock()
        if self._adaptive:
            self._observe(now)
        if text:
            self._buffer.append(text)
        if self._buffer and now >= self._last_flush + self._interval_s:
            return self._take(now)
        return None

    def flush(self) -> str | None:
        """Return everything buffered (None if nothing is), e.g. at the end of a stream."""
        if not self._buffer:
            return None
        return self._take(self._clock())

    def next_deadline(self) -> float | None:
        """The clock time at which buffered text is due, or None when nothing is buffered."""
        if not self._buffer:
            return None
        return self._last_flush + self._interval_s

    def poll(self, now: float | None = None) -> str | None:
        """Flush if a flush is due at ``now`` (default: the clock's time), else None."""
        if not self._buffer:
            return None
        if now is None:
            now = self._clock()
        if now >= self._last_flush + self._interval_s:
            return self._take(now)
        return None

    def _take(self, now: float) -> str:
        buffer = self._buffer
        text = buffer[0] if len(buffer) == 1 else "".join(buffer)
        buffer.clear()
        self._last_flush = now
        return text

    def _observe(self, now: float) -> None:
        last = self._last_add
        self._last_add = now
        if last is None:
            return
        # Cap each sample so one long pause does not hold the interval at the maximum.
        gap = min(max(now - last, 0.0), self._max_s)
        self._gap_s += _EWMA_ALPHA * (gap - self._gap_s)
        self._interval_s = min(max(self._gap_s, self._min_s), self._max_s)
