"""``agent-stream replay FILE``: print a recording, or serve it as a real SSE endpoint.

Without ``--serve`` the events are printed (one line each: time, seq, type, data; ``--jsonl``
prints the recording's own lines, normalized to the current format). With ``--serve`` the
recording is streamed by ``GET|POST /api/chat[?stream=ID]`` at its recorded pace divided by
``--speed`` (``0``: as fast as possible), as a normal resumable agent-stream run with a fresh
stream id; ``GET /api/recording`` lists the streams of the file.
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from .._extras import install_hint
from ..errors import AgentStreamError
from ..recording import RecordedEvent, group_streams, read_recording
from . import port_number
from .incomplete import incomplete_note

if TYPE_CHECKING:
    from starlette.applications import Starlette

__all__ = ["add_arguments", "create_replay_app", "format_event", "run"]

_DATA_CHARS = 160


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help="a .jsonl recording (ours or the original's)")
    parser.add_argument("--stream", metavar="ID", help="only this stream (default: all / first)")
    parser.add_argument("--jsonl", action="store_true", help="print raw JSON lines")
    parser.add_argument("--serve", action="store_true", help="serve it as an SSE endpoint")
    parser.add_argument("--host", default="127.0.0.1", help="with --serve (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=port_number, default=8000, help="with --serve (default 8000)"
    )
    parser.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="with --serve: playback speed factor; 0 = as fast as possible (default 1)",
    )
    parser.add_argument("--heartbeat-s", type=float, default=15.0, help="with --serve (15)")


def format_event(event: RecordedEvent) -> str:
    """One human-readable line: time from the stream's start, seq, type, data (cut)."""
    data = event.data.decode("utf-8", "replace")
    if len(data) > _DATA_CHARS:
        data = data[: _DATA_CHARS - 1] + "…"
    return f"  {event.t_ms / 1000:>9.3f}s  #{event.seq:<6} {event.type:<14} {data}"


def _print(streams: dict[str, list[RecordedEvent]], jsonl: bool, out: TextIO) -> None:
    for stream_id, events in streams.items():
        if jsonl:
            for event in events:
                out.write(event.to_line().decode())
            continue
        span = events[-1].t_ms - events[0].t_ms if events else 0.0
        ends = next((e.type for e in reversed(events) if e.type == "done"), "no done")
        print(
            f"stream {stream_id}: {len(events)} events, {span / 1000:.3f} s, ends with {ends}",
            file=out,
        )
        for event in events:
            print(format_event(event), file=out)


def create_replay_app(
    streams: dict[str, list[RecordedEvent]],
    *,
    speed: float = 1.0,
    default_stream: str | None = None,
    heartbeat_s: float = 15.0,
) -> Starlette:
    """A Starlette app serving recorded streams as live agent-stream runs."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    from ..errors import ResumeError
    from ..framing import encode_frame_bytes
    from ..recording import replay
    from ..server import RunManager, StreamOptions
    from ..server._asgi import error_body, error_status
    from ..starlette import AgentStreamResponse, mount_stream_routes

    if not streams:
        raise ValueError("the recording holds no events")
    chosen = default_stream if default_stream is not None else next(iter(streams))
    manager = RunManager(
        options=StreamOptions(heartbeat_s=heartbeat_s),
        owner=lambda request: request.headers.get("authorization", ""),
    )

    async def frames(events: Sequence[RecordedEvent]) -> AsyncIterator[bytes]:
        # frames, not typed events: the recorded JSON goes out byte for byte
        async for event in replay(events, speed=speed):
            yield encode_frame_bytes(event.type, event.data)

    async def chat(request: Request) -> Response:
        stream_id = request.query_params.get("stream", chosen)
        events = streams.get(stream_id)
        if events is None:
            exc = ResumeError(
                f"the recording has no stream {stream_id!r}; see GET /api/recording",
                code="unknown-stream",
            )
            return Response(error_body(exc), error_status(exc), media_type="application/json")
        return AgentStreamResponse(frames(events), manager=manager)

    async def listing(request: Request) -> Response:
        return JSONResponse(
            {
                "default": chosen,
                "speed": speed,
                "streams": [
                    {"stream_id": sid, "events": len(evs), "duration_ms": evs[-1].t_ms}
                    for sid, evs in streams.items()
                ],
            }
        )

    async def healthz(request: Request) -> Response:
        return JSONResponse(manager.stats())

    app = Starlette(
        routes=[
            Route("/api/chat", chat, methods=["GET", "POST"]),
            Route("/api/recording", listing, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
        ]
    )
    mount_stream_routes(app, manager)
    return app


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    try:
        note = functools.partial(incomplete_note("replay"), args.file)
        streams = group_streams(read_recording(args.file, on_incomplete=note))
    except OSError as exc:
        print(f"agent-stream replay: cannot read {args.file}: {exc}", file=sys.stderr)
        return 2
    except AgentStreamError as exc:
        print(f"agent-stream replay: {args.file}: {exc}", file=sys.stderr)
        return 2
    if args.stream is not None:
        if args.stream not in streams:
            known = ", ".join(streams) or "none"
            print(
                f"agent-stream replay: no stream {args.stream!r} in {args.file} (streams: {known})",
                file=sys.stderr,
            )
            return 2
        streams = {args.stream: streams[args.stream]}
    if not streams:
        print(f"agent-stream replay: {args.file} holds no events", file=sys.stderr)
        return 1
    if not args.serve:
        _print(streams, args.jsonl, out)
        return 0
    if args.speed < 0:
        print("agent-stream replay: --speed must be >= 0", file=sys.stderr)
        return 2
    try:
        import uvicorn
    except ImportError as exc:
        print(
            f"agent-stream replay --serve needs {exc.name}: {install_hint('cli')}",
            file=sys.stderr,
        )
        return 2
    app = create_replay_app(streams, speed=args.speed, heartbeat_s=args.heartbeat_s)
    first = next(iter(streams))
    print(
        f"agent-stream replay: serving {len(streams)} stream(s) from {args.file} on "
        f"http://{args.host}:{args.port}/api/chat (stream {first}, speed {args.speed:g})",
        file=out,
        flush=True,
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")
    return 0
