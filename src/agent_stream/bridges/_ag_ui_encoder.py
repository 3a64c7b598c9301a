"""Our events -> AG-UI events, as SSE blocks: a sans-I/O, per-run state machine.

One :class:`AGUIEncoder` per response. :meth:`AGUIEncoder.encode` takes the stored events in seq
order and returns the bytes to send for each; :meth:`AGUIEncoder.skip` takes an event the client
already has and only advances the state. The output for event ``n`` depends only on events
``1..n``, so a resume from seq ``N`` (skip ``1..N``, encode the rest) sends exactly what an
unbroken connection would have sent after ``N``.

Mapping (docs/bridges.md has the tables): ``RUN_STARTED`` before the first event; runs of
``token`` -> ``TEXT_MESSAGE_START/CONTENT/END``; runs of ``thinking`` -> ``REASONING_START``,
``REASONING_MESSAGE_START/CONTENT/END``, ``REASONING_END``; ``tool_use`` ->
``TOOL_CALL_START/ARGS/END``; ``tool_result`` -> ``TOOL_CALL_RESULT``; ``turn`` and progress
steps -> ``STEP_STARTED/FINISHED``; ``input_required`` -> ``RUN_FINISHED`` with an ``interrupt``
outcome (the AG-UI run ends; the next event, once answered, starts the next AG-UI run with the
encoder's ``run_id``: the id of the run that sent the answer as ``resume``); ``progress``,
``creation``, ``error``, ``input_response`` and unknown types -> ``CUSTOM``; ``done`` ->
``RUN_FINISHED`` (``success`` or ``cancelled``, token counts as ``usage``) or ``RUN_ERROR``
(failed or interrupted runs).
"""

from __future__ import annotations

from typing import assert_never

from ..events import (
    AgentEvent,
    Creation,
    Done,
    Error,
    InputRequired,
    InputResponse,
    JSONValue,
    Progress,
    Reconnect,
    Start,
    Thinking,
    Token,
    ToolResult,
    ToolUse,
    Turn,
    UnknownEvent,
    UnsetType,
    encode_data,
    event_to_dict,
)
from ._blocks import BlockEncoder, TextDelta, as_text, derived_id, encode_json

__all__ = ["AGUIEncoder"]

_FAILED = "the run failed"


