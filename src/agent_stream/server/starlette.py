"""``AgentStreamResponse`` for Starlette and FastAPI, and the resume / stop routes.

Example::

    from agent_stream import Token
    from agent_stream.starlette import AgentStreamResponse, mount_stream_routes

    async def agent(text):
        for word in text.split():
            yield Token(text=word + " ")

    async def chat(request):
        body = await request.json()
        return AgentStreamResponse(agent(body["message"]))

    app = Starlette(routes=[Route("/api/chat", chat, methods=["POST"])])
    mount_stream_routes(app)   # GET /api/streams/{id} (resume), POST /api/streams/{id}/stop

The same request sent again with ``Last-Event-ID: <stream_id>:<seq>`` resumes the stream
instead of starting a new run.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, TypeAlias

import anyio
from starlette.background import BackgroundTask
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import Receive, Scope, Send

from ..emitter import new_stream_id
from ..errors import AgentStreamError, ResumeError, UsageError
from ..framing import FramingFactory, SSEFraming
from ._asgi import (
    body_writer,
    end_body,
    last_event_id,
    listen,
    require_asyncio,
    send_json_error,
    send_no_content,
    stop_listening,
    stream_headers,
)
from .connection import Connection, EndReason, start_event
from .manager import RunManager, StreamOptions, parse_cursor
from .observing import MAX_REPORT_BYTES, parse_client_report
from .request_body import error_response, read_json
from .respond_route import respond_route
from .run import (
    DisconnectPolicy,
    OversizePolicy,
    Recorder,
    RecorderFunc,
    Run,
    Source,
    report_failure,
)
from .store import StreamStore

__all__ = ["AgentStreamResponse", "Owner", "mount_stream_routes", "stream_routes"]

logger = logging.getLogger("agent_stream")

Owner: TypeAlias = str | Callable[[Request], str | Awaitable[str]]

_IDEMPOTENCY_KEY_MAX = 200
_NO_HEADERS: Mapping[str, str] = MappingProxyType({})


async def resolve_owner(owner: Owner | None, manager: RunManager, request: Request) -> str:
    """The owner string of a request: ``owner`` if given, else the manager's, else ``""``."""
    if owner is None:
        owner = manager.owner
    if owner is None:
        return ""
    if isinstance(owner, str):
        return owner
    value = owner(request)
    if inspect.isawaitable(value):
        value = await value
    return str(value)


async def _aclose(source: object) -> None:
    aclose = getattr(source, "aclose", None)
    if aclose is not None:
        await aclose()


