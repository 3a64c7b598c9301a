from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent_stream import TokenBatcher
from agent_stream.errors import UsageError


class FakeClock:
    """Seconds, kept as whole microseconds so sums of steps are exact."""

    def __init__(self, now: float = 100.0) -> None:
        self._us = round(now * 1_000_000)

    @property
    def now(self) -> float:
        return self._us / 1_000_000

    def __call__(self) -> float:
        return self.now

    def advance_ms(self, ms: float) -> None:
        self._us += round(ms * 1000)


def test_tokens_within_the_interval_are_held_then_released_together() -> None:
    clock = FakeClock()
    batcher = TokenBatcher(50, clock=clock)
    assert batcher.add("Hel") is None
    clock.advance_ms(20)
    assert batcher.add("lo") is None
    assert batcher.has_content
    clock.advance_ms(30)
    assert batcher.add(" world") == "Hello world"
    assert not batcher.has_content


def test_first_token_after_an_idle_interval_goes_out_at_once() -> None:
    clock = FakeClock()
    batcher = TokenBatcher(50, clock=clock)
    clock.advance_ms(60)
    assert batcher.add("a") == "a"


def test_flush_returns_the_rest_or_none() -> None:
    clock = FakeClock()
    batcher = TokenBatcher(clock=clock)
    assert batcher.flush() is None
    batcher.add("x")
    batcher.add("y")
    assert batcher.flush() == "xy"
    assert batcher.flush() is None


def test_next_deadline_names_when_buffered_text_is_due() -> None:
    clock = FakeClock(10.0)
    batcher = TokenBatcher(50, clock=clock)
    assert batcher.next_deadline() is None
    clock.advance_ms(10)
    batcher.add("a")
    assert batcher.next_deadline() == pytest.approx(10.05)


def test_poll_flushes_on_the_timer_without_a_next_token() -> None:
    clock = FakeClock()
    batcher = TokenBatcher(50, clock=clock)
    batcher.add("last words")
    deadline = batcher.next_deadline()
    assert deadline is not None
    assert batcher.poll(deadline - 0.001) is None
    assert batcher.poll(deadline) == "last words"
    assert batcher.next_deadline() is None
    assert batcher.poll(deadline + 1) is None


def test_poll_uses_the_clock_when_no_time_is_given() -> None:
    clock = FakeClock()
    batcher = TokenBatcher(50, clock=clock)
    batcher.add("a")
    assert batcher.poll() is None
    clock.advance_ms(50)
    assert batcher.poll() == "a"


def test_flush_restarts_the_interval() -> None:
    clock = FakeClock()
    batcher = TokenBatcher(50, clock=clock)
    clock.advance_ms(100)
    assert batcher.add("a") == "a"
    clock.advance_ms(10)
    assert batcher.add("b") is None
    assert batcher.next_deadline() == pytest.approx(clock.now + 0.04)


def test_empty_text_is_not_buffered() -> None:
    batcher = TokenBatcher(50, clock=FakeClock())
    assert batcher.add("") is None
    assert not batcher.has_content
    assert batcher.flush() is None


def test_zero_interval_sends_every_token() -> None:
    batcher = TokenBatcher(0, clock=FakeClock())
    assert [batcher.add(t) for t in "abc"] == ["a", "b", "c"]


def test_default_clock_is_monotonic_time() -> None:
    batcher = TokenBatcher()
    batcher.add("a")
    assert batcher.flush() == "a"
    assert batcher.interval_ms == 50


def test_bad_intervals_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="interval_ms must be >= 0"):
        TokenBatcher(-1)
    with pytest.raises(UsageError, match="min_interval_ms <= max_interval_ms"):
        TokenBatcher(adaptive=True, min_interval_ms=50, max_interval_ms=10)


def test_adaptive_interval_shrinks_to_the_minimum_for_fast_tokens() -> None:
    clock = FakeClock()
    batcher = TokenBatcher(50, adaptive=True, min_interval_ms=16, max_interval_ms=100, clock=clock)
    for _ in range(100):
        clock.advance_ms(2)
        batcher.add("t")
    assert batcher.interval_ms == pytest.approx(16)


def test_adaptive_interval_follows_a_steady_gap() -> None:
    clock = FakeClock()
    batcher = TokenBatcher(50, adaptive=True, clock=clock)
    flushes = 0
    for _ in range(200):
        clock.advance_ms(30)
        flushes += batcher.add("t") is not None
        # the server loop: poll at the deadline if it comes before the next token
        deadline = batcher.next_deadline()
        if deadline is not None and deadline < clock.now + 0.030:
            flushes += batcher.poll(deadline) is not None
    assert batcher.interval_ms == pytest.approx(30, abs=0.5)
    # a token arriving slower than 1/min_interval is never held back for a batch
    assert flushes >= 195


def test_adaptive_interval_is_capped_and_ignores_one_long_pause() -> None:
    clock = FakeClock()
    batcher = TokenBatcher(50, adaptive=True, min_interval_ms=16, max_interval_ms=100, clock=clock)
    for _ in range(50):
        clock.advance_ms(1)
        batcher.add("t")
    clock.advance_ms(60_000)
    batcher.add("t")
    assert batcher.interval_ms <= 100
    assert batcher.interval_ms < 40


def test_adaptive_start_interval_is_clamped() -> None:
    batcher = TokenBatcher(500, adaptive=True, max_interval_ms=100, clock=FakeClock())
    assert batcher.interval_ms == 100


@given(
    st.lists(st.tuples(st.text(max_size=5), st.floats(min_value=0, max_value=200)), max_size=50),
    st.booleans(),
)
def test_no_text_is_lost_or_reordered(steps: list[tuple[str, float]], adaptive: bool) -> None:
    clock = FakeClock()
    batcher = TokenBatcher(50, adaptive=adaptive, clock=clock)
    out: list[str] = []
    for text, gap_ms in steps:
        clock.advance_ms(gap_ms)
        if (polled := batcher.poll()) is not None:
            out.append(polled)
        if (added := batcher.add(text)) is not None:
            out.append(added)
    if (rest := batcher.flush()) is not None:
        out.append(rest)
    assert "".join(out) == "".join(text for text, _ in steps)
    assert all(out)
