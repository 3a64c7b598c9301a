"""Where open human-in-the-loop questions wait for their answers.

A question's life: the producer (the run's ``ask()``) *opens* it, any process *claims* it with an
answer (exactly one claim wins: a second answer is a conflict), the producer picks the claim up,
stores the ``input_response`` event and *settles* it (``acked``), and the process that claimed it
answers the HTTP request then. A question nobody claims before ``expires_at`` is settled as
``expired`` by the producer; one whose run stops first is ``closed``. The claim and the expiry are
one atomic step each, so an answer racing the deadline either wins (the agent gets it) or gets
410 (the agent gets the timeout), never both.

:class:`MemoryQuestionBoard` serves one process; ``RedisQuestionBoard`` (``redis_questions``)
lets an answer posted to any worker reach the producing one.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Literal, Protocol, TypeAlias, runtime_checkable

import msgspec

from .._extras import install_hint
from ..errors import AnswerError, UsageError, truncate
from ..events import InputRequired, JSONValue

__all__ = [
    "Claim",
    "MemoryQuestionBoard",
    "QuestionBoard",
    "QuestionRecord",
    "QuestionState",
    "check_answer",
    "check_schema",
]

QuestionState: TypeAlias = Literal["open", "answered", "cancelled", "acked", "expired", "closed"]
"""``answered`` / ``cancelled``: claimed, not yet picked up by the producer; ``acked``: the
producer stored the ``input_response``; ``expired`` / ``closed``: no answer will be taken."""

# How often a waiting side looks at the record again when no notification came (a lost
# pub/sub message, a producer that died without settling).
POLL_S = 0.5


@dataclass(slots=True)
class QuestionRecord:
    """One question as the board keeps it."""

    stream_id: str
    request_id: str
    event: bytes  # the input_required data (JSON), so any process can validate an answer
    expires_at_s: float  # wall clock (time.time())
    state: QuestionState = "open"
    answer: bytes = b""  # the claimed answer as JSON
    key: str = ""  # the Idempotency-Key of the claim, if any
    # the largest answer (JSON bytes) whose input_response fits the run's max_event_bytes;
    # 0: no limit known
    max_answer_bytes: int = 0


@dataclass(frozen=True, slots=True)
class Claim:
    """What the producer picks up: the answer (JSON) or a cancellation."""

    answer: bytes
    is_cancelled: bool = False


@runtime_checkable
class QuestionBoard(Protocol):
    """Open questions of one app, shared by its producers and its respond route."""

    async def open(
        self,
        stream_id: str,
        request_id: str,
        event: bytes,
        *,
        expires_at_s: float,
        max_answer_bytes: int = 0,
    ) -> None:
        """Register an open question (the producer, before it emits ``input_required``);
        ``max_answer_bytes`` (0: none) is the largest answer its run can store."""
        ...

    async def wait(self, stream_id: str, request_id: str) -> Claim | None:
        """The producer: wait for the claim; ``None`` once expired (settled as ``expired``)."""
        ...

    async def settle(
        self, stream_id: str, request_id: str, state: Literal["acked", "closed"]
    ) -> None:
        """The producer: ``acked`` after storing the ``input_response``; ``closed`` when it
        stops waiting for another reason (cancelled run)."""
        ...

    async def get(self, stream_id: str, request_id: str) -> QuestionRecord | None:
        """The question, or ``None`` if unknown (or long gone)."""
        ...

    async def claim(
        self,
        stream_id: str,
        request_id: str,
        answer: bytes,
        *,
        key: str,
        is_cancel: bool = False,
    ) -> bool:
        """Atomically answer an open, unexpired question; False if it was not open."""
        ...

    async def wait_settled(self, stream_id: str, request_id: str, timeout_s: float) -> None:
        """The answering side: return when the question settles, or after ``timeout_s``."""
        ...

    async def aclose(self) -> None: ...


@dataclass(eq=False)
class _Entry:
    record: QuestionRecord
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def wake(self) -> None:
        self.changed.set()
        self.changed = asyncio.Event()


class MemoryQuestionBoard:
    """:class:`QuestionBoard` of one process. Settled questions are kept (up to ``keep``, the
    oldest forgotten first) so a late or repeated answer still gets 409/410, not 404."""

    def __init__(self, *, keep: int = 10_000) -> None:
        self._entries: OrderedDict[tuple[str, str], _Entry] = OrderedDict()
        self._keep = keep

    def _forget_old(self) -> None:
        while len(self._entries) > self._keep:
            (_, entry) = next(iter(self._entries.items()))
            if entry.record.state in ("open", "answered", "cancelled"):
                break  # never forget a question someone still waits on
            self._entries.popitem(last=False)

    async def open(
        self,
        stream_id: str,
        request_id: str,
        event: bytes,
        *,
        expires_at_s: float,
        max_answer_bytes: int = 0,
    ) -> None:
        key = (stream_id, request_id)
        if key in self._entries:
            raise UsageError(
                f"request_id {request_id!r} was already asked in this stream; use a new one",
                code="duplicate-request",
            )
        record = QuestionRecord(
            stream_id, request_id, event, expires_at_s, max_answer_bytes=max_answer_bytes
        )
        self._entries[key] = _Entry(record)
        self._forget_old()

    async def wait(self, stream_id: str, request_id: str) -> Claim | None:
        entry = self._entries[(stream_id, request_id)]
        record = entry.record
        while record.state == "open":
            remaining = record.expires_at_s - time.time()
            if remaining <= 0:
                record.state = "expired"
                entry.wake()
                return None
            changed = entry.changed
            try:
                await asyncio.wait_for(changed.wait(), remaining)
            except TimeoutError:
                pass
        if record.state in ("answered", "cancelled"):
            return Claim(record.answer, is_cancelled=record.state == "cancelled")
        return None

    async def settle(
        self, stream_id: str, request_id: str, state: Literal["acked", "closed"]
    ) -> None:
        entry = self._entries.get((stream_id, request_id))
        if entry is None:
            return
        record = entry.record
        if state == "closed" and record.state not in ("open", "answered", "cancelled"):
            return
        record.state = state
        entry.wake()

    async def get(self, stream_id: str, request_id: str) -> QuestionRecord | None:
        entry = self._entries.get((stream_id, request_id))
        return None if entry is None else entry.record

    async def claim(
        self,
        stream_id: str,
        request_id: str,
        answer: bytes,
        *,
        key: str,
        is_cancel: bool = False,
    ) -> bool:
        entry = self._entries.get((stream_id, request_id))
        if entry is None:
            return False
        record = entry.record
        if record.state != "open" or time.time() >= record.expires_at_s:
            return False
        record.state = "cancelled" if is_cancel else "answered"
        record.answer = answer
        record.key = key
        entry.wake()
        return True

    async def wait_settled(self, stream_id: str, request_id: str, timeout_s: float) -> None:
        entry = self._entries.get((stream_id, request_id))
        if entry is None or entry.record.state not in ("answered", "cancelled"):
            return
        changed = entry.changed
        try:
            await asyncio.wait_for(changed.wait(), timeout_s)
        except TimeoutError:
            pass

    async def aclose(self) -> None:
        self._entries.clear()


def check_schema(schema: dict[str, JSONValue]) -> None:
    """Raise UsageError unless ``schema`` is a valid JSON Schema (checked when asking)."""
    validator = _validator_class(schema)
    from jsonschema.exceptions import SchemaError  # present: _validator_class imported it

    try:
        validator.check_schema(schema)  # type: ignore[attr-defined]
    except SchemaError as exc:
        raise UsageError(
            f"schema is not a valid JSON Schema: {exc.message}", code="invalid-schema"
        ) from None


def _validator_class(schema: dict[str, JSONValue]) -> type:
    try:
        import jsonschema
    except ImportError:
        raise UsageError(
            f"answers checked against a JSON Schema need jsonschema: {install_hint('server')}",
            code="missing-extra",
        ) from None
    cls: type = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    return cls


def check_answer(event: bytes, answer: JSONValue) -> None:
    """Raise AnswerError ``invalid-answer`` (422) unless ``answer`` fits the question."""
    question = msgspec.json.decode(event, type=InputRequired)
    choices = question.choices
    if isinstance(choices, list) and question.allows_free_text is not True:
        if answer not in choices:
            reason = f"{truncate(answer, 60)} is not one of the choices {truncate(choices, 120)}"
            raise AnswerError(f"answer refused: {reason}", code="invalid-answer", reason=reason)
    elif isinstance(choices, list) and not isinstance(answer, str):
        reason = f"{truncate(answer, 60)} is neither one of the choices nor text"
        raise AnswerError(f"answer refused: {reason}", code="invalid-answer", reason=reason)
    schema = question.schema
    if isinstance(schema, dict):
        validator = _validator_class(schema)(schema)
        error = next(iter(validator.iter_errors(answer)), None)
        if error is not None:
            where = "".join(f"[{part!r}]" for part in error.absolute_path)
            reason = f"{error.message}" + (f" at answer{where}" if where else "")
            raise AnswerError(
                f"answer refused: {truncate(reason, 300)}", code="invalid-answer", reason=reason
            )
