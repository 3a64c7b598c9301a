"""``AgentStreamClient``: read an agent stream over httpx, resuming across network failures."""

from __future__ import annotations

import json as _json
import logging
import random as _random
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from types import TracebackType
from typing import Final, Literal

import anyio
import httpx
import msgspec

from ..errors import AgentStreamError, HTTPStatusError, ProtocolError, ResumeError, UsageError
from ..events import (
    EVENT_TYPES,
    AgentEvent,
    Done,
    DoneReason,
    JSONValue,
    Start,
    Thinking,
    Token,
    parse_event,
)
from ..sse import SSEDecoder
from ..state import StreamState, fold
from ._body import open_body
from ._event import StreamEvent
from ._respond import post_answer, respond_target
from ._retry import RetryPolicy, parse_retry_after

__all__ = ["AgentStreamClient"]

logger = logging.getLogger("agent_stream")

_DEFAULT_HEARTBEAT_MS = 15_000
_STREAM_ID_HEADER = "x-agent-stream-id"
# Decoders for the types whose events need nothing but decoding (parse_event without its
# call layers, the hot path); start, reconnect and unknown types go through parse_event.
_DECODERS: dict[str, Callable[[str], AgentEvent]] = {
    name: msgspec.json.Decoder(cls).decode
    for name, cls in EVENT_TYPES.items()
    if name not in ("start", "reconnect")
}
_decode_token: Final = msgspec.json.Decoder(Token).decode


class _Stalled(AgentStreamError):
    """No byte arrived within the liveness deadline (a dead or half-open connection)."""

    code = "liveness-timeout"


class _Ended(AgentStreamError):
    """The response ended (EOF) before ``done``."""

    code = "eof-before-done"


class _ReconnectNow(Exception):
    """The server sent ``reconnect``: resume at once, no backoff."""


