"""Human in the loop for agent code: ``ask()`` and ``approve()`` suspend the agent for an answer.

Inside a run started by a :class:`~agent_stream.server.manager.RunManager` (every
``AgentStreamResponse``), agent code reaches its run through a context variable::

    from agent_stream.server import approve, ask

    async def agent(message):
        city = await ask("Which city should I plan for?", options=["Lisbon", "Porto", "Faro"],
                         allows_free_text=True, timeout_s=300)
        yield Token(text=f"Planning for {city}. ")
        if await approve("book_hotel", {"city": city}):
            ...

``ask()`` emits ``input_required`` (request_id, prompt, choices or a JSON Schema, respond_url,
expires_at) and waits. ``POST <respond_url>`` with ``{"request_id", "answer"}`` (see
:mod:`agent_stream.server.respond`) wakes it, from any process with a shared store; the answer is
recorded as an ``input_response`` event, then returned. While a question is open the run counts
as watched, so the disconnect policy does not cancel it before the question expires. No answer
by ``expires_at``: ``input_response{status: "expired"}`` and :class:`InputTimeoutError`; the person
cancelled: :class:`InputCancelledError`. A cancelled run cancels ``ask()`` as usual
(``CancelledError``), and the question stops taking answers (410).

:func:`current_run` gives the :class:`RunContext` itself (its ``stream_id``, ``emit``).
"""

from __future__ import annotations

import contextvars
import secrets
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import anyio
import msgspec

from ..errors import InputCancelledError, InputTimeoutError, UsageError, truncate
from ..events import (
    UNSET,
    InputRequired,
    InputResponse,
    JSONValue,
    KnownEvent,
    encode_data,
)
from .question_board import MemoryQuestionBoard, QuestionBoard, check_schema

if TYPE_CHECKING:
    from .manager import RunManager
    from .run import Run, Source, SourceItem

__all__ = [
    "DEFAULT_INPUT_TIMEOUT_S",
    "RunContext",
    "RunSource",
    "approve",
    "ask",
    "current_run",
    "question_board",
]

DEFAULT_INPUT_TIMEOUT_S = 600.0
APPROVE = "approve"
DENY = "deny"

_CURRENT: contextvars.ContextVar[RunContext] = contextvars.ContextVar("agent_stream_run")
_SETTLE_TIMEOUT_S = 5.0


def question_board(manager: RunManager) -> QuestionBoard:
    """The manager's board, made on first use: the store's own (``RedisStore.question_board``,
    so answers reach any worker) or a :class:`MemoryQuestionBoard`."""
    board = manager.questions
    if board is None:
        factory: Callable[[], QuestionBoard] | None = getattr(manager.store, "question_board", None)
        board = factory() if factory is not None else MemoryQuestionBoard()
        manager.questions = board
    return board


