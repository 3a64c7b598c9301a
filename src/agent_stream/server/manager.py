"""``RunManager``: the per-app registry of runs, their options, resume checks and shutdown.

One manager per app (never module-global): it holds the store, the defaults every response
uses, the runs this process is producing, idempotency keys and the open connections that get a
``reconnect`` frame at shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import signal
import threading
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from types import FrameType
from typing import TYPE_CHECKING, Any

import anyio

from ..emitter import check_stream_id, new_stream_id, parse_event_id
from ..errors import ResumeError, UsageError, truncate
from ..events import DEFAULT_MAX_EVENT_BYTES
from .memory import MemoryStore
from .observing import ClientReport, NoteRecorder, note_client_report
from .questions import RunContext, RunSource
from .run import (
    MIN_MAX_EVENT_BYTES,
    DisconnectPolicy,
    OversizePolicy,
    Recorder,
    RecorderFunc,
    Run,
    Source,
    recorder_callable,
)
from .store import (
    OwnerCheckingStore,
    StopOutcome,
    StreamInfo,
    StreamStore,
    check_cursor,
    wait_done,
)

if TYPE_CHECKING:
    from ..telemetry import Telemetry
    from .connection import Connection, Heartbeats
    from .question_board import QuestionBoard

__all__ = ["RunManager", "StreamOptions", "owner_key", "parse_cursor"]

logger = logging.getLogger("agent_stream")

_MAX_ID_CHARS = 200


def owner_key(owner: str) -> str:
    """What a store keeps of an owner: a fixed-size digest (64 hex chars; ``""`` stays ``""``).

    An owner may be a whole credential (the demo's is the ``Authorization`` value): stored as
    is, it would be kept, outside the store's byte limits, for as long as the stream.
    """
    if not owner:
        return ""
    return hashlib.sha256(owner.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True, slots=True)
class StreamOptions:
    """Per-stream behaviour; a manager holds the defaults, a response may override them.

    ``max_event_bytes`` bounds an event's data (its JSON, in UTF-8 bytes); ``start`` announces
    it. A larger event is never stored or sent: an ``error`` event (``error_type``
    ``"event-too-large"``, with the refused event's type and size) takes its place, and with
    ``oversize="end"`` (the default) the run ends there (its agent is closed, ``done{reason:
    "error"}`` follows); with ``"continue"`` it goes on without the event.
    """

    disconnect: DisconnectPolicy = "grace"
    resume_grace_s: float = 30.0
    heartbeat_s: float = 15.0
    retry_ms: int = 1000
    send_timeout_s: float = 30.0
    debug: bool = False
    idempotency_ttl_s: float = 600.0
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES
    oversize: OversizePolicy = "end"

    def __post_init__(self) -> None:
        if self.disconnect not in ("cancel", "detach", "grace"):
            raise UsageError(
                f"disconnect={self.disconnect!r}; use 'cancel', 'detach' or 'grace'",
                code="invalid-option",
            )
        if self.oversize not in ("end", "continue"):
            raise UsageError(
                f"oversize={self.oversize!r}; use 'end' or 'continue'", code="invalid-option"
            )
        if not isinstance(self.max_event_bytes, int) or self.max_event_bytes < MIN_MAX_EVENT_BYTES:
            raise UsageError(
                f"max_event_bytes={self.max_event_bytes!r}; use an int >= {MIN_MAX_EVENT_BYTES} "
                "(the error event that replaces a larger event must fit)",
                code="invalid-option",
            )
        if self.heartbeat_s <= 0 or self.send_timeout_s <= 0 or self.resume_grace_s < 0:
            raise UsageError(
                "heartbeat_s and send_timeout_s must be > 0, resume_grace_s >= 0",
                code="invalid-option",
            )

    def merged(self, **overrides: Any) -> StreamOptions:
        """These options with the non-``None`` ``overrides`` applied."""
        changes = {k: v for k, v in overrides.items() if v is not None}
        return replace(self, **changes) if changes else self


def parse_cursor(value: str) -> tuple[str, int]:
    """A ``Last-Event-ID`` value -> (stream id, seq); ResumeError ``malformed-id`` otherwise."""
    parsed = parse_event_id(value) if len(value) <= _MAX_ID_CHARS else None
    if parsed is None:
        raise ResumeError(
            f"Last-Event-ID {truncate(value, 60)} is not of the form <stream_id>:<seq>; "
            "send the id of the last event received",
            code="malformed-id",
        )
    return parsed


class RunManager:
    """Runs, resume checks and shutdown for one app.

    ``owner`` is the default owner of a request's stream: a string, or a callable given the
    framework's request (e.g. ``lambda request: request.headers.get("authorization", "")``).

    ``routes_prefix`` is where :func:`~agent_stream.server.starlette.stream_routes` are mounted;
    it makes the ``resume_url`` / ``stop_url`` each stream announces (only when a response finds
    those routes in its app: an URL nobody serves is never advertised).

    ``telemetry`` (:class:`~agent_stream.telemetry.Telemetry`) traces runs, tool calls and
    connections and keeps their metrics; a ``recorder`` with ``record_note`` (``JsonlRecorder``)
    also notes each connection's end and each client report.
    """

    def __init__(
        self,
        store: StreamStore | None = None,
        *,
        options: StreamOptions | None = None,
        recorder: Recorder | RecorderFunc | None = None,
        routes_prefix: str = "/api",
        owner: str | Callable[[Any], str | Awaitable[str]] | None = None,
        handle_signals: bool = True,
        telemetry: Telemetry | None = None,
    ) -> None:
        self.store: StreamStore = store if store is not None else MemoryStore()
        self.options = options or StreamOptions()
        self.recorder = recorder_callable(recorder)
        self.note_recorder: NoteRecorder | None = (
            recorder if isinstance(recorder, NoteRecorder) else None
        )
        self.telemetry = telemetry
        self.routes_prefix = routes_prefix.rstrip("/")
        self.handle_signals = handle_signals
        self.owner = owner
        self.runs: dict[str, Run] = {}
        self.connections: set[Connection] = set()
        self.heartbeats: Heartbeats | None = None  # made by the first connection (asyncio)
        self.runs_started = 0
        self.client_reports = 0
        self.questions: QuestionBoard | None = None  # made on first use (questions.py)
        self.is_shutting_down = False
        # True once a response found stream_routes mounted at routes_prefix (starlette.py)
        self.serves_stream_routes = False
        self.warned_no_stream_routes = False
        self._signals_installed = False

    def resume_path(self, stream_id: str) -> str:
        return f"{self.routes_prefix}/streams/{stream_id}"

    def stop_path(self, stream_id: str) -> str:
        return f"{self.routes_prefix}/streams/{stream_id}/stop"

    def report_path(self, stream_id: str) -> str:
        return f"{self.routes_prefix}/streams/{stream_id}/report"

    async def client_report(self, stream_id: str, owner: str, report: ClientReport) -> None:
        """A client ended ``stream_id`` with a synthetic ``done``: count, log and record it.

        Raises ResumeError ``unknown-stream`` for an unknown or foreign stream.
        """
        await self.check_resume(stream_id, 0, owner)
        note_client_report(self, stream_id, report)

    def stats(self) -> dict[str, int]:
        """Counters for a health endpoint."""
        return {
            "runs_started": self.runs_started,
            "runs_active": len(self.runs),
            "connections": len(self.connections),
            "client_reports": self.client_reports,
        }

    async def start(
        self,
        source: Source,
        *,
        owner: str = "",
        stream_id: str | None = None,
        options: StreamOptions | None = None,
        recorder: Recorder | RecorderFunc | None = None,
        meta: dict[str, str] | None = None,
    ) -> Run:
        """Register a new run of ``source``; the caller must ``await run.drive()`` (in a task)."""
        if self.is_shutting_down:
            raise UsageError("the server is shutting down", code="shutting-down")
        stream_id = check_stream_id(stream_id) if stream_id is not None else new_stream_id()
        opts = options or self.options
        with self._store_call("create"):
            await self.store.create(stream_id, owner=owner_key(owner), meta=meta)
        with_context = RunSource(source)  # ask()/approve()/current_run() reach the run
        run = Run(
            stream_id,
            with_context,
            self.store,
            disconnect=opts.disconnect,
            resume_grace_s=opts.resume_grace_s,
            max_event_bytes=opts.max_event_bytes,
            oversize=opts.oversize,
            recorder=recorder_callable(recorder) if recorder is not None else self.recorder,
            debug=opts.debug,
            on_finish=self._forget,
            observer=self.telemetry.run_started(stream_id, owner=owner)
            if self.telemetry is not None
            else None,
        )
        with_context.context = RunContext(run, self)
        self.runs[stream_id] = run
        self.runs_started += 1
        return run

    def _store_call(self, operation: str) -> AbstractContextManager[None]:
        if self.telemetry is None:
            return contextlib.nullcontext()
        return self.telemetry.store_call(operation)

    def _forget(self, run: Run) -> None:
        if self.runs.get(run.stream_id) is run:
            del self.runs[run.stream_id]

    async def claim_idempotency_key(
        self, key: str, owner: str, stream_id: str, *, ttl_s: float
    ) -> str:
        """Bind (owner, key) to ``stream_id`` unless bound; the stream id it is bound to.

        An anonymous owner (``""``) binds nothing and gets ``stream_id`` back: anonymous
        requesters share that owner, and a key alone (which another requester may know or
        guess) must never hand out someone else's stream. Only the stream id, 128 random bits
        that only its requester was sent, gives access to an anonymous stream (PROTOCOL 5.2).
        """
        if not owner:
            return stream_id
        digest = hashlib.sha256(f"{owner}\0{key}".encode("utf-8", "replace")).hexdigest()
        return await self.store.bind_key(f"idem:{digest}", stream_id, ttl_s=ttl_s)

    async def owned_info(self, stream_id: str, owner: str) -> StreamInfo | None:
        """The stream if ``owner`` owns it; ``None`` when unknown, expired or another owner's.

        Both ``None`` cases do the same work: a store that checks owners itself
        (:class:`~agent_stream.server.store.OwnerCheckingStore`, RedisStore) answers both with
        one identical reply; otherwise the digests are compared in constant time.
        """
        digest = owner_key(owner)
        store = self.store
        with self._store_call("info"):
            if isinstance(store, OwnerCheckingStore):
                return await store.owned_info(stream_id, digest)
            info = await store.info(stream_id)
        if info is None or not hmac.compare_digest(info.owner, digest):
            return None
        return info

    async def check_resume(self, stream_id: str, seq: int, owner: str) -> StreamInfo:
        """The stream a resume at ``<stream_id>:<seq>`` may read, or ResumeError.

        Another owner's stream gets the same answer as an unknown one (no existence oracle).
        """
        info = await self.owned_info(stream_id, owner)
        if info is None:
            raise ResumeError(
                f"no stream {stream_id!r} here: unknown, expired or not yours; start a new run",
                code="unknown-stream",
                last_event_id=f"{stream_id}:{seq}",
            )
        check_cursor(stream_id, seq, last_seq=info.last_seq, earliest_seq=info.earliest_seq)
        return info

    async def stop(self, stream_id: str, owner: str, *, timeout_s: float = 5.0) -> bool:
        """Cancel the run now, wherever it runs (its partial output stays; it ends with
        ``done{cancelled}``); False when it had already ended. See :meth:`stop_outcome`."""
        return await self.stop_outcome(stream_id, owner, timeout_s=timeout_s) == "stopped"

    async def stop_outcome(
        self, stream_id: str, owner: str, *, timeout_s: float = 5.0
    ) -> StopOutcome:
        """Cancel the run now, wherever it runs: what the stop achieved.

        ``"stopped"`` once its producer acknowledged the stop and (within ``timeout_s``) the
        run's ``done`` is stored; ``"ended"`` when it had already ended; ``"interrupted"``
        when its producer was gone (the stream now ends interrupted). Raises ResumeError
        ``unknown-stream`` for an unknown or foreign stream, StoreUnavailableError when the
        store or the producer cannot be reached in time.
        """
        info = await self.check_resume(stream_id, 0, owner)
        if info.is_done:
            return "ended"
        deadline = anyio.current_time() + timeout_s
        with self._store_call("stop"):
            outcome = await self.store.request_stop(stream_id, timeout_s=timeout_s)
        if outcome != "stopped":
            return outcome
        # the stop is delivered; its done is awaited, not required (a trimmed or expired
        # stream has ended too)
        with (
            anyio.move_on_after(max(0.0, deadline - anyio.current_time())),
            contextlib.suppress(ResumeError),
        ):
            run = self.runs.get(stream_id)
            if run is not None:
                await run.wait_finished()
            else:
                await wait_done(self.store, stream_id, info.last_seq)
        return outcome

    # Graceful shutdown

    def install_signal_handlers(self) -> None:
        """Chain SIGTERM/SIGINT so open streams get ``reconnect`` before the server drains.

        Call it at startup, from the app's lifespan (``mount_stream_routes`` does), on asyncio
        in the main thread (elsewhere it does nothing); never from a request. Servers usually
        wait for open responses before running the lifespan *shutdown*, which endless streams
        never end, so that is too late: the signal is what starts :meth:`shutdown`.
        """
        if self._signals_installed or not self.handle_signals:
            return
        self._signals_installed = True
        if threading.current_thread() is not threading.main_thread():
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous = signal.getsignal(sig)

            def handler(signum: int, frame: FrameType | None, previous: Any = previous) -> None:
                loop.call_soon_threadsafe(self.shutdown)
                if callable(previous):
                    previous(signum, frame)
                elif previous == signal.SIG_DFL and signum == signal.SIGINT:
                    raise KeyboardInterrupt

            signal.signal(sig, handler)

    def shutdown(self) -> None:
        """Tell every open connection to send ``reconnect`` and close; cancel local runs.

        Runs end with ``done{reason: "interrupted"}`` (in a shared store, a resumer on another
        process then sees a proper end).
        """
        if self.is_shutting_down:
            return
        self.is_shutting_down = True
        logger.info(
            "agent-stream shutting down: %d connection(s), %d run(s)",
            len(self.connections),
            len(self.runs),
        )
        for connection in list(self.connections):
            connection.interrupt()
        for run in list(self.runs.values()):
            run.cancel("interrupted")

    @classmethod
    def for_app(cls, app: object, **kwargs: Any) -> RunManager:
        """The manager stored on ``app.state`` (a Starlette/FastAPI app), made on first use."""
        state = getattr(app, "state", None)
        if state is None:
            raise UsageError(
                "no app with a .state in the ASGI scope; pass manager=RunManager(...) explicitly",
                code="no-manager",
            )
        manager = getattr(state, "agent_stream", None)
        if manager is None:
            manager = cls(**kwargs)
            state.agent_stream = manager
        elif kwargs:
            raise UsageError(
                "this app already has an agent-stream RunManager; configure it once",
                code="manager-exists",
            )
        if not isinstance(manager, RunManager):
            raise UsageError("app.state.agent_stream is not a RunManager", code="no-manager")
        return manager
