"""``ResumeCore``: one stream's resume state machine (see the package docstring)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Final, Literal

import msgspec
from msgspec import UNSET

from ..emitter import parse_event_id
from ..errors import AgentStreamError, ProtocolError, ResumeError
from ..events import EVENT_TYPES, AgentEvent, DoneReason, Start, Thinking, Token, parse_event
from ..state import StreamState, fold
from ._actions import GiveUp, LostKind, RequestPlan, Retry
from ._errors import foreign_id_error, lost_message, resume_error, status_error
from ._event import StreamEvent
from ._limit import EventLimit
from ._retry import RetryPolicy, parse_retry_after

__all__ = ["DEFAULT_HEARTBEAT_MS", "ResumeCore"]

logger = logging.getLogger("agent_stream")

DEFAULT_HEARTBEAT_MS: Final = 15_000
_LOST_CODES: Final[dict[str, str]] = {
    "connect": "connection-lost",
    "network": "connection-lost",
    "stalled": "stalled",
    "eof": "connection-lost",
    "reconnect": "connection-lost",
}
# Decoders for the types whose events need nothing but decoding (parse_event without its
# call layers, the hot path); start, reconnect and unknown types go through parse_event.
_DECODERS: Final[dict[str, Callable[[str], AgentEvent]]] = {
    name: msgspec.json.Decoder(cls).decode
    for name, cls in EVENT_TYPES.items()
    if name not in ("start", "reconnect")
}
_decode_token: Final = msgspec.json.Decoder(Token).decode


class ResumeCore:
    """One stream's resume state machine: cursor, dedupe by seq, retries and giving up.

    ``random`` draws the backoff jitter; time comes in as arguments (``now_s``, Unix seconds,
    for ``Retry-After`` dates). ``liveness_s`` fixes the dead-connection deadline; by default
    it is 2.5 heartbeat intervals (from the ``start`` event) plus one second.

    ``max_event_bytes`` bounds an event's data; ``None`` adopts the size each ``start``
    announces (1 MiB until one does, and when none does). An event over the limit ends the
    stream: :class:`GiveUp` ``error`` with ``event-too-large`` (PROTOCOL 2.8).
    """

    def __init__(
        self,
        *,
        policy: RetryPolicy,
        random: Callable[[], float],
        retry_statuses: frozenset[int] = frozenset(),
        resume_with: Literal["request", "resume_url"] = "request",
        liveness_s: float | None = None,
        idempotency_key: str | None = None,
        max_event_bytes: int | None = None,
    ) -> None:
        self.policy = policy
        self._limit = EventLimit(max_event_bytes)
        self.retry_statuses = retry_statuses
        self.resume_with = resume_with
        self._random = random
        self._liveness_s = liveness_s
        self.idempotency_key = idempotency_key
        self.heartbeat_ms = DEFAULT_HEARTBEAT_MS
        #: How long after its last sign of life a resume can still succeed, as the ``start``
        #: event announced, or ``None`` when the server did not say.
        self.resume_window_ms: int | None = None
        self._alive_at: float | None = None
        #: The stream id, once a header, the priming frame or an event id named it.
        self.stream_id: str | None = None
        #: The resume cursor: the id of the last complete event ("" before any).
        self.last_id = ""
        self.max_seq = -1
        self.resume_url: str | None = None
        self.stop_url: str | None = None
        self.report_url: str | None = None
        self.server_retry_ms: int | None = None
        #: Consecutive attempts without a new event; reset by progress.
        self.failures = 0
        #: Reconnections made (resumes and re-sends).
        self.reconnects = 0
        #: Why the stream ended early, or ``None``.
        self.failure: Exception | None = None
        #: Events skipped because their payload did not match their type (typed errors, in
        #: order, each with the raw data in ``line``); the stream goes on past them.
        self.invalid_events: list[ProtocolError] = []
        #: After :meth:`feed`: ``"done"``, ``"reconnect"``, a :class:`GiveUp`, or ``None``.
        self.outcome: Literal["done", "reconnect"] | GiveUp | None = None
        self.is_stopping = False
        self._answered = False
        self._sent_start = False
        self._progress_mark = 0
        self._decoder = self._limit.decoder()
        self._prev_id = ""
        self._next_seq = -1
        self._next_id: str | None = None
        self._state = StreamState()
        # token / thinking texts not folded into _state yet: folded as one chunk when the
        # state is read or another event comes (the same state, one fold instead of n)
        self._tokens: list[str] = []
        self._thinking: list[str] = []
        #: Fold a delivered token's text (``fold`` for any event; this for the hot path).
        self.add_token: Callable[[str], None] = self._tokens.append

    @property
    def liveness_s(self) -> float:
        """Seconds of silence after which the connection counts as dead."""
        if self._liveness_s is not None:
            return self._liveness_s
        return self.heartbeat_ms * 2.5 / 1000 + 1.0

    @property
    def max_event_bytes(self) -> int:
        """The largest event data accepted now; beyond it the stream ends."""
        return self._limit.bytes

    @property
    def is_answered(self) -> bool:
        """Whether the server answered the original request (from then on: resumes only)."""
        return self._answered

    @property
    def state(self) -> StreamState:
        """The :class:`~agent_stream.state.StreamState` folded from the events delivered."""
        if self._tokens or self._thinking:
            self._fold_pending()
        return self._state

    def fold(self, event: AgentEvent) -> None:
        """Fold a delivered event into :attr:`state` (tokens: :attr:`add_token`, cheaper)."""
        if type(event) is Token:
            self._tokens.append(event.text)
        elif type(event) is Thinking:
            self._thinking.append(event.text)
        else:
            self._state = fold(self.state, event)

    def _fold_pending(self) -> None:
        state = self._state
        if self._tokens:
            state = fold(state, Token(text="".join(self._tokens)))
            self._tokens.clear()
        if self._thinking:
            state = fold(state, Thinking(text="".join(self._thinking)))
            self._thinking.clear()
        self._state = state

    def alive(self, now_s: float) -> None:
        """The server showed it is alive at ``now_s`` (monotonic seconds): an answer, bytes."""
        self._alive_at = now_s

    def request(self) -> RequestPlan:
        """What to send next."""
        self._progress_mark = max(self.max_seq, 0)
        if not self._answered:
            return RequestPlan(None, None, self.idempotency_key)
        via_url = self.resume_url if self.resume_with == "resume_url" else None
        return RequestPlan(self.last_id, via_url, None)

    def stop(self) -> None:
        """The user stopped the run: the next loss ends the stream as ``cancelled``."""
        self.is_stopping = True

    def response(
        self,
        status: int,
        headers: Mapping[str, str],
        *,
        body: str = "",
        method: str = "",
        url: str = "",
        reason_phrase: str = "",
        now_s: float,
    ) -> Retry | GiveUp | None:
        """The answer's status line and headers (lower-case names): ``None`` means read the body.

        For a status of 400 or more pass its ``body``; the error built names ``method`` and
        ``url``.
        """
        resuming = self._answered
        if status >= 400:
            if status in self.retry_statuses and self.failures < self.policy.max_retries:
                self.failures += 1
                self.reconnects += 1
                delay = parse_retry_after(headers.get("retry-after"), now_s=now_s)
                if delay is None:
                    delay = self._backoff()
                return Retry(min(delay, self.policy.backoff_max_s))
            error: AgentStreamError = status_error(
                status, body, headers, method=method, url=url, reason_phrase=reason_phrase
            )
            if resuming:
                error = resume_error(status, body, self.last_id) or error
            return self._give_up("interrupted" if resuming else "error", error.code, error)
        if not resuming:
            self._answered = True
            header_id = headers.get("x-agent-stream-id")
            if header_id and self.stream_id is None:
                # resumable even if the priming frame gets lost
                self.stream_id = header_id
                if not self.last_id:
                    self.last_id = f"{header_id}:0"
                    self.max_seq = 0
        header_url = headers.get("x-agent-stream-resume-url")
        if header_url and self.resume_url is None:
            self.resume_url = header_url
        content_type = headers.get("content-type", "")
        if content_type and not content_type.lower().startswith("text/event-stream"):
            error = ProtocolError(
                f"expected a text/event-stream response, got {content_type!r} "
                f"(status {status}); is {url or 'the URL'} an agent-stream endpoint?",
                code="not-event-stream",
                line=content_type,
            )
            return self._give_up("error", error.code, error)
        self._decoder = self._limit.decoder()
        self._prev_id = ""
        self.outcome = None
        # seq + 1 as an id: a match needs no parsing
        if self.stream_id is not None and self.max_seq >= 0:
            self._next_seq = self.max_seq + 1
            self._next_id = f"{self.stream_id}:{self._next_seq}"
        else:
            self._next_seq = -1
            self._next_id = None
        return None

    def feed(self, data: bytes) -> list[StreamEvent]:
        """Body bytes in, the events to deliver out (new, known or unknown, in order).

        Fold each into :attr:`state` as it is handed on (:meth:`fold`), so that the state
        matches what the consumer has seen.

        Afterwards :attr:`outcome` says whether the stream ended (``"done"``), the server asked
        for a reconnect (``"reconnect"``: call :meth:`lost`), or it broke the protocol (a
        :class:`GiveUp` with reason ``"error"``); events after that are not read.
        """
        if self._limit.is_priming:  # the limit start announces applies to the bytes after it
            cut = self._limit.priming_end(data)
            if 0 < cut < len(data):
                first = self.feed(data[:cut])
                return first if self.outcome is not None else first + self.feed(data[cut:])
        out: list[StreamEvent] = []
        deliver = out.append
        decoders = _DECODERS
        stream_id = self.stream_id
        max_seq = self.max_seq
        last_id = self.last_id
        prev_id = self._prev_id
        next_id = self._next_id
        next_seq = self._next_seq
        seq: int | None
        try:
            frames = self._decoder.feed_frames(data)
        except ProtocolError as exc:  # the events before the bad bytes came in an earlier call
            self.outcome = self._broken(exc)
            return out
        try:
            # The hot loop: a token with the next id takes the first branches and nothing else.
            for kind, text, eid, _ in frames:
                if eid == next_id:  # the next seq of this stream: the usual case
                    seq = max_seq = next_seq
                    prev_id = last_id = eid
                    next_seq += 1
                    next_id = f"{stream_id}:{next_seq}"
                elif eid != prev_id and eid:  # a block with an id line of its own
                    prev_id = eid
                    parsed = parse_event_id(eid)
                    if parsed is None:
                        seq = None
                        last_id = eid  # an opaque id from another server
                    else:
                        sid, seq = parsed
                        if sid != stream_id:
                            if stream_id is not None:
                                error = foreign_id_error(eid, stream_id)
                                self.outcome = self._give_up("error", error.code, error)
                                return out
                            stream_id = self.stream_id = sid
                        if seq > max_seq:
                            max_seq = seq
                            last_id = eid
                            next_seq = seq + 1
                            next_id = f"{sid}:{next_seq}"
                        elif kind != "start":
                            continue  # already delivered before the reconnect
                else:
                    seq = None
                if kind == "token":
                    try:
                        token = _decode_token(text)
                    except msgspec.MsgspecError:
                        self._invalid(kind, text, eid)
                        continue
                    deliver(StreamEvent(token, eid, seq))
                    continue
                decode = decoders.get(kind)
                event: AgentEvent
                try:
                    if decode is not None:
                        event = decode(text)
                    elif kind == "reconnect":
                        self.outcome = "reconnect"
                        return out
                    else:
                        event = parse_event(kind, text)  # start, unknown types
                except (msgspec.MsgspecError, ProtocolError):
                    self._invalid(kind, text, eid)
                    continue
                if type(event) is Start:
                    if event.max_event_bytes is not UNSET:
                        self._limit.announced(event.max_event_bytes, self._decoder)
                    self.heartbeat_ms = event.heartbeat_ms
                    if event.resume_window_ms is not UNSET:
                        self.resume_window_ms = event.resume_window_ms
                    if event.resume_url:
                        self.resume_url = event.resume_url
                    if event.stop_url:
                        self.stop_url = event.stop_url
                    if event.report_url:
                        self.report_url = event.report_url
                    if self._sent_start:
                        continue
                    self._sent_start = True
                deliver(StreamEvent(event, eid, seq))
                if kind == "done":
                    self.outcome = "done"
                    return out
            # WHATWG: a retry field takes effect when its line is parsed
            decoder = self._decoder
            if decoder.retry is not None:
                self.server_retry_ms = decoder.retry
            if decoder.error is not None:  # bad bytes after these events: the end, not a wait
                self.outcome = self._broken(decoder.error)
            return out
        finally:
            self.max_seq = max_seq
            self.last_id = last_id
            self._prev_id = prev_id
            self._next_id = next_id
            self._next_seq = next_seq

    def lost(
        self, kind: LostKind, error: Exception | None = None, *, now_s: float = 0.0
    ) -> Retry | GiveUp:
        """The connection was lost (or never made) at ``now_s``: retry after a delay, or give up.

        Once the resume window the server announced has passed since its last sign of life, or
        would pass before the retry, the stream ends as interrupted with ``expired``.
        """
        if error is None:
            error = AgentStreamError(lost_message(kind, self.liveness_s), code=_LOST_CODES[kind])
        code = getattr(error, "code", None) or _LOST_CODES[kind]
        if self.max_seq > self._progress_mark:
            self.failures = 0  # progress: a new event arrived
        if self.is_stopping:
            return self._give_up("cancelled", "cancelled", None)
        if kind == "reconnect":
            if not self.last_id:
                message = "the server asked to reconnect before naming an event id"
                return self._give_up("interrupted", code, AgentStreamError(message, code=code))
            logger.info("server asked to reconnect; resuming from %s", self.last_id)
            self.reconnects += 1
            return Retry(0.0)
        if self._answered and not self.last_id:
            logger.info("stream lost and cannot resume (the server sent no ids): %s", error)
            return self._give_up("interrupted", code, error)
        if self.failures >= self.policy.max_retries:
            logger.info("stream lost; %d retries exhausted: %s", self.failures, error)
            return self._give_up("interrupted", code, error)
        self.failures += 1
        delay = self._backoff()
        window_ms, alive_at = self.resume_window_ms, self._alive_at
        if window_ms is not None and alive_at is not None:
            if now_s + delay >= alive_at + window_ms / 1000:
                silent_s = now_s - alive_at
                expired = ResumeError(
                    f"{error}; the server keeps a stream for {window_ms} ms after it goes "
                    f"quiet, and it has been {silent_s * 1000:.0f} ms: giving up",
                    code="expired",
                    last_event_id=self.last_id or None,
                )
                logger.info("stream lost; the resume window has passed: %s", error)
                return self._give_up("interrupted", expired.code, expired)
        self.reconnects += 1
        logger.info("stream lost (%s); resuming from %r in %.2fs", error, self.last_id, delay)
        return Retry(delay)

    def _broken(self, error: ProtocolError) -> GiveUp:
        if error.code == "event-too-large":
            error = self._limit.error(error, self.last_id)
        return self._give_up("error", error.code, error)

    def _backoff(self) -> float:
        return self.policy.delay_s(
            self.failures, server_retry_ms=self.server_retry_ms, random=self._random
        )

    def _give_up(self, reason: DoneReason, code: str, failure: Exception | None) -> GiveUp:
        self.failure = failure
        give_up = GiveUp(reason, code, failure)
        self._state = fold(self.state, give_up.done)
        return give_up

    def _invalid(self, kind: str, text: str, eid: str) -> None:
        try:
            parse_event(kind, text)
        except ProtocolError as exc:
            error = exc
        else:  # pragma: no cover - the fast decoder and parse_event agree on what is valid
            error = ProtocolError(f"invalid {kind!r} event", code="invalid-event")
        error.line = text[:200]
        logger.warning("skipped an invalid %r event (id %r): %s", kind, eid, error)
        self.invalid_events.append(error)
