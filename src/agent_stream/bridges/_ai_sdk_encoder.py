"""Our events -> the Vercel AI SDK UI message stream (v1), as SSE blocks: sans-I/O, per run.

One :class:`AISDKEncoder` per response, fed the stored events in seq order (:meth:`encode`, or
:meth:`skip` for events the client already has); the output for event ``n`` depends only on
events ``1..n``, so a replay or resume sends exactly what an unbroken connection would have.

Mapping (docs/bridges.md has the tables): ``start`` (with a message id derived from the stream)
before the first event; ``start-step`` / ``finish-step`` around each ``turn`` (a step opens by
itself for content sent before any turn); runs of ``token`` -> ``text-start/delta/end``; runs of
``thinking`` -> ``reasoning-start/delta/end``; ``tool_use`` -> ``tool-input-start`` +
``tool-input-available``; ``tool_result`` -> ``tool-output-available`` or
``tool-output-error``; ``progress`` -> ``data-progress`` (one part per step, updated in place),
``creation`` -> ``data-creation``, ``error`` -> ``data-error``, ``input_required`` ->
``data-input-required``, unknown types -> ``data-<type>``; ``done`` -> ``error`` (failed runs)
or ``abort`` (cancelled), then ``finish`` with the done payload as metadata, then ``[DONE]``.
"""

from __future__ import annotations

from typing import Literal, assert_never

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

__all__ = ["UI_MESSAGE_STREAM_HEADERS", "AISDKEncoder"]

UI_MESSAGE_STREAM_HEADERS = {
    "x-vercel-ai-ui-message-stream": "v1",
    "cache-control": "no-cache",
    "x-accel-buffering": "no",
}
"""Headers of a UI message stream response (besides ``content-type: text/event-stream``)."""

_FINISH_REASONS: dict[str, str] = {
    "completed": "stop",
    "error": "error",
    "interrupted": "interrupted",
    "cancelled": "other",
}
_START_STEP = b'{"type":"start-step"}'
_FINISH_STEP = b'{"type":"finish-step"}'
_DONE_LINE = b"[DONE]"