def rfc3339(wall_s: float) -> str:
    """``2026-12-03T23:05:00.000Z`` for a ``time.time()`` value."""
    text = datetime.fromtimestamp(wall_s, UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


class RunContext:
    """What agent code can reach of its run: its stream id, ``emit``, ``ask``, ``approve``."""

    __slots__ = ("_manager", "_run", "default_timeout_s")

    def __init__(
        self, run: Run, manager: RunManager, *, default_timeout_s: float = DEFAULT_INPUT_TIMEOUT_S
    ) -> None:
        self._run = run
        self._manager = manager
        self.default_timeout_s = default_timeout_s

    @property
    def stream_id(self) -> str:
        return self._run.stream_id

    @property
    def respond_url(self) -> str:
        return f"{self._manager.resume_path(self._run.stream_id)}/respond"

    async def emit(self, event: KnownEvent) -> None:
        """Store ``event`` in the stream now, after what the agent yielded so far."""
        await self._run.emit(event)

    async def ask(
        self,
        prompt: str,
        *,
        options: list[str] | None = None,
        schema: dict[str, JSONValue] | None = None,
        allows_free_text: bool = False,
        timeout_s: float | None = None,
        request_id: str | None = None,
        _tool: tuple[str, str | None, JSONValue] | None = None,
    ) -> JSONValue:
        """Ask a person; the answer (any JSON; a string for ``options``) once it arrives.

        ``options`` are the allowed answers (others too with ``allows_free_text``); ``schema`` a
        JSON Schema the answer must satisfy. Raises :class:`InputTimeoutError` after
        ``timeout_s`` (default ``default_timeout_s``) and :class:`InputCancelledError`.
        """
        if options is not None and (not options or not all(isinstance(o, str) for o in options)):
            raise UsageError(
                f"options={truncate(options)} must be a non-empty list of strings",
                code="invalid-question",
            )
        if schema is not None:
            check_schema(schema)
        timeout = self.default_timeout_s if timeout_s is None else timeout_s
        if timeout <= 0:
            raise UsageError(f"timeout_s={timeout_s!r} must be > 0", code="invalid-question")
        request_id = request_id or "req_" + secrets.token_urlsafe(12)
        expires_at_s = time.time() + timeout
        tool_name, tool_use_id, tool_input = _tool if _tool is not None else (None, None, UNSET)
        question = InputRequired(
            request_id=request_id,
            prompt=prompt,
            choices=UNSET if options is None else list(options),
            schema=UNSET if schema is None else schema,
            respond_url=self.respond_url,
            expires_at=rfc3339(expires_at_s),
            allows_free_text=True if allows_free_text else UNSET,
            tool_name=UNSET if tool_name is None else tool_name,
            tool_use_id=UNSET if tool_use_id is None else tool_use_id,
            tool_input=tool_input,
        )
        board = question_board(self._manager)
        stream_id, run = self._run.stream_id, self._run
        # the input_response carries the answer's JSON in place of this null
        overhead = len(encode_data(InputResponse(request_id=request_id, answer=None))) - 4
        await board.open(
            stream_id,
            request_id,
            encode_data(question),
            expires_at_s=expires_at_s,
            max_answer_bytes=max(1, run.max_event_bytes - overhead),
        )
        # An open question counts as a reader: the disconnect policy waits until it closes.
        detach = run.store.attach(stream_id)
        try:
            try:
                await run.emit(question)
                claim = await board.wait(stream_id, request_id)
            except BaseException:
                with anyio.CancelScope(shield=True), anyio.move_on_after(_SETTLE_TIMEOUT_S):
                    await board.settle(stream_id, request_id, "closed")
                raise
            if claim is None:
                await run.emit(InputResponse(request_id=request_id, status="expired"))
                raise InputTimeoutError(
                    f"nobody answered {truncate(prompt, 60)} within {timeout:g}s "
                    f"(request {request_id})",
                    request_id=request_id,
                )
            if claim.is_cancelled:
                await run.emit(InputResponse(request_id=request_id, status="cancelled"))
                await board.settle(stream_id, request_id, "acked")
                raise InputCancelledError(
                    f"the question {truncate(prompt, 60)} was cancelled (request {request_id})",
                    request_id=request_id,
                )
            answer: JSONValue = msgspec.json.decode(claim.answer)
            await run.emit(InputResponse(request_id=request_id, answer=answer))
            await board.settle(stream_id, request_id, "acked")
            return answer
        finally:
            detach()

    async def approve(
        self,
        tool_name: str,
        tool_input: JSONValue = None,
        *,
        tool_use_id: str | None = None,
        prompt: str | None = None,
        timeout_s: float | None = None,
    ) -> bool:
        """Ask a person whether the agent may call ``tool_name`` with ``tool_input``.

        True when the answer is ``"approve"``, False for ``"deny"``; the ``input_required``
        carries ``tool_name``, ``tool_use_id`` and ``tool_input`` so a UI can show the call.
        """
        answer = await self.ask(
            prompt or f"Allow {tool_name}({_summary(tool_input)})?",
            options=[APPROVE, DENY],
            timeout_s=timeout_s,
            _tool=(tool_name, tool_use_id, tool_input),
        )
        return answer == APPROVE


def _summary(value: JSONValue) -> str:
    text = msgspec.json.encode(value).decode() if value is not None else ""
    return text if len(text) <= 60 else text[:59] + "…"


def current_run() -> RunContext:
    """The run the calling agent code belongs to; UsageError ``no-run`` outside of one."""
    context = _CURRENT.get(None)
    if context is None:
        raise UsageError(
            "no agent-stream run here: ask()/approve()/current_run() work inside the source "
            "of an AgentStreamResponse (or a run of a RunManager)",
            code="no-run",
        )
    return context


async def ask(
    prompt: str,
    *,
    options: list[str] | None = None,
    schema: dict[str, JSONValue] | None = None,
    allows_free_text: bool = False,
    timeout_s: float | None = None,
) -> JSONValue:
    """``current_run().ask(...)``: ask a person and wait for the answer (see module doc)."""
    return await current_run().ask(
        prompt,
        options=options,
        schema=schema,
        allows_free_text=allows_free_text,
        timeout_s=timeout_s,
    )


async def approve(
    tool_name: str,
    tool_input: JSONValue = None,
    *,
    tool_use_id: str | None = None,
    prompt: str | None = None,
    timeout_s: float | None = None,
) -> bool:
    """``current_run().approve(...)``: may the agent call this tool? (True: approved)."""
    return await current_run().approve(
        tool_name, tool_input, tool_use_id=tool_use_id, prompt=prompt, timeout_s=timeout_s
    )


class RunSource:
    """A run's source that makes its :class:`RunContext` current for the agent's code.

    The run iterates its source from the task that drives it; ``__aiter__`` runs there once,
    so the context variable is set for the whole run at no cost per event.
    """

    __slots__ = ("context", "source")

    def __init__(self, source: Source) -> None:
        self.source = source
        self.context: RunContext | None = None

    def __aiter__(self) -> AsyncIterator[SourceItem]:
        if self.context is not None:
            _CURRENT.set(self.context)
        return aiter(self.source)

    async def aclose(self) -> None:
        aclose = getattr(self.source, "aclose", None)
        if aclose is not None:
            await aclose()