class AGUIEncoder(BlockEncoder):
    """Our stored events -> AG-UI SSE blocks for one run (``thread_id`` / ``run_id``).

    Example::

        encoder = AGUIEncoder(stream_id, thread_id="t1", run_id="r1")
        first = encoder.priming(0)
        body = b"".join(encoder.encode(seq, type, data) for seq, type, data in events)
    """

    __slots__ = (
        "_error",
        "_is_started",
        "_reasoning_id",
        "_steps",
        "_text_id",
        "_turn_step",
        "run_id",
        "thread_id",
    )

    def __init__(
        self, stream_id: str, *, thread_id: str, run_id: str, retry_ms: int = 1000
    ) -> None:
        super().__init__(stream_id, retry_ms=retry_ms)
        self.thread_id = thread_id
        self.run_id = run_id
        self._is_started = False
        self._text_id: str | None = None
        self._reasoning_id: str | None = None
        self._turn_step: str | None = None
        self._steps: dict[str, None] = {}  # open progress steps, in order
        self._error: Error | None = None

    @property
    def is_finished(self) -> bool:
        """True once ``RUN_FINISHED`` or ``RUN_ERROR`` was produced."""
        return self._is_finished

    @property
    def is_paused(self) -> bool:
        """True when the last event was an ``input_required``: its AG-UI run ended with an
        interrupt, and nothing follows until the question is answered."""
        return self._is_paused

    def _bodies(self, seq: int, event: AgentEvent) -> list[bytes]:
        if self._is_finished:
            return []
        self._is_paused = False
        out: list[bytes] = []
        if not self._is_started and not isinstance(event, Start | Reconnect):
            self._is_started = True
            out.append(
                encode_json(
                    {"type": "RUN_STARTED", "threadId": self.thread_id, "runId": self.run_id}
                )
            )
        match event:
            case Token():
                self._close_reasoning(out)
                message_id = event.message_id if isinstance(event.message_id, str) else None
                if self._text_id is not None and message_id not in (None, self._text_id):
                    self._close_text(out)
                if self._text_id is None:
                    self._open_text(out, message_id or derived_id("msg", self.stream_id, seq))
                out.append(self._delta_body(event.text))
            case Thinking():
                self._close_text(out)
                reasoning_id = self._reasoning_id
                if reasoning_id is None:
                    reasoning_id = self._reasoning_id = derived_id("rsn", self.stream_id, seq)
                    out.append(encode_json({"type": "REASONING_START", "messageId": reasoning_id}))
                    out.append(
                        encode_json(
                            {
                                "type": "REASONING_MESSAGE_START",
                                "messageId": reasoning_id,
                                "role": "reasoning",
                            }
                        )
                    )
                    quoted = encode_json(reasoning_id)
                    head = b'{"type":"REASONING_MESSAGE_CONTENT","messageId":%b,"delta":' % quoted
                    end = (
                        b'{"type":"REASONING_MESSAGE_END","messageId":%b}' % quoted,
                        b'{"type":"REASONING_END","messageId":%b}' % quoted,
                    )
                    self._delta = TextDelta("thinking", head, end=end)
                out.append(self._delta_body(event.text))
            case ToolUse():
                self._close_blocks(out)
                call_id = event.tool_use_id
                arguments = {} if isinstance(event.input, UnsetType) else event.input
                out.append(
                    encode_json(
                        {
                            "type": "TOOL_CALL_START",
                            "toolCallId": call_id,
                            "toolCallName": event.tool_name,
                        }
                    )
                )
                out.append(
                    encode_json(
                        {
                            "type": "TOOL_CALL_ARGS",
                            "toolCallId": call_id,
                            "delta": encode_json(arguments).decode(),
                        }
                    )
                )
                out.append(encode_json({"type": "TOOL_CALL_END", "toolCallId": call_id}))
            case ToolResult():
                self._close_blocks(out)
                output = event.output
                content = event.output_summary if isinstance(output, UnsetType) else as_text(output)
                out.append(
                    encode_json(
                        {
                            "type": "TOOL_CALL_RESULT",
                            "messageId": derived_id("tool", self.stream_id, seq),
                            "toolCallId": event.tool_use_id,
                            "content": content,
                            "role": "tool",
                        }
                    )
                )
            case Turn():
                self._close_blocks(out)
                if self._turn_step is not None:
                    out.append(_step("STEP_FINISHED", self._turn_step))
                self._turn_step = f"turn {event.turn_number}"
                out.append(_step("STEP_STARTED", self._turn_step))
            case Progress():
                if event.step not in self._steps and event.step != self._turn_step:
                    self._steps[event.step] = None
                    out.append(_step("STEP_STARTED", event.step))
                out.append(_custom_event("progress", event))
                if event.percentage >= 100 and event.step in self._steps:
                    del self._steps[event.step]
                    out.append(_step("STEP_FINISHED", event.step))
            case Creation():
                out.append(_custom_event("creation", event))
            case InputRequired():
                self._interrupt(out, event)
            case InputResponse():
                out.append(_custom_event("input_response", event))
            case Error():
                self._error = event
                out.append(_custom_event("error", event))
            case Done():
                self._finish(out, event)
            case UnknownEvent():
                out.append(_custom(event.type, event.data))
            case Start() | Reconnect():
                pass  # sent by the server itself, never stored
            case _:
                assert_never(event)
        return out

    def _open_text(self, out: list[bytes], message_id: str) -> None:
        self._text_id = message_id
        out.append(
            encode_json(
                {"type": "TEXT_MESSAGE_START", "messageId": message_id, "role": "assistant"}
            )
        )
        quoted = encode_json(message_id)
        head = b'{"type":"TEXT_MESSAGE_CONTENT","messageId":%b,"delta":' % quoted
        end = (b'{"type":"TEXT_MESSAGE_END","messageId":%b}' % quoted,)
        # what continues this message: a token of it (or of none)
        self._delta = TextDelta("token", head, message_id, end=end)

    def _close_text(self, out: list[bytes]) -> None:
        if self._text_id is not None:
            assert self._delta is not None, "the message's part is open"
            out.extend(self._delta.end)
            self._text_id = None
            self._delta = None

    def _close_reasoning(self, out: list[bytes]) -> None:
        if self._reasoning_id is not None:
            assert self._delta is not None, "the reasoning's part is open"
            out.extend(self._delta.end)
            self._reasoning_id = None
            self._delta = None

    def _close_blocks(self, out: list[bytes]) -> None:
        self._close_text(out)
        self._close_reasoning(out)

    def _close_all(self, out: list[bytes]) -> None:
        self._close_blocks(out)
        for step in self._steps:
            out.append(_step("STEP_FINISHED", step))
        self._steps.clear()
        if self._turn_step is not None:
            out.append(_step("STEP_FINISHED", self._turn_step))
            self._turn_step = None

    def _interrupt(self, out: list[bytes], event: InputRequired) -> None:
        self._close_all(out)
        interrupt: dict[str, JSONValue] = {
            "id": event.request_id,
            "reason": "tool_approval" if isinstance(event.tool_name, str) else "input_required",
            "message": event.prompt,
        }
        if isinstance(event.tool_use_id, str):
            interrupt["toolCallId"] = event.tool_use_id
        if not isinstance(event.schema, UnsetType):
            interrupt["responseSchema"] = event.schema
        elif not isinstance(event.choices, UnsetType) and event.allows_free_text is not True:
            interrupt["responseSchema"] = {"type": "string", "enum": list(event.choices)}
        if isinstance(event.expires_at, str):
            interrupt["expiresAt"] = event.expires_at
        interrupt["metadata"] = {"agent_stream": event_to_dict(event)}
        out.append(
            encode_json(
                {
                    "type": "RUN_FINISHED",
                    "threadId": self.thread_id,
                    "runId": self.run_id,
                    "outcome": {"type": "interrupt", "interrupts": [interrupt]},
                }
            )
        )
        self._is_started = False  # the answer's run starts with the next event
        self._is_paused = True

    def _finish(self, out: list[bytes], done: Done) -> None:
        self._close_all(out)
        self._is_finished = True
        reason = done.reason if isinstance(done.reason, str) else "completed"
        if reason in ("error", "interrupted"):
            error = self._error
            out.append(
                encode_json(
                    {
                        "type": "RUN_ERROR",
                        "message": error.message if error is not None else _FAILED,
                        "code": reason
                        if reason == "interrupted"
                        else (error.error_type if error is not None else "error"),
                    }
                )
            )
            return
        finished: dict[str, JSONValue] = {
            "type": "RUN_FINISHED",
            "threadId": self.thread_id,
            "runId": self.run_id,
            "result": event_to_dict(done),
            "outcome": {"type": "cancelled" if reason == "cancelled" else "success"},
        }
        usage = _usage(done)
        if usage:
            finished["usage"] = [usage]
        out.append(encode_json(finished))


