"""The ``agent-stream`` command: ``demo``, ``replay``, ``tail``, ``validate``, ``stats``,
``query``, ``report``.

Each subcommand imports what it needs only when it runs, so a missing extra fails with the
``pip install`` line that fixes it instead of a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import sys
from collections.abc import Sequence
from types import ModuleType

from .._extras import install_hint

__all__ = ["build_parser", "main"]

_EXTRA_OF = {
    "demo": "cli",
    "replay": "cli",
    "tail": "cli",
    "validate": "cli",
    "stats": "cli",
    "query": "query",
    "report": "cli",
}
_RECORDING_COMMANDS = {
    "stats": "figures of recordings: runs by end reason, time to first token, tool latency, …",
    "query": "run SQL over recordings with DuckDB (views: runs, events, tool_calls, …)",
    "report": "write one self-contained HTML page of recordings: figures and timelines",
}
_DELEGATED = {
    "tail": "watch a live stream in the terminal: agent-stream tail URL [--data JSON]",
    "validate": "check a recording (.jsonl) or capture (.sse) against the protocol",
}


def help_text(doc: str | None) -> str:
    """A module docstring as ``--help`` text: reST roles and literals become plain words."""
    text = re.sub(r":[a-z]+:`~?([^`]+)`", r"\1", doc or "")
    return text.replace("``", "")


def port_number(text: str) -> int:
    """An ``argparse`` type: a TCP port, 0 to 65535 (uvicorn takes 99999 without a word)."""
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a TCP port (0 to 65535)")
    return int(text)


def _load(command: str) -> ModuleType | None:
    try:
        return importlib.import_module(f"agent_stream.cli.{command}")
    except ImportError as exc:
        if exc.name is not None and exc.name.startswith("agent_stream"):
            raise
        print(
            f"agent-stream {command} needs {exc.name or 'a missing package'}; install it with: "
            f"{install_hint(_EXTRA_OF[command])}",
            file=sys.stderr,
        )
        return None


def build_parser() -> argparse.ArgumentParser:
    """The full parser (``tail`` and ``validate`` parse their own arguments)."""
    parser = argparse.ArgumentParser(
        prog="agent-stream",
        description="Typed, resumable Server-Sent Events for AI agents: developer tools.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = sub.add_parser("demo", help="serve the demo agent and its web page")
    from .demo import add_arguments as add_demo_arguments

    add_demo_arguments(demo)
    replay = sub.add_parser("replay", help="print a recording, or serve it as an SSE endpoint")
    from .replay import add_arguments as add_replay_arguments

    add_replay_arguments(replay)
    for name, text in _RECORDING_COMMANDS.items():
        command = sub.add_parser(name, help=text, description=text)
        _add_recording_arguments(name, command)
    for name, text in _DELEGATED.items():
        sub.add_parser(name, help=text, add_help=False)
    return parser


def _add_recording_arguments(name: str, parser: argparse.ArgumentParser) -> None:
    # the argument definitions import nothing optional (query imports duckdb when it runs)
    module = importlib.import_module(f"agent_stream.cli.{name}")
    module.add_arguments(parser)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``agent-stream``; returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in _DELEGATED:
        module = _load(args[0])
        if module is None:
            return 2
        status: int = module.main(args[1:])
        return status
    parsed = build_parser().parse_args(args)
    module = _load(parsed.command)
    if module is None:
        return 2
    try:
        result: int = module.run(parsed)
    except BrokenPipeError:
        # the reader went away (``agent-stream replay FILE | head``): not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return result


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
