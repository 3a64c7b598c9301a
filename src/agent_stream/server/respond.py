"""The respond route: ``POST <respond_url>`` answers a run's open ``input_required``.

Body ``{"request_id": "...", "answer": <any JSON>}`` (or ``"cancel": true`` instead of an
answer), with the credentials of the request that started the stream. ``200`` once the agent
has the answer (its ``input_response`` is stored); then:

====  =====================  ======================================================
400   ``invalid-request``    the body is not such an object
404   ``unknown-request``    no such stream or question, or another owner's stream
409   ``already-answered``   someone answered first (unless it was this Idempotency-Key)
410   ``input-expired``      past ``expires_at``; the agent got its timeout
410   ``input-closed``       the run ended first (stopped, failed, or its process died)
422   ``invalid-answer``     not one of the choices, fails the schema, or is larger than the
                           run can store (its ``max_event_bytes``); ``reason`` says why
====  =====================  ======================================================

A repeated request with the same ``Idempotency-Key`` gets the first one's ``200``.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import msgspec

from ..errors import AnswerError, StoreUnavailableError, UsageError, truncate
from ..events import JSONValue
from .question_board import QuestionRecord, check_answer
from .questions import question_board
from .request_body import check_json_depth

if TYPE_CHECKING:
    from .manager import RunManager

__all__ = ["MAX_ANSWER_BYTES", "answer_question"]

MAX_ANSWER_BYTES = 64 * 1024
_IDEMPOTENCY_KEY_MAX = 200
# How long an answer waits for the producer to take it; a live producer takes it at once, a
# dead one is found out by the store within its lease (RedisStore: 2 x lease_s).
_DELIVERY_TIMEOUT_S = 30.0
_LOOK_EVERY_S = 0.25


class _Body(msgspec.Struct, forbid_unknown_fields=False):
    request_id: str
    answer: JSONValue | msgspec.UnsetType = msgspec.UNSET
    cancel: bool = False


def _parse(body: bytes) -> _Body:
    if len(body) > MAX_ANSWER_BYTES:
        raise AnswerError(
            f"the answer is {len(body)} bytes; the limit is {MAX_ANSWER_BYTES}",
            code="invalid-request",
        )
    try:
        check_json_depth(body)  # JSON nested 1,000 deep: 400, not a RecursionError 500
    except UsageError as exc:
        raise AnswerError(exc.message, code="invalid-request") from None
    try:
        parsed = msgspec.json.decode(body, type=_Body)
    except msgspec.DecodeError as exc:
        raise AnswerError(
            f'send {{"request_id": "...", "answer": ...}} as JSON ({exc}): {truncate(body)}',
            code="invalid-request",
        ) from None
    if parsed.answer is msgspec.UNSET and not parsed.cancel:
        raise AnswerError(
            'the body has no "answer"; send {"request_id": "...", "answer": ...}',
            code="invalid-request",
        )
    return parsed


def _unknown(stream_id: str, request_id: str) -> AnswerError:
    # byte for byte the same answer for a foreign stream, an unknown stream and an unknown
    # request: nothing tells whether a stream or question exists (PROTOCOL 5.2)
    return AnswerError(
        "no such question here: the stream or request_id is unknown, expired or not yours",
        code="unknown-request",
    )


def _ok(record: QuestionRecord) -> dict[str, JSONValue]:
    if record.state == "cancelled" or (record.state == "acked" and not record.answer):
        return {"request_id": record.request_id, "status": "cancelled"}
    answer: JSONValue = msgspec.json.decode(record.answer)
    return {"request_id": record.request_id, "status": "answered", "answer": answer}


async def answer_question(
    manager: RunManager, stream_id: str, owner: str, body: bytes, *, key: str | None = None
) -> dict[str, JSONValue]:
    """Answer a question of ``stream_id``; the 200 body, or :class:`AnswerError`."""
    parsed = _parse(body)
    if key is not None and len(key) > _IDEMPOTENCY_KEY_MAX:
        raise AnswerError(
            f"Idempotency-Key is longer than {_IDEMPOTENCY_KEY_MAX} characters",
            code="invalid-request",
        )
    request_id = parsed.request_id
    info = await manager.owned_info(stream_id, owner)
    if info is None:
        raise _unknown(stream_id, request_id)
    board = question_board(manager)
    record = await board.get(stream_id, request_id)
    if record is None:
        raise _unknown(stream_id, request_id)
    answer = b"" if parsed.cancel else msgspec.json.encode(parsed.answer)
    for _ in range(3):  # a lost race re-reads the record once or twice, never loops
        taken = record.state == "acked" or (
            record.state in ("answered", "cancelled") and not info.is_done
        )
        if taken:
            if not key or record.key != key:
                raise AnswerError(
                    f"question {truncate(request_id, 60)} was already answered",
                    code="already-answered",
                )
            break  # the same request again: wait for the first one's outcome
        if record.state == "expired" or (
            record.state == "open" and time.time() >= record.expires_at_s
        ):
            raise AnswerError(
                f"question {truncate(request_id, 60)} expired; the agent went on without it",
                code="input-expired",
            )
        if record.state != "open" or info.is_done:
            raise _closed(request_id)
        if not parsed.cancel:
            assert parsed.answer is not msgspec.UNSET
            _check_size(record, answer)
            check_answer(record.event, parsed.answer)
        claimed = await board.claim(
            stream_id, request_id, answer, key=key or "", is_cancel=parsed.cancel
        )
        fresh = await board.get(stream_id, request_id)
        if fresh is None:
            raise _unknown(stream_id, request_id)
        record = fresh
        if claimed:
            break
    return _ok(await _delivered(manager, stream_id, request_id))


def _check_size(record: QuestionRecord, answer: bytes) -> None:
    # an answer the run cannot store as its input_response would end the run (event-too-large)
    limit = record.max_answer_bytes
    if limit and len(answer) > limit:
        reason = f"the answer is {len(answer)} bytes of JSON; this run takes up to {limit}"
        raise AnswerError(f"answer refused: {reason}", code="invalid-answer", reason=reason)


def _closed(request_id: str) -> AnswerError:
    return AnswerError(
        f"question {truncate(request_id, 60)} is closed: its run ended before it was answered",
        code="input-closed",
    )


async def _delivered(manager: RunManager, stream_id: str, request_id: str) -> QuestionRecord:
    """Wait until the producer took the answer (acked); 410 if its run ended first."""
    board = question_board(manager)
    deadline = time.monotonic() + _DELIVERY_TIMEOUT_S
    while True:
        record = await board.get(stream_id, request_id)
        if record is None:
            raise _unknown(stream_id, request_id)
        if record.state == "acked":
            return record
        if record.state in ("closed", "expired"):
            raise _closed(request_id)
        # the store notices a producer that died (RedisStore: its lease lapsed) and ends the
        # stream as interrupted: then nobody will take the answer
        info = await manager.store.info(stream_id)
        if info is None or info.is_done:
            record = await board.get(stream_id, request_id)
            if record is not None and record.state == "acked":
                return record
            raise _closed(request_id)
        if time.monotonic() >= deadline:
            raise StoreUnavailableError(
                f"the run of stream {stream_id} did not take the answer within "
                f"{_DELIVERY_TIMEOUT_S:g}s; retry with the same Idempotency-Key"
            )
        await board.wait_settled(stream_id, request_id, _LOOK_EVERY_S)