class AgentStreamResponse(Response):
    """A resumable agent stream as a Starlette response.

    ``source`` is an async iterable of typed events or of frames from ``AgentStreamEmitter``.
    Options left as ``None`` come from the app's :class:`RunManager` (``app.state.agent_stream``,
    made on first use). With ``source=None`` the response only resumes (``last_event_id=`` or
    the request's ``Last-Event-ID``). ``framing`` makes the wire format from the stream id
    (default :class:`~agent_stream.framing.SSEFraming`; see :mod:`agent_stream.framing`). Also
    usable as FastAPI's ``response_class=`` for a path operation that yields events.
    """

    media_type = "text/event-stream"

    def __init__(
        self,
        source: Source | None = None,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
        background: BackgroundTask | None = None,
        *,
        content: Source | None = None,
        manager: RunManager | None = None,
        store: StreamStore | None = None,
        stream_id: str | None = None,
        owner: Owner | None = None,
        disconnect: DisconnectPolicy | None = None,
        resume_grace_s: float | None = None,
        heartbeat_s: float | None = None,
        retry_ms: int | None = None,
        send_timeout_s: float | None = None,
        recorder: Recorder | RecorderFunc | None = None,
        debug: bool | None = None,
        max_event_bytes: int | None = None,
        oversize: OversizePolicy | None = None,
        last_event_id: str | None = None,
        framing: FramingFactory | None = None,
    ) -> None:
        self.source = source if source is not None else content
        self.status_code = status_code
        self.background = background
        self.extra_headers: Mapping[str, str] = dict(headers) if headers else _NO_HEADERS
        self.manager = manager
        self.store = store
        self.stream_id = stream_id
        self.owner = owner
        self.recorder = recorder
        self.last_event_id = last_event_id
        self.framing = framing
        overrides: dict[str, Any] = {
            "disconnect": disconnect,
            "resume_grace_s": resume_grace_s,
            "heartbeat_s": heartbeat_s,
            "retry_ms": retry_ms,
            "send_timeout_s": send_timeout_s,
            "debug": debug,
            "max_event_bytes": max_event_bytes,
            "oversize": oversize,
        }
        # Only what was given: a response lives as long as its stream, keep it small.
        given = {k: v for k, v in overrides.items() if v is not None}
        self._overrides: Mapping[str, Any] = given or _NO_HEADERS
        self.init_headers(self.extra_headers)
        StreamOptions().merged(**self._overrides)  # validate early, where the caller is

    def render(self, content: Any) -> bytes:
        return b""

    def _manager(self, scope: Scope) -> RunManager:
        if self.manager is not None:
            return self.manager
        app = scope.get("app")
        if (
            self.store is not None
            and getattr(getattr(app, "state", None), "agent_stream", None) is None
        ):
            return RunManager.for_app(app, store=self.store)  # made with it: nothing changes
        manager = RunManager.for_app(app)
        if self.store is not None and manager.store is not self.store:
            # never swap a manager's store: its runs and resumes would read another one
            raise UsageError(
                "store= differs from the store of this app's RunManager; make one "
                "RunManager(store) and pass manager= (or set app.state.agent_stream)",
                code="store-mismatch",
            )
        return manager

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # The stream is served from this frame (not from helpers it awaits): an idle stream
        # holds every frame of its task, so the fewer the better.
        require_asyncio()
        manager = self._manager(scope)
        try:
            opened = await self._open(manager, scope, receive, send)
            if opened is None:
                return
            stream_id, cursor, resumed, run, options, is_live = opened
            del opened
            framing = (self.framing or SSEFraming)(stream_id)
            # name the resume and stop URLs only where a route answers them
            has_urls = _has_stream_routes(manager, scope)
            await send(
                {
                    "type": "http.response.start",
                    "status": self.status_code,
                    "headers": stream_headers(
                        manager,
                        stream_id,
                        self.extra_headers,
                        media_type=framing.media_type,
                        resume_url=has_urls,
                    ),
                }
            )
            connection = Connection(manager, stream_id, cursor, options, framing, resumed=resumed)
            if run is not None:
                # The run drives itself in a task of its own and a grace period is a timer,
                # so this response ends with its connection.
                task = asyncio.get_running_loop().create_task(run.drive(), name="agent-stream run")
                task.add_done_callback(report_failure)
                del run, task
            # a reader in any process counts for the run's disconnect policy
            detach = manager.store.attach(stream_id) if is_live else None
            try:
                listen(receive, connection)
                start = start_event(manager, stream_id, options, resumed=resumed, urls=has_urls)
                # The connection pumps in a task of its own: a wake-up per event then resumes
                # its two frames, not also every middleware frame above this one.
                pump = asyncio.get_running_loop().create_task(
                    connection.pump(
                        body_writer(send),
                        framing.open(start, cursor=cursor, retry_ms=options.retry_ms),
                    ),
                    name="agent-stream connection",
                )
                del start
                try:
                    reason: EndReason = await pump
                except (OSError, ClientDisconnect):
                    reason = "disconnected"
                finally:
                    stop_listening(connection)
                if detach is not None:  # it reads no more, however long ending its body takes
                    detach()
                    detach = None
                await end_body(send, reason, stalled_wait_s=options.send_timeout_s)
            finally:
                if detach is not None:
                    detach()
        finally:
            if self.background is not None:
                await self.background()

    async def _open(
        self, manager: RunManager, scope: Scope, receive: Receive, send: Send
    ) -> tuple[str, int, bool, Run | None, StreamOptions, bool] | None:
        """Resolve the request: (stream id, cursor, resumed, new run, options, whether the
        stream is live), or None once an error was answered."""
        request = Request(scope, receive)
        options = manager.options.merged(**self._overrides)
        source = self.source
        run: Run | None = None
        try:
            owner = await resolve_owner(self.owner, manager, request)
            cursor_text = self.last_event_id
            if cursor_text is None:
                cursor_text = last_event_id(request.headers)  # even blank: a resume
            if cursor_text is not None:
                stream_id, cursor = parse_cursor(cursor_text)
                if self.stream_id is not None and stream_id != self.stream_id:
                    raise ResumeError(
                        f"Last-Event-ID names stream {stream_id!r}, not {self.stream_id!r}",
                        code="malformed-id",
                    )
                info = await manager.check_resume(stream_id, cursor, owner)
                if info.is_done and cursor >= info.last_seq:
                    # nothing after the cursor, ever: 204 tells an EventSource to stop
                    await send_no_content(send)
                    return None
                resumed, is_live = True, not info.is_done
            else:
                if source is None:
                    raise UsageError(
                        "nothing to stream: no source and no Last-Event-ID to resume",
                        code="invalid-request",
                    )
                stream_id, cursor, resumed, run = await self._start(
                    manager, request, source, owner, options
                )
                is_live = True
        except AgentStreamError as exc:
            if run is None and source is not None:
                await _aclose(source)
            await send_json_error(send, exc)
            return None
        if run is None and source is not None:
            # A resume or a retried start never runs the new request's agent.
            await _aclose(source)
        return stream_id, cursor, resumed, run, options, is_live

    async def _start(
        self,
        manager: RunManager,
        request: Request,
        source: Source,
        owner: str,
        options: StreamOptions,
    ) -> tuple[str, int, bool, Run | None]:
        stream_id = self.stream_id or new_stream_id()
        key = request.headers.get("idempotency-key")
        if key:
            if len(key) > _IDEMPOTENCY_KEY_MAX:
                raise UsageError(
                    f"Idempotency-Key is longer than {_IDEMPOTENCY_KEY_MAX} characters",
                    code="invalid-request",
                )
            bound = await manager.claim_idempotency_key(
                key, owner, stream_id, ttl_s=options.idempotency_ttl_s
            )
            if bound != stream_id:
                if not await self._await_created(manager, bound):
                    # The first attempt bound the key but never created its stream (its
                    # process died in between, or the store refused the create): create it
                    # here. Creating is atomic, so if that attempt creates it after all,
                    # exactly one of the two runs the agent and the other resumes.
                    try:
                        run = await manager.start(
                            source,
                            owner=owner,
                            stream_id=bound,
                            options=options,
                            recorder=self.recorder,
                        )
                    except UsageError as exc:
                        if exc.code != "stream-exists":
                            raise
                    else:
                        return bound, 0, False, run
                await manager.check_resume(bound, 0, owner)
                return bound, 0, True, None
        run = await manager.start(
            source,
            owner=owner,
            stream_id=stream_id,
            options=options,
            recorder=self.recorder,
        )
        return stream_id, 0, False, run

    @staticmethod
    async def _await_created(manager: RunManager, stream_id: str) -> bool:
        # The first request holding an Idempotency-Key binds it just before creating its
        # stream; a retry racing it waits (bounded) for that stream to appear.
        with anyio.move_on_after(2.0):
            # another process may be the creator, so there is no local event to wait on
            while await manager.store.info(stream_id) is None:  # noqa: ASYNC110
                await anyio.sleep(0.02)
            return True
        return False


