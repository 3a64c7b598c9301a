"""``AgentStreamClient``: read an agent stream over httpx, resuming across network failures."""

from __future__ import annotations

import contextlib
import logging
import random as _random
import time
import uuid
import warnings
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from types import TracebackType
from typing import Literal
from urllib.request import getproxies

import anyio
import httpx

from ..errors import HTTPStatusError, ProtocolError, UsageError
from ..events import JSONValue, Token
from ..resume import GiveUp, LostKind, RequestPlan, ResumeCore, Retry, RetryPolicy, StreamEvent
from ..state import StreamState
from ._body import Body, _NetworkBody, direct_body_refusal, open_body
from ._report import send_report
from ._respond import post_answer, respond_target
from ._transport import CoalescingTransport

__all__ = ["AgentStreamClient"]

logger = logging.getLogger("agent_stream")


class AgentStreamClient:
    """An async client for agent streams: typed events, resume on network failure, state.

    HTTP statuses of 400 and more raise :class:`~agent_stream.errors.HTTPStatusError` at once and
    are never retried (unless listed in ``retry_statuses``: 429 and 503 are the sensible ones,
    retried after their ``Retry-After``). A dropped connection, an EOF before ``done`` or a read
    stall longer than the liveness deadline resumes the stream with ``Last-Event-ID``; once the
    server has answered, the request is never sent again without an id, and before that it is
    re-sent with the same ``Idempotency-Key``, so an agent never runs twice. When the stream
    cannot be finished, the iterator ends with a synthetic ``done`` (``data["synthetic"] is
    True``) and :attr:`failure` says why. An event whose payload does not match its type is
    skipped, logged and kept in :attr:`invalid_events`; the stream goes on.

    The decisions are :class:`agent_stream.resume.ResumeCore`'s (shared with the TypeScript
    client through ``spec/conformance/client/``); this class does the I/O.

    Without ``http_client`` the client makes an httpx client over
    :class:`~agent_stream.client.CoalescingTransport`, which hands a body out one piece per
    socket read instead of one per HTTP chunk (an agent server writes a chunk per event: several
    times less client CPU per event, ``bench/RESULTS.md``), or, when the environment names a
    proxy (``HTTP_PROXY``, ...), a plain httpx client that uses it. Give your own client that
    transport for the same effect. ``direct_body=True`` instead reads bodies straight from
    httpx's connection through private httpx/httpcore attributes (only with the tested versions,
    no keep-alive for streams); it warns and reads through httpx when it cannot.

    ``liveness_s`` defaults to 2.5 heartbeat intervals (from the ``start`` event) plus one
    second. ``max_event_bytes`` bounds an event's data: by default the size the server's
    ``start`` event announces (1 MiB when it names none); set, it is the limit whatever the
    server says. An event over it ends the stream with a synthetic ``done`` (``reason:
    "error"``; :attr:`failure` is a ProtocolError ``event-too-large``), never a resume: the
    server would send it again. ``sleep``, ``random`` and ``clock`` (Unix time, for
    ``Retry-After`` dates) are injectable for tests.

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
        direct_body: bool = False,
        max_event_bytes: int | None = None,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        random: Callable[[], float] = _random.random,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_retries < 0:
            raise UsageError(f"max_retries must be >= 0, got {max_retries}", code="invalid-option")
        self._owns_http = http_client is None
        self._http = http_client or _default_http_client(merge_chunks=not direct_body)
        self.retry = RetryPolicy(max_retries, backoff_base_s, backoff_max_s)
        self.retry_statuses = frozenset(retry_statuses)
        self.liveness_s = liveness_s
        self.resume_with = resume_with
        self.stop_grace_s = stop_grace_s
        if max_event_bytes is not None and max_event_bytes < 1:
            raise UsageError(
                f"max_event_bytes must be >= 1, got {max_event_bytes}", code="invalid-option"
            )
        self.max_event_bytes = max_event_bytes
        self._direct_body = direct_body
        if direct_body:
            refusal = direct_body_refusal()
            if refusal is not None:
                self._direct_body = False
                _warn_direct(f"{refusal}; reading bodies through httpx instead")
        self._sleep = sleep
        self._random = random
        self._clock = clock
        self._core: ResumeCore | None = None
        #: Why the last stream ended with a synthetic ``done`` (None when it ended normally).
        self.failure: Exception | None = None
        self._stop_url: str | None = None
        self._stop_headers: dict[str, str] = {}
        self._stopping = False
        self._reader: _Reader | None = None

    @property
    def state(self) -> StreamState:
        """The :class:`~agent_stream.state.StreamState` folded from the events yielded so far."""
        return _EMPTY if self._core is None else self._core.state

    @property
    def reconnects(self) -> int:
        """Reconnections made during the last stream."""
        return 0 if self._core is None else self._core.reconnects

    @property
    def stream_id(self) -> str | None:
        """The last stream's id, once the server named it."""
        return None if self._core is None else self._core.stream_id

    @property
    def invalid_events(self) -> list[ProtocolError]:
        """Events of the last stream skipped because their payload did not match their type."""
        return [] if self._core is None else self._core.invalid_events

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
        if self._core is not None:
            self._core.stop()
        response = await self._http.post(self._stop_url, headers=self._stop_headers)
        if response.status_code >= 400 and response.status_code != 404:
            # 404: the run is already over; the stream ends by itself
            raise _status_error(response, response.text)
        reader = self._reader
        if reader is not None:
            reader.limit(self.stop_grace_s)

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

    def _checked_url(self, url: str | httpx.URL) -> httpx.URL:
        # a URL no attempt can reach fails now, not after every retry (about 80 s of backoff)
        example = "an http(s) URL such as http://127.0.0.1:8000/api/chat"
        try:
            parsed = httpx.URL(url)
        except httpx.InvalidURL as exc:
            raise UsageError(f"stream() needs {example}: {exc}", code="invalid-url") from None
        relative_ok = not parsed.is_absolute_url and bool(self._http.base_url.host)
        if not relative_ok and (parsed.scheme not in ("http", "https") or not parsed.host):
            raise UsageError(
                f"stream() needs {example} (or a path, with an http_client that has a "
                f"base_url); got {str(url)[:200]!r}",
                code="invalid-url",
            )
        return parsed

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
        more, :class:`~agent_stream.errors.ProtocolError` for bytes that break the protocol
        (an event over ``max_event_bytes`` ends the stream with a synthetic ``done`` instead).
        Use it inside ``contextlib.aclosing`` when you may stop iterating early.
        """
        url = self._checked_url(url)
        base_headers = {"accept": "text/event-stream", "cache-control": "no-cache"}
        base_headers.update(headers or {})
        given_key = ""
        for name in [k for k in base_headers if k.lower() == "idempotency-key"]:
            given_key = base_headers.pop(name)
        core = self._core = ResumeCore(
            policy=self.retry,
            random=self._random,
            retry_statuses=self.retry_statuses,
            resume_with=self.resume_with,
            liveness_s=self.liveness_s,
            max_event_bytes=self.max_event_bytes,
            # one key per stream(): a re-send of the first request (no answer came) attaches
            # to the run it may have started instead of starting another
            idempotency_key=given_key or str(uuid.uuid4()),
        )
        self.failure = None
        self._stop_url = None
        self._stop_headers = {
            k: v
            for k, v in base_headers.items()
            if k.lower() not in ("accept", "cache-control", "idempotency-key")
        }
        self._stopping = False
        add_token, fold = core.add_token, core.fold
        while True:
            plan = core.request()
            request = self._request(plan, url, method, json, params, base_headers, core.liveness_s)
            action: Retry | GiveUp | None
            try:
                with anyio.fail_after(core.liveness_s):
                    response = await self._http.send(request, stream=True)
            except TimeoutError:
                action = core.lost("stalled", now_s=time.monotonic())
            except httpx.TransportError as exc:
                refused = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
                kind: LostKind = "connect" if refused else "network"
                action = core.lost(kind, exc, now_s=time.monotonic())
            else:
                try:
                    status = response.status_code
                    body = ""
                    if status >= 400:
                        body = (await response.aread()).decode("utf-8", "replace")
                    action = core.response(
                        status,
                        response.headers,
                        body=body,
                        method=request.method,
                        url=str(response.url),
                        reason_phrase=response.reason_phrase,
                        now_s=self._clock(),
                    )
                    reader = None
                    if action is None:
                        core.alive(time.monotonic())
                        reader = self._reader = _Reader(
                            self._open_body(response), request, core.liveness_s
                        )
                        if self._stopping:
                            reader.limit(self.stop_grace_s)
                    while reader is not None:
                        chunk = await reader.read()
                        if chunk is None:
                            action = core.lost("stalled", now_s=time.monotonic())
                            break
                        if not chunk:
                            action = core.lost("eof", now_s=time.monotonic())
                            break
                        core.alive(time.monotonic())
                        events = core.feed(chunk)
                        if core.stop_url is not None and self._stop_url is None:
                            self._stop_url = str(url.join(core.stop_url))
                        if reader.deadline_s != core.liveness_s and not self._stopping:
                            reader.deadline_s = core.liveness_s  # the start event's heartbeat
                        for event in events:
                            typed = event.event
                            if type(typed) is Token:
                                add_token(typed.text)
                            else:
                                fold(typed)
                            yield event
                        outcome = core.outcome
                        if outcome == "done":
                            await self._drain(reader)
                            return
                        if outcome is not None:
                            action = core.lost(outcome) if outcome == "reconnect" else outcome
                            break
                except httpx.TransportError as exc:
                    action = core.lost("network", exc, now_s=time.monotonic())
                finally:
                    self._reader = None
                    await response.aclose()
            if isinstance(action, Retry):
                if action.delay_s > 0:
                    await self._sleep(action.delay_s)
                continue
            assert action is not None
            self.failure = action.failure
            if core.report_url is not None and action.reason != "cancelled":
                # the user saw a broken stream: tell the server once (best effort)
                await send_report(
                    self._http,
                    str(url.join(core.report_url)),
                    self._stop_headers,
                    reason=action.code,
                    last_seq=core.max_seq,
                    attempts=core.failures,
                )
            if action.reason == "error" and action.failure is not None:
                if action.code != "event-too-large":  # the stream was fine up to that event
                    raise action.failure
                logger.info("stream ended: %s", action.failure)
            yield StreamEvent(action.done)
            return

    def _open_body(self, response: httpx.Response) -> Body:
        body = open_body(response, direct=self._direct_body)
        if self._direct_body and not isinstance(body, _NetworkBody):
            self._direct_body = False  # warn once, then read through httpx
            _warn_direct(
                f"the {response.http_version} response from {response.url} cannot be read "
                "directly (another transport, HTTP/2 or a content coding); reading bodies "
                "through httpx instead"
            )
        return body

    async def _drain(self, reader: _Reader) -> None:
        # the server ends the response right after done: read that end, so that httpx hands
        # the connection back to its pool for the next stream (keep-alive)
        reader.limit(_DRAIN_S)
        # the stream is whole: a connection broken now costs that connection, never a resume
        # (which would end in a second, synthetic done)
        with contextlib.suppress(httpx.TransportError):
            for _ in range(_DRAIN_READS):
                if not await reader.read():
                    return

    def _request(
        self,
        plan: RequestPlan,
        url: httpx.URL,
        method: str,
        json: object,
        params: Mapping[str, str | int | float] | None,
        base_headers: Mapping[str, str],
        liveness_s: float,
    ) -> httpx.Request:
        headers = dict(base_headers)
        timeout = self._timeout(liveness_s)
        if plan.last_event_id is None:
            if plan.idempotency_key is not None:
                headers["idempotency-key"] = plan.idempotency_key
        else:
            headers["last-event-id"] = plan.last_event_id
            if plan.resume_url is not None:
                target = url.join(plan.resume_url)
                return self._http.build_request("GET", target, headers=headers, timeout=timeout)
        return self._http.build_request(
            method, url, json=json, params=params, headers=headers, timeout=timeout
        )

    def _timeout(self, read_s: float) -> httpx.Timeout:
        # reads are bounded by the liveness deadline (pings keep a quiet stream alive)
        timeout = self._http.timeout
        return httpx.Timeout(
            connect=timeout.connect, read=read_s, write=timeout.write, pool=timeout.pool
        )


class _Reader:
    """A response body whose reads give up after ``deadline_s`` of silence (``None``).

    Over httpx's reader the deadline is httpx's read timeout, as the request was sent with it
    (httpcore applies it to every socket read of the body), so no timer is armed per HTTP
    chunk; a cancel scope per read takes over only while the deadline is shorter than that
    (the ``start`` event of a first response announced a short heartbeat, a stop, the drain
    after ``done``). A longer deadline keeps the request's: a server whose pings are further
    apart than that costs one early resume, whose request then carries the right timeout.
    The direct reader gets a cancel scope per read (one read holds many events).
    """

    __slots__ = ("_body", "_scope", "_sent_s", "deadline_s")

    def __init__(self, body: Body, request: httpx.Request, deadline_s: float) -> None:
        self._body = body
        self.deadline_s = deadline_s
        self._scope: anyio.CancelScope | None = None
        timeouts = request.extensions.get("timeout")
        sent = timeouts.get("read") if isinstance(timeouts, dict) else None
        direct = isinstance(body, _NetworkBody)
        self._sent_s: float | None = None if direct or sent is None else float(sent)

    def limit(self, seconds: float) -> None:
        """No read from now on waits longer than ``seconds`` (a stop, the drain after done)."""
        self.deadline_s = min(self.deadline_s, seconds)
        scope = self._scope
        if scope is not None:
            scope.deadline = min(scope.deadline, anyio.current_time() + seconds)

    async def read(self) -> bytes | None:
        sent_s = self._sent_s
        try:
            if sent_s is not None and self.deadline_s >= sent_s:
                return await self._body.read()
            scope = self._scope = anyio.CancelScope(deadline=anyio.current_time() + self.deadline_s)
            with scope:
                return await self._body.read()
            return None
        except httpx.ReadTimeout:
            return None
        finally:
            self._scope = None


_EMPTY = StreamState()
_DRAIN_S = 1.0
_DRAIN_READS = 8


def _default_http_client(*, merge_chunks: bool) -> httpx.AsyncClient:
    timeout = httpx.Timeout(10.0, read=None)
    proxies = getproxies()
    if not merge_chunks or any(proxies.get(scheme) for scheme in ("http", "https", "all")):
        # httpx routes through the environment's proxies (HTTP_PROXY, ...) with its own
        # transports only when given none
        return httpx.AsyncClient(timeout=timeout, follow_redirects=False)
    return httpx.AsyncClient(
        timeout=timeout, follow_redirects=False, transport=CoalescingTransport()
    )


def _warn_direct(message: str) -> None:
    warnings.warn(f"AgentStreamClient(direct_body=True): {message}", RuntimeWarning, stacklevel=3)


def _status_error(response: httpx.Response, body: str) -> HTTPStatusError:
    return HTTPStatusError(
        f"{response.request.method} {response.url} answered {response.status_code} "
        f"{response.reason_phrase}: {body[:200]!r}",
        status_code=response.status_code,
        body=body,
        headers=dict(response.headers),
        url=str(response.url),
    )