class AgentStreamClient:
    """An async client for agent streams: typed events, resume on network failure, state.

    HTTP statuses of 400 and more raise :class:`~agent_stream.errors.HTTPStatusError` at once and
    are never retried (unless listed in ``retry_statuses``: 429 and 503 are the sensible ones,
    retried after their ``Retry-After``). A dropped connection, an EOF before ``done`` or a read
    stall longer than the liveness deadline resumes the stream with ``Last-Event-ID``; the
    request is never sent again without an id once the server has answered, so an agent never
    runs twice. When the stream cannot be finished, the iterator ends with a synthetic ``done``
    (``data["synthetic"] is True``) and :attr:`failure` says why.

    ``liveness_s`` defaults to 2.5 heartbeat intervals (from the ``start`` event) plus one
    second. ``sleep``, ``random`` and ``clock`` (Unix time, for ``Retry-After`` dates) are
    injectable for tests.

    Example::

        async with AgentStreamClient() as client:
            url = "http://127.0.0.1:8000/api/chat"
            async for event in client.stream(url, json={"message": "hi"}):
                if event.type == "token":
                    print(event.data["text"], end="")
            print(client.state.text)
    """

    def __init__(
        self,
        *,
        http_client: httpx.AsyncClient | None = None,
        max_retries: int = 8,
        backoff_base_s: float = 1.0,
        backoff_max_s: float = 30.0,
        retry_statuses: tuple[int, ...] = (),
        liveness_s: float | None = None,
        resume_with: Literal["request", "resume_url"] = "request",
        stop_grace_s: float = 5.0,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        random: Callable[[], float] = _random.random,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_retries < 0:
            raise UsageError(f"max_retries must be >= 0, got {max_retries}", code="invalid-option")
        self._owns_http = http_client is None
        self._http = http_client or httpx.AsyncClient(
            timeout=httpx.Timeout(10.0, read=None), follow_redirects=False
        )
        self.retry = RetryPolicy(max_retries, backoff_base_s, backoff_max_s)
        self.retry_statuses = frozenset(retry_statuses)
        self.liveness_s = liveness_s
        self.resume_with = resume_with
        self.stop_grace_s = stop_grace_s
        self._sleep = sleep
        self._random = random
        self._clock = clock
        self._state = StreamState()
        # token / thinking texts not folded into _state yet: folded as one chunk when the
        # state is read or another event comes (the same state, one fold instead of n)
        self._tokens: list[str] = []
        self._thinking: list[str] = []
        #: Why the last stream ended with a synthetic ``done`` (None when it ended normally).
        self.failure: AgentStreamError | httpx.TransportError | None = None
        #: Reconnections made during the last stream.
        self.reconnects = 0
        self.stream_id: str | None = None
        self._stop_url: str | None = None
        self._stop_headers: dict[str, str] = {}
        self._stopping = False
        self._read_scope: anyio.CancelScope | None = None

    @property
    def state(self) -> StreamState:
        """The :class:`~agent_stream.state.StreamState` folded from the events yielded so far."""
        if self._tokens or self._thinking:
            self._fold_pending()
        return self._state

    def _fold_pending(self) -> None:
        state = self._state
        if self._tokens:
            state = fold(state, Token(text="".join(self._tokens)))
            self._tokens.clear()
        if self._thinking:
            state = fold(state, Thinking(text="".join(self._thinking)))
            self._thinking.clear()
        self._state = state

    async def __aenter__(self) -> AgentStreamClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the httpx client if this client made it."""
        if self._owns_http:
            await self._http.aclose()

    async def stop(self) -> None:
        """Cancel the current run on the server (POST its ``stop_url``) and end the stream.

        The iterator yields the server's ``done`` (``reason: "cancelled"``) if it arrives
        within ``stop_grace_s``, else a synthetic one; it never reconnects after a stop.
        """
        if self._stop_url is None:
            raise UsageError(
                "no stream to stop: call stop() while iterating client.stream(...), after the "
                "server's start event",
                code="no-stream",
            )
        self._stopping = True
        response = await self._http.post(self._stop_url, headers=self._stop_headers)
        if response.status_code >= 400 and response.status_code != 404:
            # 404: the run is already over; the stream ends by itself
            raise _status_error(response, response.text)
        scope = self._read_scope
        if scope is not None:
            scope.deadline = min(scope.deadline, anyio.current_time() + self.stop_grace_s)

    async def respond(
        self,
        answer: JSONValue = None,
        *,
        cancel: bool = False,
        request_id: str | None = None,
        url: str | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, JSONValue]:
        """Answer the pending ``input_required`` (``state.input_required``): POST
        ``{"request_id", "answer"}`` to its ``respond_url`` with the stream's headers.

        Returns the server's 200 body; the stream then shows the ``input_response``. Raises
        :class:`~agent_stream.errors.HTTPStatusError` (404 / 409 / 410 / 422) and UsageError
        when nothing is pending. Network failures are retried with one Idempotency-Key.
        """
        request_id, target = respond_target(
            self.state.input_required, request_id, url, self._stop_url
        )
        return await post_answer(
            self._http,
            target,
            request_id,
            answer,
            cancel=cancel,
            headers=self._stop_headers,
            idempotency_key=idempotency_key,
        )

    async def stream(
        self,
        url: str | httpx.URL,
        *,
        json: object = None,
        headers: Mapping[str, str] | None = None,
        method: str = "POST",
        params: Mapping[str, str | int | float] | None = None,
    ) -> AsyncGenerator[StreamEvent, None]:
        """Send the request and yield its events until ``done`` (always ends with one).

        Raises :class:`~agent_stream.errors.HTTPStatusError` when the first answer is 400 or
        more, :class:`~agent_stream.errors.ProtocolError` for bytes that break the protocol.
        Use it inside ``contextlib.aclosing`` when you may stop iterating early.
        """
        url = httpx.URL(url)
        base_headers = {"accept": "text/event-stream", "cache-control": "no-cache"}
        base_headers.update(headers or {})
        self._state = StreamState()
        self._tokens.clear()
        self._thinking.clear()
        self.failure = None
        self.reconnects = 0
        self.stream_id = None
        self._stop_url = None
        self._stop_headers = {
            k: v for k, v in base_headers.items() if k.lower() not in ("accept", "cache-control")
        }
        self._stopping = False

        stream_id: str | None = None
        last_id = ""  # last id of a complete event, the resume cursor
        max_seq = -1
        seq: int | None
        resume_url: httpx.URL | None = None
        server_retry_ms: int | None = None
        liveness_s = self.liveness_s or _liveness(_DEFAULT_HEARTBEAT_MS)
        failures = 0  # consecutive attempts without a new event
        answered = False
        sent_start = False
        decoders = _DECODERS
        decode_token = _decode_token
        add_token = self._tokens.append
        add_thinking = self._thinking.append

        while True:
            progress_seq = max(max_seq, 0)
            resuming = answered
            request_headers = dict(base_headers)
            if resuming:
                request_headers["last-event-id"] = last_id
            if resuming and self.resume_with == "resume_url" and resume_url is not None:
                request = self._http.build_request(
                    "GET", resume_url, headers=request_headers, timeout=self._timeout()
                )
            else:
                request = self._http.build_request(
                    method,
                    url,
                    json=json,
                    params=params,
                    headers=request_headers,
                    timeout=self._timeout(),
                )
            error: Exception
            try:
                with anyio.fail_after(liveness_s):
                    response = await self._http.send(request, stream=True)
            except TimeoutError:
                error = _Stalled(f"no response headers within {liveness_s:.1f}s")
                if not answered:
                    self.failure = error  # the request was sent: never resend it without an id
                    break
            except httpx.TransportError as exc:
                if not answered and not isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
                    # the request may have reached the server and started a run: resending
                    # it without an id could run the agent twice, so give up instead
                    self.failure = exc
                    break
                error = exc
            else:
                try:
                    status = response.status_code
                    if status >= 400:
                        body = (await response.aread()).decode("utf-8", "replace")
                        if status in self.retry_statuses and failures < self.retry.max_retries:
                            failures += 1
                            delay = parse_retry_after(
                                response.headers.get("retry-after"), now_s=self._clock()
                            )
                            if delay is None:
                                delay = self._backoff(failures, server_retry_ms)
                            await self._sleep(min(delay, self.retry.backoff_max_s))
                            continue
                        error_ = _status_error(response, body)
                        if not resuming:
                            raise error_
                        self.failure = _resume_error(error_, last_id) or error_
                        break
                    if not resuming:
                        answered = True
                        header_id = response.headers.get(_STREAM_ID_HEADER)
                        if header_id:
                            # resumable even if the priming frame gets lost
                            stream_id = self.stream_id = header_id
                            last_id = f"{header_id}:0"
                    _check_content_type(response)
                    decoder = SSEDecoder()
                    feed = decoder.feed_frames
                    prev_id = ""
                    # seq + 1 as an id: a match needs no parsing (max_seq >= 0 on a resume)
                    next_seq = max_seq + 1 if max_seq >= 0 else -1
                    next_id = f"{stream_id}:{next_seq}" if stream_id and max_seq >= 0 else None
                    read = open_body(response).read
                    while True:
                        scope = self._read_scope = anyio.CancelScope(
                            deadline=anyio.current_time() + liveness_s
                        )
                        if self._stopping:
                            scope.deadline = anyio.current_time() + self.stop_grace_s
                        with scope:
                            chunk = await read()
                        if scope.cancelled_caught:
                            raise _Stalled(f"no bytes for {liveness_s:.1f}s")
                        if not chunk:
                            raise _Ended("the response ended before done")
                        # The hot loop: a token takes the first branch and nothing else.
                        for kind, data, eid, _ in feed(chunk):
                            if eid == next_id:  # the next seq of this stream: the usual case
                                seq = max_seq = next_seq
                                prev_id = last_id = eid
                                next_seq += 1
                                next_id = f"{stream_id}:{next_seq}"
                            elif eid != prev_id and eid:  # a block with an id line of its own
                                prev_id = eid
                                sid, _, seq_text = eid.rpartition(":")
                                if seq_text.isdecimal() and sid:
                                    seq = int(seq_text)
                                    if sid != stream_id:
                                        if stream_id is not None:
                                            raise ProtocolError(
                                                f"event id {eid!r} names another stream than "
                                                f"{stream_id!r}; a response carries one stream",
                                                code="foreign-id",
                                                line=eid,
                                            )
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
                                    last_id = eid  # an opaque id from another server
                            else:
                                seq = None
                            if kind == "token":
                                try:
                                    token = decode_token(data)
                                except msgspec.MsgspecError:
                                    parse_event(kind, data)  # raises the typed error
                                    raise
                                add_token(token.text)
                                yield StreamEvent(token, eid, seq)
                                continue
                            decode = decoders.get(kind)
                            if decode is not None:
                                try:
                                    event: AgentEvent = decode(data)
                                except msgspec.MsgspecError:
                                    parse_event(kind, data)
                                    raise
                            elif kind == "reconnect":
                                raise _ReconnectNow
                            else:
                                event = parse_event(kind, data)  # start, unknown types
                            if type(event) is Thinking:
                                add_thinking(event.text)
                            elif type(event) is Start:
                                if self.liveness_s is None:
                                    liveness_s = _liveness(event.heartbeat_ms)
                                if event.resume_url:
                                    resume_url = url.join(event.resume_url)
                                if event.stop_url:
                                    self._stop_url = str(url.join(event.stop_url))
                                if sent_start:
                                    continue
                                sent_start = True
                                self._state = fold(self.state, event)
                            else:
                                self._state = fold(self.state, event)
                            yield StreamEvent(event, eid, seq)
                            if kind == "done":
                                return
                        # WHATWG: a retry field takes effect when its line is parsed
                        if decoder.retry is not None:
                            server_retry_ms = decoder.retry
                except _ReconnectNow:
                    logger.info("server asked to reconnect; resuming from %s", last_id)
                    if self._stopping or not last_id:
                        break
                    self.reconnects += 1
                    continue
                except (httpx.TransportError, _Stalled, _Ended) as exc:
                    error = exc
                finally:
                    self._read_scope = None
                    if max_seq > progress_seq:
                        failures = 0  # progress: a new event arrived
                    await response.aclose()

            # a network failure: resume if we can, else end with a synthetic done
            self.failure = _network_error(error)
            if self._stopping:
                break
            if answered and not last_id:
                logger.info("stream lost and cannot resume (the server sent no ids): %s", error)
                break
            if failures >= self.retry.max_retries:
                logger.info("stream lost; %d retries exhausted: %s", failures, error)
                break
            failures += 1
            self.reconnects += 1
            delay = self._backoff(failures, server_retry_ms)
            logger.info("stream lost (%s); resuming from %r in %.2fs", error, last_id, delay)
            await self._sleep(delay)

        reason: DoneReason = "cancelled" if self._stopping else "interrupted"
        done = Done(reason=reason, synthetic=True)
        self._state = fold(self.state, done)
        yield StreamEvent(done)

    def _backoff(self, attempt: int, server_retry_ms: int | None) -> float:
        return self.retry.delay_s(attempt, server_retry_ms=server_retry_ms, random=self._random)

    def _timeout(self) -> httpx.Timeout:
        # reads are bounded by the liveness deadline instead of httpx's read timeout, which
        # would end a quiet but healthy stream between heartbeats
        timeout = self._http.timeout
        return httpx.Timeout(
            connect=timeout.connect, read=None, write=timeout.write, pool=timeout.pool
        )


def _liveness(heartbeat_ms: int) -> float:
    return heartbeat_ms * 2.5 / 1000 + 1.0


def _check_content_type(response: httpx.Response) -> None:
    content_type = response.headers.get("content-type", "")
    if content_type and not content_type.lower().startswith("text/event-stream"):
        raise ProtocolError(
            f"expected a text/event-stream response, got {content_type!r} "
            f"(status {response.status_code}); is {response.url} an agent-stream endpoint?",
            code="not-event-stream",
            line=content_type,
        )


def _status_error(response: httpx.Response, body: str) -> HTTPStatusError:
    return HTTPStatusError(
        f"{response.request.method} {response.url} answered {response.status_code} "
        f"{response.reason_phrase}: {body[:200]!r}",
        status_code=response.status_code,
        body=body,
        headers=dict(response.headers),
        url=str(response.url),
    )


def _resume_error(error: HTTPStatusError, last_id: str) -> ResumeError | None:
    code = {400: "malformed-id", 404: "unknown-stream", 410: "expired"}.get(error.status_code)
    if code is None:
        return None
    earliest: str | None = None
    try:
        body = _json.loads(error.body)
        earliest = body.get("error", {}).get("earliest_id")
    except (ValueError, AttributeError):
        pass
    return ResumeError(
        f"cannot resume from {last_id!r}: the server answered {error.status_code} ({code})",
        code=code,
        last_event_id=last_id,
        earliest_id=earliest if isinstance(earliest, str) else None,
    )


def _network_error(error: Exception) -> AgentStreamError | httpx.TransportError:
    if isinstance(error, AgentStreamError | httpx.TransportError):
        return error
    return AgentStreamError(str(error), code="connection-lost")
