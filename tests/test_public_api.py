from __future__ import annotations

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
    assert agent_stream.__version__ == "0.2.0.dev0"
