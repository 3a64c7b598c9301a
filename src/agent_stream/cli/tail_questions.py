"""``agent-stream tail`` and the agent's questions: show them, and answer them at a terminal.

When stdin is a terminal, a question stops the live view, lists the choices as a numbered menu
(a number or the text picks one; other text too when free text is allowed; JSON for a schema)
and POSTs the reply with ``AgentStreamClient.respond``. A refused reply (422) shows the reason
and asks again. If the question closes meanwhile (answered elsewhere, expired) the prompt goes
away. Without a terminal the question is printed with where to answer it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import UTC, datetime

from .._extras import missing_extra

try:
    import anyio
    import rich  # noqa: F401
except ImportError as exc:
    raise missing_extra("agent-stream tail", exc, "cli") from exc

import msgspec
from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.text import Text

from ..client import AgentStreamClient
from ..errors import HTTPStatusError
from ..events import UNSET, InputRequired, JSONValue

__all__ = ["ask_at_terminal", "parse_reply", "render_question"]

_MAX_TRIES = 5


def _seconds_left(question: InputRequired) -> float | None:
    if question.expires_at is UNSET:
        return None
    try:
        expires = datetime.fromisoformat(question.expires_at)
    except ValueError:
        return None
    return max(0.0, (expires - datetime.now(UTC)).total_seconds())


def render_question(question: InputRequired, *, respond_hint: bool = False) -> RenderableType:
    """The question as a panel: prompt, numbered choices, time left (and where to answer)."""
    lines: list[RenderableType] = [Text(question.prompt, style="bold")]
    if question.tool_name is not UNSET:
        call = msgspec.json.encode(question.tool_input).decode() if question.tool_input else ""
        lines.append(Text(f"tool: {question.tool_name} {call}", style="cyan"))
    choices = question.choices if question.choices is not UNSET else []
    for number, choice in enumerate(choices, 1):
        lines.append(Text.assemble((f"  {number}) ", "bold"), choice))
    if question.allows_free_text is True:
        lines.append(Text("  or type your own answer", style="dim"))
    if question.schema is not UNSET:
        lines.append(Text(f"  answer as JSON: {_json(question.schema)}", style="dim"))
    left = _seconds_left(question)
    if left is not None:
        lines.append(Text(f"{left:.0f}s left", style="yellow"))
    if respond_hint and question.respond_url is not UNSET:
        body = f'{{"request_id": "{question.request_id}", "answer": ...}}'
        lines.append(Text(f"answer: POST {question.respond_url} {body}", style="dim"))
    return Panel(Group(*lines), title="the agent asks", style="magenta")


def parse_reply(question: InputRequired, line: str) -> JSONValue | None:
    """The answer a typed line means, or ``None`` when it means none (ask again)."""
    text = line.strip()
    if not text:
        return None
    choices = question.choices if question.choices is not UNSET else []
    if text.isdigit() and 1 <= int(text) <= len(choices):
        return choices[int(text) - 1]
    if choices and question.allows_free_text is not True:
        return text if text in choices else None
    if question.schema is not UNSET:
        try:
            value: JSONValue = msgspec.json.decode(text)
        except msgspec.DecodeError:
            return text
        return value
    return text


def _json(value: object) -> str:
    return msgspec.json.encode(value).decode()


async def ask_at_terminal(
    client: AgentStreamClient,
    question: InputRequired,
    console: Console,
    read_line: Callable[[], str] = sys.stdin.readline,
) -> bool:
    """Prompt until the answer is accepted (True) or the tries run out; cancel it when the
    question closes elsewhere. Ctrl-D (an empty read) gives up."""
    console.print(render_question(question))
    for _ in range(_MAX_TRIES):
        console.print("answer> ", end="")
        line = await anyio.to_thread.run_sync(read_line, abandon_on_cancel=True)
        if line == "":
            console.print("(no answer given)")
            return False
        answer = parse_reply(question, line)
        if answer is None:
            console.print("pick a number from the list", style="yellow")
            continue
        # once sent, the answer's outcome is shown even if the question closes meanwhile
        with anyio.CancelScope(shield=True):
            try:
                url = question.respond_url if question.respond_url is not UNSET else None
                await client.respond(answer, request_id=question.request_id, url=url)
            except HTTPStatusError as exc:
                console.print(f"refused ({exc.status_code}): {_reason(exc.body)}", style="red")
                if exc.status_code != 422:
                    return False
                continue
            console.print(Text.assemble("answered: ", (_json(answer), "bold green")))
            return True
    return False


def _reason(body: str) -> str:
    try:
        error = msgspec.json.decode(body)["error"]
        return str(error.get("reason") or error.get("message"))
    except (msgspec.DecodeError, KeyError, TypeError, AttributeError):
        return body[:200]
