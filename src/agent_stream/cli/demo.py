"""``agent-stream demo``: serve the demo agent and its page under uvicorn.

The app is built by ``agent_stream.demo.app:create_app_from_env`` from ``AGENT_STREAM_*``
environment variables set here, so ``--workers N`` (which needs an import string) gets the same
configuration in every worker.
"""

from __future__ import annotations

import argparse
import os
import sys

from .._extras import install_hint
from . import port_number

__all__ = ["add_arguments", "run"]

APP = "agent_stream.demo.app:create_app_from_env"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1)")
    parser.add_argument("--port", type=port_number, default=8000, help="port (default 8000)")
    parser.add_argument(
        "--heartbeat-s", type=float, default=15.0, help="': ping' interval while idle (15)"
    )
    parser.add_argument(
        "--resume-grace-s",
        type=float,
        default=30.0,
        help="how long a run outlives its dropped client, waiting for a resume (30)",
    )
    parser.add_argument(
        "--store-ttl-s",
        type=float,
        default=300.0,
        help="how long the memory store keeps an ended stream for resumes (300; "
        "with --redis put ?ttl_s= in the URL)",
    )
    parser.add_argument("--redis", metavar="URL", help="share streams through Redis at URL")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes (1)")
    parser.add_argument("--record", metavar="FILE", help="append every event to FILE (.jsonl)")
    parser.add_argument("--debug", action="store_true", help="tracebacks in error events")
    parser.add_argument(
        "--head-timeout-s",
        type=float,
        default=10.0,
        help="close a connection whose request head is not whole this long after it began (10)",
    )
    parser.add_argument(
        "--body-timeout-s",
        type=float,
        default=10.0,
        help="answer 408 to a request body not whole this long after its head (10)",
    )
    parser.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="let pages of ORIGIN (scheme://host[:port]) call /api/* (repeatable; "
        "other sites' pages get 403)",
    )
    parser.add_argument(
        "--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"]
    )


def run(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        import agent_stream.demo.app  # noqa: F401  (fail here, with the fix, not in a worker)
        from agent_stream.server.uvicorn_deadlines import RequestDeadlineProtocol
    except ImportError as exc:
        print(
            f"agent-stream demo needs {exc.name}: {install_hint('cli')}",
            file=sys.stderr,
        )
        return 2
    from agent_stream.demo.model_agent import model_agent_from_env
    from agent_stream.errors import UsageError

    try:
        # a provider key whose SDK is missing fails here, said once, not as a worker's traceback
        model_agent_from_env(os.environ)
    except UsageError as exc:
        print(f"agent-stream demo: {exc}", file=sys.stderr)
        return 2
    if args.redis:
        # checked here: in the app factory it would fail in every worker, with a traceback
        try:
            import redis.asyncio  # noqa: F401
        except ImportError as exc:
            print(
                f"agent-stream demo --redis needs {exc.name}: {install_hint('redis')}",
                file=sys.stderr,
            )
            return 2
    if args.workers < 1:
        print("agent-stream demo: --workers must be at least 1", file=sys.stderr)
        return 2
    if args.workers > 1 and not args.redis:
        print(
            "agent-stream demo: with --workers > 1 and no --redis, a resume that lands on "
            "another worker gets 404 (each worker keeps its own memory store)",
            file=sys.stderr,
        )
    env = {
        "AGENT_STREAM_HEARTBEAT_S": str(args.heartbeat_s),
        "AGENT_STREAM_RESUME_GRACE_S": str(args.resume_grace_s),
        "AGENT_STREAM_STORE_TTL_S": str(args.store_ttl_s),
        "AGENT_STREAM_REDIS_URL": args.redis or "",
        "AGENT_STREAM_RECORD": os.path.abspath(args.record) if args.record else "",
        "AGENT_STREAM_DEBUG": "1" if args.debug else "",
        "AGENT_STREAM_HEAD_TIMEOUT_S": str(args.head_timeout_s),
        "AGENT_STREAM_BODY_TIMEOUT_S": str(args.body_timeout_s),
        "AGENT_STREAM_ALLOW_ORIGINS": ",".join(args.allow_origin),
    }
    os.environ.update(env)
    host = f"[{args.host}]" if ":" in args.host else args.host
    print(
        f"agent-stream demo: serving on http://{host}:{args.port} "
        f"({args.workers} worker{'s' if args.workers > 1 else ''}"
        f"{', redis ' + args.redis if args.redis else ''}"
        f"{', recording to ' + args.record if args.record else ''}); Ctrl+C to stop",
        flush=True,
    )
    uvicorn.run(
        APP,
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=args.log_level,
        timeout_graceful_shutdown=10,
        # uvicorn's own protocol, with request head and body deadlines (slowloris)
        http=RequestDeadlineProtocol,
    )
    return 0
