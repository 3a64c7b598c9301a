from __future__ import annotations

from types import MappingProxyType

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent_stream import (
    Creation,
    Done,
    Error,
    InputRequired,
    Progress,
    Reconnect,
    Start,
    StreamState,
    Thinking,
    Token,
    ToolResult,
    ToolUse,
    Turn,
    UnknownEvent,
    fold,
)
from agent_stream.state import FinishedTool


def test_fold_leaves_the_old_state_unchanged() -> None:
    before = StreamState().apply(Token(text="a"))
    after = fold(before, Token(text="b"))
    assert before.text == "a"
    assert after.text == "ab"


def test_branching_from_an_old_snapshot_does_not_leak_text() -> None:
    base = StreamState().apply_all([Token(text="a"), Token(text="b")])
    left = base.apply(Token(text="L"))
    right = base.apply(Token(text="R"))
    assert (base.text, left.text, right.text) == ("ab", "abL", "abR")
    assert left.apply(Token(text="1")).text == "abL1"
    assert right.apply(Token(text="2")).text == "abR2"


def test_reading_text_then_folding_more_keeps_everything() -> None:
    state = StreamState()
    expected = ""
    for i in range(50):
        state = state.apply(Token(text=str(i)))
        expected += str(i)
        if i % 7 == 0:
            assert state.text == expected
    assert state.text == expected


@given(st.lists(st.tuples(st.integers(min_value=0, max_value=20), st.text(max_size=3))))
def test_any_fork_pattern_gives_each_snapshot_its_own_text(
    steps: list[tuple[int, str]],
) -> None:
    snapshots: list[tuple[StreamState, str]] = [(StreamState(), "")]
    for pick, chunk in steps:
        state, text = snapshots[pick % len(snapshots)]
        snapshots.append((state.apply(Token(text=chunk)), text + chunk))
        if pick % 3 == 0:
            assert snapshots[-1][0].text == snapshots[-1][1]
    for state, text in snapshots:
        assert state.text == text


def test_events_that_change_nothing_return_the_same_object() -> None:
    state = StreamState().apply(Start(stream_id="s"))
    assert state.apply(Start(stream_id="s", resumed=True)) is state
    assert state.apply(Reconnect()) is state
    assert state.apply(UnknownEvent("future", {"x": 1})) is state
    done = state.apply(Done())
    assert done.apply(Token(text="late")) is done


def test_unknown_event_before_anything_does_not_start_the_stream() -> None:
    assert not StreamState().apply(UnknownEvent("future", None)).is_streaming


def test_finished_tool_joins_use_and_result() -> None:
    state = StreamState().apply_all(
        [
            ToolUse(tool_name="calc", tool_use_id="c1", input_summary="1+1", input={"e": "1+1"}),
            ToolResult(
                tool_name="calc",
                tool_use_id="c1",
                output_summary="2",
                duration_ms=4,
                output={"v": 2},
            ),
        ]
    )
    assert state.tools == (
        FinishedTool(
            tool_use_id="c1",
            tool_name="calc",
            status="done",
            duration_ms=4,
            input_summary="1+1",
            output_summary="2",
            input={"e": "1+1"},
            output={"v": 2},
        ),
    )
    assert state.active_tools == {}


def test_active_tools_is_a_read_only_mapping_in_start_order() -> None:
    a = ToolUse(tool_name="a", tool_use_id="1")
    b = ToolUse(tool_name="b", tool_use_id="2")
    state = StreamState().apply_all([a, b])
    assert list(state.active_tools.items()) == [("1", a), ("2", b)]
    assert isinstance(state.active_tools, MappingProxyType)
    with pytest.raises(TypeError):
        state.active_tools["3"] = a  # type: ignore[index]


def test_latest_progress_error_turn_input_and_done_are_kept() -> None:
    progress = Progress(step="s", percentage=10, message="m")
    error = Error(error_type="E", message="boom")
    ask = InputRequired(request_id="r", prompt="?")
    done = Done(reason="error", num_turns=3)
    state = StreamState().apply_all([Turn(turn_number=3), progress, ask, error])
    assert (state.turn, state.progress, state.error, state.input_required) == (
        3,
        progress,
        error,
        None,  # the error means the agent went on
    )
    assert state.apply(ask).input_required is ask
    final = state.apply(done)
    assert final.done is done
    assert final.done_reason == "error"
    assert (final.is_done, final.is_streaming) == (True, False)


def test_creations_and_thinking_are_kept() -> None:
    creation = Creation(creation_type="file", count=1)
    state = StreamState().apply_all([Thinking(text="hm"), creation])
    assert state.creations == (creation,)
    assert state.thinking == "hm"
    assert state.text == ""


def test_states_compare_by_content() -> None:
    one = StreamState().apply_all([Token(text="a"), Token(text="b")])
    two = StreamState().apply(Token(text="ab"))
    assert one == two
    assert one != StreamState()
    assert "ab" in repr(one)


def test_folding_many_tokens_is_linear() -> None:
    # 200k tokens would take minutes if each fold copied the text.
    state = StreamState().apply_all(Token(text="xy") for _ in range(200_000))
    assert len(state.text) == 400_000
