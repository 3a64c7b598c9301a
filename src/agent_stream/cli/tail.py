"""``agent-stream tail URL``: watch an agent stream live in a terminal.

Shows the streaming text, a spinner per running tool, the progress bar, the error and a summary
at ``done``; the screen is redrawn at most ``--fps`` times a second however fast tokens come.
``--jsonl`` prints each event as one JSON line instead (for piping into ``jq`` or
``agent-stream validate -``). The agent's questions are asked at the terminal when stdin is one
(numbered choices or free text; ``--no-ask`` only shows them) and shown otherwise. Exit status:
0 when the run completed, 1 when it failed or was interrupted, 2 when the server refused the
request.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import AsyncGenerator
from typing import TextIO

from .._extras import missing_extra
from . import help_text

try:
    import anyio
    import rich  # noqa: F401
except ImportError as exc:
    raise missing_extra("agent-stream tail", exc, "cli") from exc

import msgspec
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from ..client import AgentStreamClient, StreamEvent
from ..errors import AgentStreamError, HTTPStatusError
from ..events import Done, InputRequired, JSONValue
from ..state import StreamState
from .tail_questions import ask_at_terminal, render_question

__all__ = ["TailView", "add_arguments", "main", "parse_header", "run"]

_TEXT_TAIL_CHARS = 20_000
_ENCODER = msgspec.json.Encoder()


def parse_header(value: str) -> tuple[str, str]:
    """``'Name: value'`` -> ``("Name", "value")`` (argparse type for ``-H``)."""
    name, sep, rest = value.partition(":")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"header {value!r} is not 'Name: value'")
    return name.strip(), rest.strip()


def _parse_data(value: str) -> JSONValue:
    try:
        data: JSONValue = msgspec.json.decode(value)
    except msgspec.DecodeError as exc:
        raise argparse.ArgumentTypeError(f"--data is not JSON ({exc}): {value[:80]!r}") from None
    return data


class TailView:
    """What the terminal shows for a stream state; rendered by rich's refresh thread."""

    def __init__(self, url: str, *, console: Console) -> None:
        self.url = url
        self.console = console
        self.state = StreamState()
        self.events = 0
        self.reconnects = 0
        self.synthetic = False
        self.started = time.monotonic()
        self._spinners: dict[str, Spinner] = {}

    def __rich__(self) -> RenderableType:
        return self.render()

    def render(self) -> RenderableType:
        state = self.state
        height = max(self.console.size.height, 10)
        width = max(self.console.size.width, 20)
        parts: list[RenderableType] = []
        status = self._status_line()
        below: list[RenderableType] = []
        for tool_id, tool in state.active_tools.items():
            spinner = self._spinners.get(tool_id)
            if spinner is None:
                label = Text.assemble((tool.tool_name, "bold cyan"), " ", tool.input_summary)
                spinner = self._spinners[tool_id] = Spinner("dots", text=label, style="cyan")
            below.append(spinner)
        for done in state.tools[-3:]:
            mark = ("✗", "red") if done.status == "error" else ("✓", "green")
            below.append(
                Text.assemble(
                    mark,
                    " ",
                    (done.tool_name, "bold"),
                    f" {done.output_summary} ({done.duration_ms} ms)",
                )
            )
        if state.progress is not None:
            progress = state.progress
            bar = Table.grid(padding=(0, 1))
            bar.add_row(
                Text(progress.step, style="bold"),
                ProgressBar(total=100, completed=float(progress.percentage), width=30),
                Text(f"{float(progress.percentage):3.0f}% {progress.message}"),
            )
            below.append(bar)
        if state.error is not None:
            error = state.error
            below.append(
                Panel(Text(error.message), title=f"error: {error.error_type}", style="red")
            )
        for answered in state.answers[-2:]:
            value = "" if answered.status != "answered" else f": {_json(answered.answer)}"
            below.append(Text(f"question {answered.status}{value}", style="magenta"))
        if state.done is not None:
            below.append(self._summary())
        room = max(3, height - 2 - sum(_rows(item) for item in below))
        parts.append(self._text_tail(state.text, width=width, rows=room))
        parts.append(status)
        parts.extend(below)
        return Group(*parts)

    def _text_tail(self, text: str, *, width: int, rows: int) -> Text:
        rendered = Text(text[-_TEXT_TAIL_CHARS:])
        lines = rendered.wrap(self.console, width)
        return Text("\n").join(lines[-rows:]) if len(lines) > rows else rendered

    def _status_line(self) -> Text:
        state = self.state
        elapsed = time.monotonic() - self.started
        if state.done is None:
            word, style = ("streaming", "yellow")
        elif self.synthetic or _reason(state.done) != "completed":
            word, style = (_reason(state.done), "red")
        else:
            word, style = ("done", "green")
        extra = f" · {self.reconnects} reconnect(s)" if self.reconnects else ""
        return Text.assemble(
            ("● ", style),
            (word, f"bold {style}"),
            f" · {self.events} events · {elapsed:.1f}s{extra}",
        )

    def _summary(self) -> RenderableType:
        done = self.state.done
        assert done is not None
        if self.synthetic:
            return Text(
                f"stream ended without done from the server ({done.reason}); "
                f"{len(self.state.text)} characters received",
                style="bold red",
            )
        # a figure the done leaves at 0 (a done the server added for an agent that sent none)
        # comes from what this stream showed, not shown as "0 tool call(s)" after a tool ran
        turns = done.num_turns or self.state.turn
        duration_s = done.duration_ms / 1000 or time.monotonic() - self.started
        facts = [
            *([f"{turns} turn(s)"] if turns else []),
            f"{done.tool_count or len(self.state.tools)} tool call(s)",
            f"{duration_s:.1f}s",
        ]
        if done.model:
            facts.append(done.model)
        if done.total_cost_usd:
            facts.append(f"${done.total_cost_usd:.4f}")
        if _reason(done) != "completed":
            facts.insert(0, _reason(done))
        return Text("done · " + " · ".join(facts), style="bold green")