def _has_stream_routes(manager: RunManager, scope: Scope) -> bool:
    if manager.serves_stream_routes:
        return True
    if serves_stream_routes(scope.get("app"), manager.routes_prefix):
        manager.serves_stream_routes = True
        return True
    if not manager.warned_no_stream_routes:
        manager.warned_no_stream_routes = True
        logger.warning(
            "no stream routes at %s/streams/{stream_id}: responses name no resume or stop URL "
            "(clients resume by sending the same request with Last-Event-ID); call "
            "mount_stream_routes(app) to serve them",
            manager.routes_prefix,
        )
    return False


class _StreamRoute(Route):
    """A route of :func:`stream_routes`: what a response looks for before naming its URLs."""


def serves_stream_routes(app: object, prefix: str) -> bool:
    """True when ``app`` routes ``{prefix}/streams/{stream_id}`` to :func:`stream_routes`'
    resume endpoint (at any depth of mounts)."""
    wanted = f"{prefix}/streams/{{stream_id}}"

    def found(routes: Sequence[BaseRoute], base: str) -> bool:
        for route in routes:
            if isinstance(route, _StreamRoute):
                if base + route.path == wanted:
                    return True
            elif isinstance(route, Mount) and found(route.routes, base + route.path):
                return True
        return False

    router = getattr(app, "router", None)
    return found(getattr(router, "routes", ()), "")


