from __future__ import annotations

import pytest

import agent_stream


def test_public_names_are_pinned() -> None:
    assert agent_stream.__all__ == [
        "AgentEvent",
        "AgentStreamEmitter",
        "AgentStreamError",
        "AnswerError",
        "Creation",
        "Done",
        "Error",
        "FinishedTool",
        "HTTPStatusError",
        "InputCancelledError",
        "InputError",
        "InputRequired",
        "InputResponse",
        "InputTimeoutError",
        "InvalidEventError",
        "JsonlRecorder",
        "Progress",
        "ProtocolError",
        "Reconnect",
        "ResumeError",
        "Start",
        "StoreUnavailableError",
        "StreamState",
        "Thinking",
        "Token",
        "TokenBatcher",
        "ToolResult",
        "ToolUse",
        "Turn",
        "UnknownEvent",
        "UsageError",
        "fold",
        "new_stream_id",
        "parse_event",
    ]


def test_every_public_name_exists_and_belongs_to_the_package() -> None:
    for name in agent_stream.__all__:
        value = getattr(agent_stream, name)
        if name == "AgentEvent":  # a union alias, not a class
            continue
        assert value.__module__.startswith("agent_stream."), name


def test_version() -> None:
    assert agent_stream.__version__ == "0.2.0"


def test_jsonl_recorder_is_exported_lazily() -> None:
    from agent_stream import JsonlRecorder
    from agent_stream.recording import JsonlRecorder as FromRecording

    assert JsonlRecorder is FromRecording
    with pytest.raises(AttributeError, match="no attribute 'NoSuchName'"):
        agent_stream.NoSuchName  # noqa: B018


def test_the_01_module_names_still_import() -> None:
    from agent_stream.batcher import TokenBatcher
    from agent_stream.fastapi import agent_stream_response

    assert TokenBatcher is agent_stream.TokenBatcher
    assert callable(agent_stream_response)