_USAGE_FIELDS = (
    ("input_tokens", "inputTokens"),
    ("output_tokens", "outputTokens"),
    ("cache_read_tokens", "cachedInputTokens"),
    ("cache_write_tokens", "cacheWriteInputTokens"),
)


_MAX_COUNT = 2**53 - 1  # AG-UI's bound: a count past JSON's safe integers fails its schema


def _usage(done: Done) -> dict[str, JSONValue]:
    """AG-UI's ``TokenUsage`` of ``done``'s token counts (empty without any). Both count prompt
    tokens alike: ``input_tokens`` is every prompt token, cache reads and writes parts of it.
    A count AG-UI's schema would refuse (negative, too large) is left out, not sent."""
    usage: dict[str, JSONValue] = {}
    for ours, theirs in _USAGE_FIELDS:
        count = getattr(done, ours)
        if isinstance(count, int) and 0 <= count <= _MAX_COUNT:
            usage[theirs] = count
    if not usage:
        return usage
    prompt, output = usage.get("inputTokens"), usage.get("outputTokens")
    if isinstance(prompt, int) and isinstance(output, int) and prompt + output <= _MAX_COUNT:
        usage["totalTokens"] = prompt + output
    return {"model": done.model, **usage} if done.model else usage


def _step(kind: str, name: str) -> bytes:
    return encode_json({"type": kind, "stepName": name})


def _custom_event(name: str, event: AgentEvent) -> bytes:
    """:func:`_custom` of the event's fields: their JSON as encode_data writes it (no dict)."""
    return b'{"type":"CUSTOM","name":%b,"value":%b}' % (encode_json(name), encode_data(event))


def _custom(name: str, value: JSONValue) -> bytes:
    return encode_json({"type": "CUSTOM", "name": name, "value": value})
