"""The scripted demo agent: its knobs, its event order, fail_after, and speed at delay 0."""

from __future__ import annotations

import anyio
import pytest

from agent_stream import Done, Token, ToolResult, ToolUse
from agent_stream.demo import DemoFailure, DemoOptions, demo_agent
from agent_stream.errors import UsageError

pytestmark = pytest.mark.anyio


async def collect(options: DemoOptions) -> list[object]:
    with anyio.fail_after(10):
        return [event async for event in demo_agent(options)]


async def test_knobs_set_counts_and_the_run_ends_with_done() -> None:
    events = await collect(DemoOptions(tokens=25, tools=4, token_delay_ms=0))
    assert sum(isinstance(e, Token) for e in events) == 25
    uses = [e for e in events if isinstance(e, ToolUse)]
    results = [e for e in events if isinstance(e, ToolResult)]
    assert [u.tool_use_id for u in uses] == [r.tool_use_id for r in results]
    assert len(uses) == 4
    assert isinstance(events[-1], Done) and sum(isinstance(e, Done) for e in events) == 1


async def test_fail_after_raises_after_that_many_events() -> None:
    for n in (0, 1, 9):
        sent: list[object] = []
        with pytest.raises(DemoFailure, match=f"after {n} events"):
            async for event in demo_agent(DemoOptions(fail_after=n, token_delay_ms=0)):
                sent.append(event)
        assert len(sent) == n


async def test_a_hundred_thousand_tokens_without_waiting() -> None:
    count = 0
    with anyio.fail_after(10):
        async for _ in demo_agent(DemoOptions(tokens=100_000, token_delay_ms=0)):
            count += 1
    assert count > 100_000


async def test_paced_run_reports_tool_durations() -> None:
    events = await collect(DemoOptions(tokens=3, tools=2, token_delay_ms=1, thinking=False))
    durations = [e.duration_ms for e in events if isinstance(e, ToolResult)]
    assert all(d > 0 for d in durations)


def test_options_from_query_strings() -> None:
    options = DemoOptions.from_mapping(
        {"message": "hé", "tokens": "12", "token_delay_ms": "2.5", "tools": "0", "fail_after": ""}
    )
    assert options == DemoOptions(message="hé", tokens=12, token_delay_ms=2.5, tools=0)
    assert DemoOptions.from_mapping({"thinking": "false", "input_required": ""}) == DemoOptions(
        thinking=False, input_required=True
    )
    assert DemoOptions.from_mapping({"unknown": 1}) == DemoOptions()
    assert DemoOptions.from_mapping({"ask": "1", "approve": True, "ask_timeout_s": "2.5"}) == (
        DemoOptions(ask=True, approve=True, ask_timeout_s=2.5)
    )


@pytest.mark.parametrize(
    "knobs",
    [
        {"tokens": 1_000_001},
        {"tokens": True},
        {"tools": 101},
        {"ask_timeout_s": 0},
        {"ask": "maybe"},
        {"token_delay_ms": -1},
        {"fail_after": "x"},
        {"message": "x" * 4001},
        {"thinking": "maybe"},
    ],
)
def test_invalid_knobs_raise_usage_errors(knobs: dict[str, object]) -> None:
    with pytest.raises(UsageError) as info:
        DemoOptions.from_mapping(knobs)
    assert info.value.code == "invalid-request"
    assert next(iter(knobs)) in str(info.value)