def stream_routes(
    manager: RunManager | None = None,
    *,
    prefix: str | None = None,
    owner: Owner | None = None,
    body_timeout_s: float | None = 10.0,
) -> list[BaseRoute]:
    """``GET {prefix}/streams/{stream_id}`` (resume), ``POST .../stop`` and ``POST .../respond``
    (answers to ``input_required``, :mod:`agent_stream.server.respond`) as Starlette routes.

    Resume takes the cursor from ``Last-Event-ID`` or ``?last_event_id=``; without either it
    replays from the start. Stop reaches the run in whichever process produces it and answers
    ``{"stopped": true, "outcome": "stopped"}`` once delivered, ``{"stopped": false}`` with
    ``outcome`` ``"ended"`` (it had ended) or ``"interrupted"`` (its process was gone); an
    unknown or foreign stream gets 404, a stop that could not be delivered 503. The bodies of
    respond and report must arrive within ``body_timeout_s`` (else 408).
    """
    base = (prefix if prefix is not None else manager.routes_prefix if manager else "/api").rstrip(
        "/"
    )

    def manager_of(request: Request) -> RunManager:
        return manager if manager is not None else RunManager.for_app(request.app)

    async def resume(request: Request) -> Response:
        stream_id = request.path_params["stream_id"]
        cursor = request.headers.get("last-event-id") or request.query_params.get("last_event_id")
        if cursor is None or not cursor.strip():
            cursor = f"{stream_id}:0"
        return AgentStreamResponse(
            None,
            manager=manager_of(request),
            owner=owner,
            stream_id=stream_id,
            last_event_id=cursor,
        )

    async def stop(request: Request) -> Response:
        active = manager_of(request)
        stream_id = request.path_params["stream_id"]
        try:
            who = await resolve_owner(owner, active, request)
            outcome = await active.stop_outcome(stream_id, who)
        except AgentStreamError as exc:
            return error_response(exc)
        return JSONResponse({"stopped": outcome == "stopped", "outcome": outcome})

    async def report(request: Request) -> Response:
        active = manager_of(request)
        stream_id = request.path_params["stream_id"]
        try:
            body = await read_json(
                request, max_bytes=MAX_REPORT_BYTES, max_depth=2, timeout_s=body_timeout_s
            )
            who = await resolve_owner(owner, active, request)
            await active.client_report(stream_id, who, parse_client_report(body))
        except AgentStreamError as exc:
            return error_response(exc)
        return Response(status_code=204)

    return [
        _StreamRoute(f"{base}/streams/{{stream_id}}", resume, methods=["GET"]),
        _StreamRoute(f"{base}/streams/{{stream_id}}/stop", stop, methods=["POST"]),
        _StreamRoute(f"{base}/streams/{{stream_id}}/report", report, methods=["POST"]),
        respond_route(
            f"{base}/streams/{{stream_id}}/respond",
            manager_of,
            lambda request: resolve_owner(owner, manager_of(request), request),
            body_timeout_s=body_timeout_s,
        ),
    ]


def mount_stream_routes(
    app: Any,
    manager: RunManager | None = None,
    *,
    owner: Owner | None = None,
    body_timeout_s: float | None = 10.0,
) -> RunManager:
    """Add the resume, stop and respond routes to a Starlette/FastAPI ``app``; returns its
    manager. ``body_timeout_s`` bounds the read of a respond or report body (408 after it).

    Without ``manager`` the app's manager (``app.state.agent_stream``) is used or made. The
    app's lifespan then also installs the manager's signal handlers at startup
    (:meth:`~agent_stream.server.RunManager.install_signal_handlers`), so open streams get
    ``reconnect`` when the server is told to stop.
    """
    if manager is None:
        manager = RunManager.for_app(app)
    else:
        app.state.agent_stream = manager
    if owner is not None and manager.owner is None:
        manager.owner = owner
    app.router.routes.extend(stream_routes(manager, owner=owner, body_timeout_s=body_timeout_s))
    _install_signal_handlers_at_startup(app.router, manager)
    return manager


def _install_signal_handlers_at_startup(router: Any, manager: RunManager) -> None:
    inner = router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[Any]:
        manager.install_signal_handlers()
        async with inner(app) as state:
            yield state

    router.lifespan_context = lifespan