def _rows(item: RenderableType) -> int:
    if isinstance(item, Panel):
        renderable = item.renderable
        return 2 + (len(renderable.renderables) if isinstance(renderable, Group) else 1)
    return 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("url", help="the stream endpoint, e.g. http://127.0.0.1:8000/api/chat")
    parser.add_argument(
        "--data", "-d", type=_parse_data, default=None, help="JSON request body (or query, --get)"
    )
    parser.add_argument(
        "-H",
        "--header",
        dest="headers",
        action="append",
        type=parse_header,
        default=[],
        help="an extra request header 'Name: value' (repeatable)",
    )
    parser.add_argument(
        "--get", action="store_true", help="send GET with --data as query parameters"
    )
    parser.add_argument("--jsonl", action="store_true", help="print raw events as JSON lines")
    parser.add_argument("--fps", type=float, default=10.0, help="screen refreshes per second")
    parser.add_argument(
        "--no-ask",
        action="store_true",
        help="show the agent's questions without prompting (the default when stdin is no TTY)",
    )


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    return anyio.run(_run, args, out or sys.stdout)


async def _run(args: argparse.Namespace, out: TextIO) -> int:
    headers = dict(args.headers)
    data: JSONValue = args.data
    method = "GET" if args.get else "POST"
    params: dict[str, str | int | float] | None = None
    body: JSONValue = None
    if args.get:
        if data is not None and not isinstance(data, dict):
            print("agent-stream tail: with --get, --data is a JSON object", file=sys.stderr)
            return 2
        params = {
            k: v if isinstance(v, str | int | float) else _json(v) for k, v in (data or {}).items()
        }
    else:
        body = data if data is not None else {}
    async with AgentStreamClient() as client:
        stream = client.stream(args.url, json=body, headers=headers, method=method, params=params)
        try:
            if args.jsonl:
                async for event in stream:
                    out.write(_json({"id": event.id, "event": event.type, "data": event.data}))
                    out.write("\n")
                    out.flush()
            else:
                await _watch(client, stream, args, out)
        except HTTPStatusError as exc:
            print(f"agent-stream tail: {exc.message}", file=sys.stderr)
            return 2
        except AgentStreamError as exc:  # e.g. an event over the size limit: say it, no traceback
            print(f"agent-stream tail: {exc.code}: {exc.message}", file=sys.stderr)
            return 1
        finally:
            await stream.aclose()
        done = client.state.done
        failure = client.failure
        if isinstance(failure, AgentStreamError):  # why the client ended the stream itself
            print(f"agent-stream tail: {failure.code}: {failure.message}", file=sys.stderr)
        if done is None or done.synthetic is True:
            return 1
        return 0 if _reason(done) == "completed" else 1


def _reason(done: Done) -> str:
    return done.reason if isinstance(done.reason, str) else "completed"


async def _watch(
    client: AgentStreamClient,
    stream: AsyncGenerator[StreamEvent, None],
    args: argparse.Namespace,
    out: TextIO,
) -> None:
    console = Console(file=out)
    view = TailView(args.url, console=console)
    asking: anyio.CancelScope | None = None
    # questions are answered here when a person is at the keyboard, else printed
    can_ask = not args.no_ask and sys.stdin.isatty()
    live = Live(view, console=console, refresh_per_second=args.fps, transient=False)

    async def ask(question: InputRequired) -> None:
        nonlocal asking
        answered = False
        with anyio.CancelScope() as asking:
            live.stop()
            answered = await ask_at_terminal(client, question, console)
        if asking.cancel_called and not answered:
            console.print("(the question was closed elsewhere)")
        asking = None
        live.start()

    refused: AgentStreamError | None = None
    with live:
        async with anyio.create_task_group() as tasks:
            try:
                async for event in stream:
                    view.events += 1
                    view.state = client.state
                    view.reconnects = client.reconnects
                    view.synthetic = event.is_synthetic
                    question = view.state.input_required
                    if event.type == "input_required" and question is not None:
                        if asking is not None:
                            asking.cancel()
                        if can_ask:
                            tasks.start_soon(ask, question)
                        else:
                            console.print(render_question(question, respond_hint=True))
                    elif asking is not None and question is None:
                        asking.cancel()
            except AgentStreamError as exc:
                refused = exc  # raised below, not as an ExceptionGroup of the task group
            finally:
                if asking is not None:
                    asking.cancel()
    if refused is not None:
        raise refused


def _json(value: object) -> str:
    return _ENCODER.encode(value).decode()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="agent-stream tail", description=help_text(__doc__))
    add_arguments(parser)
    return run(parser.parse_args(argv))
