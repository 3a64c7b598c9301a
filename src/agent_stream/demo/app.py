"""The demo app: the agent behind ``/api/chat``, resume and stop routes, the page.

Routes:

- ``POST /api/chat`` (JSON body of knobs) and ``GET /api/chat?knobs``: stream a demo run;
  the same request with ``Last-Event-ID`` resumes it. Knobs: ``message``, ``tokens``,
  ``token_delay_ms``, ``tools``, ``fail_after``, ``thinking``, ``input_required``, ``ask``,
  ``approve``, ``ask_timeout_s``.
- ``GET /api/streams/{id}`` (resume), ``POST /api/streams/{id}/stop`` and
  ``POST /api/streams/{id}/respond`` (answers to ``ask``/``approve``).
- ``POST /api/ag-ui`` (+ ``GET .../{thread_id}/stream``, ``POST .../{thread_id}/stop``) and
  ``POST /api/ai-sdk/chat`` (+ ``GET .../{id}/stream``, ``POST .../{id}/stop``): the same agent
  as AG-UI and as the AI SDK UI message stream (:mod:`agent_stream.demo.bridges`).
- ``GET /api/agent``: which agent answers ``/api/chat``: ``{"agent": "scripted"}``, or
  ``{"agent": "model", "provider", "model"}`` when ``ANTHROPIC_API_KEY`` or ``OPENAI_API_KEY``
  is set (:mod:`agent_stream.demo.model_agent`: a real model with a clock and a calculator;
  ``"agent": "scripted"`` in a request still runs the scripted agent).
- ``GET /healthz``: ``runs_started``, ``runs_active``, ``connections``, ``pid``, ``store``,
  ``agent``, ``refused`` (requests answered 4xx, by error code).
- ``GET /``: the built page (``demo/static/``, from ``js/demo``) or a placeholder that says how
  to build it (and still runs a stream).

Each stream is owned by its request's ``Authorization`` header value (any value, no auth
server). ``uvicorn --factory agent_stream.demo.app:create_app_from_env`` builds the app from
``AGENT_STREAM_*`` environment variables, which is how ``--workers N`` gets its config.
"""

from __future__ import annotations

import contextlib
import importlib
import os
from collections import Counter
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import TypeAlias

from .._extras import install_hint, missing_extra

try:
    import starlette as _starlette  # noqa: F401
except ImportError as exc:
    raise missing_extra("agent_stream.demo.app", exc, "cli") from exc

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from ..errors import AgentStreamError, UsageError
from ..recording import JsonlRecorder
from ..server import MemoryStore, Recorder, RecorderFunc, RunManager, StreamOptions, StreamStore
from ..server.cross_site import CrossSiteGuard
from ..server.request_body import error_response, read_json
from ..starlette import AgentStreamResponse, mount_stream_routes
from ..telemetry import Telemetry
from .agent import DemoOptions, demo_agent
from .bridges import bridge_routes
from .metrics import demo_metrics
from .model_agent import ModelAgent, model_agent_from_env

__all__ = ["STATIC_DIR", "create_app", "create_app_from_env", "owner_of"]

STATIC_DIR = Path(__file__).resolve().parent / "static"
_PLACEHOLDER = Path(__file__).resolve().parent / "placeholder.html"
_MAX_BODY_BYTES = 64 * 1024

RecorderOption: TypeAlias = Recorder | RecorderFunc | str | os.PathLike[str] | None


def owner_of(request: Request) -> str:
    """The demo's owner of a stream: the request's ``Authorization`` value (``""`` if none)."""
    return request.headers.get("authorization", "")


async def _knobs(request: Request, body_timeout_s: float) -> Mapping[str, object]:
    if request.method == "GET":
        return dict(request.query_params)
    knobs = await read_json(request, max_bytes=_MAX_BODY_BYTES, timeout_s=body_timeout_s)
    if knobs is None:
        return {}
    if not isinstance(knobs, dict):
        raise UsageError(
            f"request body is a JSON {type(knobs).__name__}, not an object of knobs such as "
            '{"message": "hi", "tokens": 50}',
            code="invalid-request",
        )
    return knobs