class AISDKEncoder(BlockEncoder):
    """Our stored events -> UI message stream chunks (SSE blocks) for one assistant message.

    ``message_id`` names the assistant message (``start.messageId``); by default it is derived
    from the stream id, so every replay of the stream names the same message.
    """

    __slots__ = (
        "_announced",
        "_approvals",
        "_error",
        "_is_started",
        "_open",
        "_shown",
        "_step_open",
        "_text_id",
        "message_id",
    )

    def __init__(
        self, stream_id: str, *, message_id: str | None = None, retry_ms: int = 1000
    ) -> None:
        super().__init__(stream_id, retry_ms=retry_ms)
        self.message_id = message_id or derived_id("msg", stream_id)
        self._is_started = False
        self._approvals: dict[str, str] = {}  # request_id -> tool_use_id of approval questions
        self._announced: set[str] = set()  # tool calls shown with their approval request
        self._shown: set[str] = set()  # tool calls that have a tool part (tool-input-*)
        self._step_open = False
        self._text_id: str | None = None
        self._open: Literal["text", "reasoning"] | None = None
        self._error: Error | None = None

    @property
    def is_finished(self) -> bool:
        """True once ``finish`` and ``[DONE]`` were produced."""
        return self._is_finished

    @property
    def is_paused(self) -> bool:
        """True when the last event asked to approve a tool call: the message ended there
        (``tool-approval-request``, ``finish``), and the next POST answers it."""
        return self._is_paused

    def _bodies(self, seq: int, event: AgentEvent) -> list[bytes]:
        if self._is_finished:
            return []
        self._is_paused = False
        out: list[bytes] = []
        if not self._is_started and not isinstance(event, Start | Reconnect):
            self._is_started = True
            out.append(encode_json({"type": "start", "messageId": self.message_id}))
        match event:
            case Token():
                message_id = event.message_id if isinstance(event.message_id, str) else None
                if self._open == "text" and message_id is not None:
                    if message_id != self._text_id:
                        self._close(out)
                if self._open != "text":
                    self._close(out)
                    self._open_part(
                        out, "text", message_id or derived_id("txt", self.stream_id, seq)
                    )
                out.append(self._delta_body(event.text))
            case Thinking():
                if self._open != "reasoning":
                    self._close(out)
                    self._open_part(out, "reasoning", derived_id("rsn", self.stream_id, seq))
                out.append(self._delta_body(event.text))
            case ToolUse() if event.tool_use_id in self._announced:
                self._close(out)  # shown with its approval request already
            case ToolUse():
                self._close(out)
                self._ensure_step(out)
                arguments = {} if isinstance(event.input, UnsetType) else event.input
                self._tool_input(
                    out, event.tool_use_id, event.tool_name, arguments, event.input_summary
                )
            case ToolResult():
                self._close(out)
                self._ensure_step(out)
                if event.tool_use_id not in self._shown:
                    # a result whose call was never announced (adapters send one for a call
                    # made before the stream began): useChat fails the whole chat on an output
                    # for a call it has no part of, so the call gets its part first
                    self._tool_input(out, event.tool_use_id, event.tool_name, {}, "")
                output = event.output
                if event.status == "error":
                    error_text = (
                        event.output_summary
                        if event.output_summary or isinstance(output, UnsetType)
                        else as_text(output)
                    )
                    out.append(
                        encode_json(
                            {
                                "type": "tool-output-error",
                                "toolCallId": event.tool_use_id,
                                "errorText": error_text,
                                "dynamic": True,
                            }
                        )
                    )
                else:
                    out.append(
                        encode_json(
                            {
                                "type": "tool-output-available",
                                "toolCallId": event.tool_use_id,
                                "output": event.output_summary
                                if isinstance(output, UnsetType)
                                else output,
                                "dynamic": True,
                            }
                        )
                    )
            case Turn():
                self._close(out)
                if self._step_open:
                    out.append(_FINISH_STEP)
                out.append(_START_STEP)
                self._step_open = True
            case Progress():
                out.append(_event_data("progress", event, part_id=event.step))
            case Creation():
                out.append(_event_data("creation", event))
            case InputRequired() if isinstance(event.tool_name, str) and isinstance(
                event.tool_use_id, str
            ):
                self._approval(out, event, event.tool_name, event.tool_use_id)
            case InputRequired():
                out.append(_event_data("input-required", event, part_id=event.request_id))
            case InputResponse() if event.request_id in self._approvals:
                if event.status == "answered" and event.answer == "deny":
                    call_id = self._approvals[event.request_id]
                    out.append(encode_json({"type": "tool-output-denied", "toolCallId": call_id}))
            case InputResponse():
                out.append(_event_data("input-response", event, part_id=event.request_id))
            case Error():
                self._error = event
                out.append(_event_data("error", event))
            case Done():
                self._finish(out, event)
            case UnknownEvent():
                out.append(_data(event.type, event.data))
            case Start() | Reconnect():
                pass  # sent by the server itself, never stored
            case _:
                assert_never(event)
        return out

    def _approval(
        self, out: list[bytes], event: InputRequired, tool_name: str, call_id: str
    ) -> None:
        # The AI SDK asks for approval of a tool call it knows, then the message ends; the
        # POST that carries the answer continues this stream as the same message.
        self._close(out)
        self._ensure_step(out)
        if call_id not in self._announced:
            self._announced.add(call_id)
            tool_input = {} if isinstance(event.tool_input, UnsetType) else event.tool_input
            self._tool_input(out, call_id, tool_name, tool_input, "")
        self._approvals[event.request_id] = call_id
        out.append(
            encode_json(
                {
                    "type": "tool-approval-request",
                    "approvalId": event.request_id,
                    "toolCallId": call_id,
                }
            )
        )
        out.append(_FINISH_STEP)
        self._step_open = False
        out.append(encode_json({"type": "finish", "finishReason": "tool-calls"}))
        out.append(_DONE_LINE)
        self._is_started = False  # the answer's response starts the message again
        self._is_paused = True

    def _tool_input(
        self, out: list[bytes], call_id: str, name: str, arguments: JSONValue, title: str
    ) -> None:
        """The chunks that make a call's tool part: ``tool-input-start``, ``-available``."""
        self._shown.add(call_id)
        start: dict[str, JSONValue] = {
            "type": "tool-input-start",
            "toolCallId": call_id,
            "toolName": name,
            "dynamic": True,
        }
        if title:
            start["title"] = title
        out.append(encode_json(start))
        out.append(
            encode_json(
                {
                    "type": "tool-input-available",
                    "toolCallId": call_id,
                    "toolName": name,
                    "input": arguments,
                    "dynamic": True,
                }
            )
        )

    def _ensure_step(self, out: list[bytes]) -> None:
        if not self._step_open:
            self._step_open = True
            out.append(_START_STEP)

    def _open_part(
        self, out: list[bytes], kind: Literal["text", "reasoning"], part_id: str
    ) -> None:
        self._ensure_step(out)
        self._open = kind
        self._text_id = part_id if kind == "text" else None
        quoted = encode_json(part_id)
        out.append(b'{"type":"%b-start","id":%b}' % (kind.encode(), quoted))
        head = b'{"type":"%b-delta","id":%b,"delta":' % (kind.encode(), quoted)
        end = (b'{"type":"%b-end","id":%b}' % (kind.encode(), quoted),)
        # what continues this part: a token of its message (or of none), any thinking
        if kind == "text":
            self._delta = TextDelta("token", head, part_id, end=end)
        else:
            self._delta = TextDelta("thinking", head, end=end)

    def _close(self, out: list[bytes]) -> None:
        if self._delta is None:
            return
        out.extend(self._delta.end)
        self._delta = None
        self._open = None
        self._text_id = None

    def _finish(self, out: list[bytes], done: Done) -> None:
        self._close(out)
        if self._step_open:
            out.append(_FINISH_STEP)
            self._step_open = False
        self._is_finished = True
        reason = done.reason if isinstance(done.reason, str) else "completed"
        if reason == "error":
            error = self._error
            message = error.message if error is not None else "the run failed"
            out.append(encode_json({"type": "error", "errorText": message}))
        elif reason == "cancelled":
            out.append(encode_json({"type": "abort", "reason": "cancelled"}))
        out.append(
            encode_json(
                {
                    "type": "finish",
                    "finishReason": _FINISH_REASONS[reason],
                    "messageMetadata": event_to_dict(done),
                }
            )
        )
        out.append(_DONE_LINE)


def _event_data(name: str, event: AgentEvent, *, part_id: str | None = None) -> bytes:
    """:func:`_data` of the event's fields: their JSON as encode_data writes it (no dict)."""
    head = b'{"type":"data-%b"' % name.encode()
    if part_id is not None:
        head = b'%b,"id":%b' % (head, encode_json(part_id))
    return b'%b,"data":%b}' % (head, encode_data(event))


def _data(name: str, value: JSONValue, *, part_id: str | None = None) -> bytes:
    chunk: dict[str, JSONValue] = {"type": f"data-{name}"}
    if part_id is not None:
        chunk["id"] = part_id
    chunk["data"] = value
    return encode_json(chunk)
