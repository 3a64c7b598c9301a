from __future__ import annotations

import importlib
import subprocess
import sys

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


# Every package's (and public alias module's) __all__, pinned: a change here is an API change.
PINNED: dict[str, list[str]] = {
    "agent_stream.server": [
        "DisconnectPolicy",
        "MemoryQuestionBoard",
        "MemoryStore",
        "OversizePolicy",
        "QuestionBoard",
        "ReadResult",
        "Recorder",
        "RecorderFunc",
        "RedisStore",
        "RunContext",
        "RunManager",
        "Source",
        "SourceItem",
        "StoredEvent",
        "StreamInfo",
        "StreamOptions",
        "StreamStore",
        "approve",
        "ask",
        "current_run",
    ],
    "agent_stream.starlette": [
        "AgentStreamResponse",
        "error_response",
        "mount_stream_routes",
        "read_body",
        "read_json",
        "stream_routes",
    ],
    "agent_stream.fastapi": ["agent_stream_response"],
    "agent_stream.framing": [
        "PING",
        "RECONNECT",
        "EndingFraming",
        "Framing",
        "FramingFactory",
        "SSEFraming",
        "data_after_id",
        "data_blocks",
        "encode_comment",
        "encode_frame",
        "encode_frame_bytes",
        "event_head",
        "id_prefix",
        "priming_block",
    ],
    "agent_stream.sse": [
        "Frame",
        "SSEDecoder",
        "ServerSentEvent",
        "check_event_id",
        "check_event_name",
        "parse_frame",
    ],
    "agent_stream.emitter": [
        "AgentStreamEmitter",
        "check_stream_id",
        "format_event_id",
        "new_stream_id",
        "parse_event_id",
    ],
    "agent_stream.client": [
        "AgentStreamClient",
        "ClientEvent",
        "CoalescingTransport",
        "RetryPolicy",
        "StreamEvent",
        "SyncAgentStreamClient",
        "parse_retry_after",
        "stream_sync",
    ],
    "agent_stream.adapters": [
        "DEFAULT_PRICES",
        "BeforeTool",
        "NeedsApproval",
        "Price",
        "Tool",
        "ToolCall",
        "Usage",
        "cost_usd",
        "tool_loop",
    ],
    "agent_stream.bridges.ag_ui": ["AGUIAgent", "AGUIEncoder", "ag_ui_routes", "last_user_text"],
    "agent_stream.bridges.ai_sdk": [
        "UI_MESSAGE_STREAM_HEADERS",
        "AISDKAgent",
        "AISDKEncoder",
        "ChatRequest",
        "ai_sdk_routes",
        "last_user_text",
    ],
    "agent_stream.demo": ["DemoFailure", "DemoOptions", "demo_agent"],
    "agent_stream.cli": ["build_parser", "main"],
}
# Where a name lives once: the server's and the core's public modules share no name (the
# top-level package re-exports the core; agent_stream.batcher is 0.1's name for batching).
ONE_HOME = [
    "agent_stream.server",
    "agent_stream.starlette",
    "agent_stream.fastapi",
    "agent_stream.framing",
    "agent_stream.sse",
    "agent_stream.emitter",
    "agent_stream.events",
    "agent_stream.errors",
    "agent_stream.batching",
    "agent_stream.state",
    "agent_stream.recording",
    "agent_stream.client",
    "agent_stream.adapters",
    "agent_stream.demo",
]


@pytest.mark.parametrize("module", sorted(PINNED))
def test_package_all_is_pinned(module: str) -> None:
    imported = importlib.import_module(module)
    assert imported.__all__ == PINNED[module]
    for name in imported.__all__:
        getattr(imported, name)


def test_each_public_name_has_one_home() -> None:
    homes: dict[str, list[str]] = {}
    for module in ONE_HOME:
        for name in importlib.import_module(module).__all__:
            homes.setdefault(name, []).append(module)
    assert {name: where for name, where in homes.items() if len(where) > 1} == {}


def test_the_server_exports_redis_store_lazily_and_no_internals() -> None:
    script = (
        "import sys, agent_stream.server as s\n"
        "assert 'agent_stream.server.redis' not in sys.modules\n"
        "assert 'redis' not in sys.modules\n"
        "from agent_stream.server.redis import RedisStore\n"
        "assert s.RedisStore is RedisStore\n"
        "for name in ('Connection', 'Run', 'parse_cursor'):\n"
        "    assert not hasattr(s, name), name\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