def _redis_store(url: str) -> StreamStore:
    try:
        module = importlib.import_module("agent_stream.server.redis")
    except ImportError as exc:
        raise UsageError(
            f"--redis needs the RedisStore ({exc}); install it with: {install_hint('redis')}",
            code="missing-extra",
        ) from None
    store_class = module.RedisStore
    factory = getattr(store_class, "from_url", None)
    store: StreamStore = factory(url) if factory is not None else store_class(url)
    return store


def _placeholder() -> Response:
    return HTMLResponse(_PLACEHOLDER.read_text("utf-8"))


def _agent_info(model_agent: ModelAgent | None) -> dict[str, str]:
    if model_agent is None:
        return {"agent": "scripted", "provider": "", "model": ""}
    return {"agent": "model", "provider": model_agent.provider, "model": model_agent.model}


def create_app(
    *,
    store: StreamStore | None = None,
    heartbeat_s: float = 15.0,
    resume_grace_s: float = 30.0,
    store_ttl_s: float = 300.0,
    redis_url: str | None = None,
    recorder: RecorderOption = None,
    static_dir: str | os.PathLike[str] | None = None,
    debug: bool = False,
    model_agent: ModelAgent | None = None,
    body_timeout_s: float = 10.0,
    allow_origins: Sequence[str] = (),
    telemetry: Telemetry | None = None,
) -> Starlette:
    """The demo app. ``recorder`` may be a path: a :class:`JsonlRecorder` the app closes.

    A request body must arrive whole within ``body_timeout_s`` (else 408) and be at most 64 KiB
    (else 413, refused while reading); ``/healthz`` counts refused requests by error code.
    ``/api/*`` refuses requests that other sites' pages make a browser send (403, see
    :class:`~agent_stream.server.cross_site.CrossSiteGuard`) unless their origin is in
    ``allow_origins``.

    With ``model_agent``, ``/api/chat`` runs that real model on the message (unless the request
    asks for ``"agent": "scripted"``); ``GET /api/agent`` says which agent answers.

    Without ``store``, a memory store keeps an ended stream ``store_ttl_s`` (with
    ``redis_url``, name it in the URL: ``?ttl_s=60``).

    Without ``telemetry`` the app makes its own, whose metrics ``GET /metrics`` serves as
    Prometheus text (extra ``[prometheus]``; 501 naming it when missing); with it, there is no
    ``/metrics`` (export the metrics your way).

    Example::

        uvicorn.run(create_app(heartbeat_s=5), port=8000)
    """
    if store is not None and redis_url is not None:
        raise UsageError("pass store= or redis_url=, not both", code="invalid-option")
    owned_store = store is None
    if store is None:
        store = _redis_store(redis_url) if redis_url else MemoryStore(ttl_s=store_ttl_s)
    owned_recorder: JsonlRecorder | None = None
    if isinstance(recorder, str | os.PathLike):
        owned_recorder = JsonlRecorder(recorder)
        recorder = owned_recorder
    metrics = demo_metrics() if telemetry is None else None
    manager = RunManager(
        store,
        options=StreamOptions(heartbeat_s=heartbeat_s, resume_grace_s=resume_grace_s, debug=debug),
        recorder=recorder,
        owner=owner_of,
        telemetry=telemetry if metrics is None else metrics.telemetry,
    )
    static = Path(static_dir) if static_dir is not None else STATIC_DIR
    bridged, bridge_stats, bridge_index = bridge_routes(manager, redis_url=redis_url)

    refused: Counter[str] = Counter()

    async def chat(request: Request) -> Response:
        try:
            knobs = await _knobs(request, body_timeout_s)
            options = DemoOptions.from_mapping(knobs)
        except AgentStreamError as exc:
            refused[exc.code] += 1
            return error_response(exc)
        if model_agent is not None and knobs.get("agent") != "scripted":
            source = model_agent.run(options.message, needs_approval=options.approve)
            return AgentStreamResponse(source, manager=manager)
        return AgentStreamResponse(demo_agent(options), manager=manager)

    async def agent_info(request: Request) -> Response:
        return JSONResponse(_agent_info(model_agent))

    async def healthz(request: Request) -> Response:
        return JSONResponse(
            {
                **manager.stats(),
                "bridge_agents_closed": bridge_stats.agents_closed,
                "agent": _agent_info(model_agent)["agent"],
                "pid": os.getpid(),
                "store": type(manager.store).__name__,
                "recording": str(owned_recorder.path) if owned_recorder else None,
                "refused": dict(refused),
            }
        )

    async def index(request: Request) -> Response:
        page = static / "index.html"
        if page.is_file():
            return FileResponse(page, headers={"Cache-Control": "no-cache"})
        return _placeholder()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            manager.shutdown()
            if owned_recorder is not None:
                await owned_recorder.aclose()
            if owned_store:
                await manager.store.aclose()
            aclose = getattr(bridge_index, "aclose", None)
            if aclose is not None:
                await aclose()
            if metrics is not None:
                metrics.shutdown()

    routes: list[BaseRoute] = [
        Route("/api/chat", chat, methods=["GET", "POST"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/api/agent", agent_info, methods=["GET"]),
        *([Route("/metrics", metrics.endpoint, methods=["GET"])] if metrics else []),
        *bridged,
        Route("/", index, methods=["GET"]),
    ]
    guard = Middleware(CrossSiteGuard, allow_origins=allow_origins)
    app = Starlette(routes=routes, lifespan=lifespan, debug=debug, middleware=[guard])
    app.state.demo_recorder = owned_recorder
    mount_stream_routes(app, manager, body_timeout_s=body_timeout_s)
    if static.is_dir():
        # the page's assets (vite writes them next to index.html); "/" itself is index()
        app.router.routes.append(Mount("/", StaticFiles(directory=static), name="static"))
    return app


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise UsageError(f"{name}={raw!r} is not a number", code="invalid-option") from None


def create_app_from_env() -> Starlette:
    """:func:`create_app` configured from the environment (for ``uvicorn --factory``).

    ``AGENT_STREAM_HEARTBEAT_S``, ``AGENT_STREAM_RESUME_GRACE_S``, ``AGENT_STREAM_STORE_TTL_S``,
    ``AGENT_STREAM_REDIS_URL``,
    ``AGENT_STREAM_RECORD`` (a ``.jsonl`` path), ``AGENT_STREAM_STATIC_DIR``,
    ``AGENT_STREAM_DEBUG=1``, ``AGENT_STREAM_BODY_TIMEOUT_S``, ``AGENT_STREAM_ALLOW_ORIGINS``
    (comma-separated); ``ANTHROPIC_API_KEY`` or ``OPENAI_API_KEY`` (and optionally
    ``AGENT_STREAM_MODEL``) switch ``/api/chat`` to a real model.
    """
    return create_app(
        model_agent=model_agent_from_env(os.environ),
        heartbeat_s=_env_float("AGENT_STREAM_HEARTBEAT_S", 15.0),
        resume_grace_s=_env_float("AGENT_STREAM_RESUME_GRACE_S", 30.0),
        store_ttl_s=_env_float("AGENT_STREAM_STORE_TTL_S", 300.0),
        redis_url=os.environ.get("AGENT_STREAM_REDIS_URL") or None,
        recorder=os.environ.get("AGENT_STREAM_RECORD") or None,
        static_dir=os.environ.get("AGENT_STREAM_STATIC_DIR") or None,
        debug=os.environ.get("AGENT_STREAM_DEBUG", "") in ("1", "true", "yes"),
        body_timeout_s=_env_float("AGENT_STREAM_BODY_TIMEOUT_S", 10.0),
        allow_origins=[
            origin.strip()
            for origin in os.environ.get("AGENT_STREAM_ALLOW_ORIGINS", "").split(",")
            if origin.strip()
        ],
    )
