"""The scripted demo agent: a realistic-looking run with no model and no API key.

One run, in order: a progress step, a burst of ``thinking``, ``turn`` 1, ``tools`` tool calls
(``tool_use`` with arguments, then ``tool_result`` after a plausible duration) with progress in
between, a ``creation``, optionally an ``input_required``, ``turn`` 2, ``tokens`` token events of
an answer that quotes the user's message (non-ASCII and emoji included), progress 100 % and a
``done`` with metadata. ``ask`` asks "Which city should I plan for?" (Lisbon / Porto / Faro,
free text allowed) before writing and starts the answer with the reply verbatim; ``approve``
asks before each tool call and skips the tool when refused (both wait up to ``ask_timeout_s``
through :func:`agent_stream.server.ask`). ``fail_after=n`` raises after ``n`` events, so the
server's ``error`` + ``done`` guarantee can be watched.

Pacing comes from ``token_delay_ms``; with ``token_delay_ms=0`` nothing sleeps at all and the
agent is as fast as the server can store events (tests stream 10,000+ events this way).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, fields

import anyio

from ..errors import InputTimeoutError, UsageError, truncate
from ..events import (
    AgentEvent,
    Creation,
    Done,
    InputRequired,
    JSONValue,
    Progress,
    Thinking,
    Token,
    ToolResult,
    ToolUse,
    Turn,
)
from ..server.questions import approve, ask

__all__ = ["DemoFailure", "DemoOptions", "demo_agent"]

MAX_TOKENS = 1_000_000
MAX_TOOLS = 100
MAX_DELAY_MS = 10_000
MAX_MESSAGE_CHARS = 4_000
MAX_ASK_TIMEOUT_S = 3_600.0
CITY_QUESTION = "Which city should I plan for?"
CITIES = ["Lisbon", "Porto", "Faro"]

_ANSWER = (
    "Here is a plan for {message} ✨ — first, the essentials: I checked the forecast ☀️, "
    "compared a few options and kept the ones with the best reviews. Day one starts slow: "
    "coffee and a pastel de nata ☕, a walk through the old town, lunch by the river. "
    "Day two is for the museums 🖼️ and the viewpoints; book tickets ahead, queues get long "
    "after ten. Day three: a short trip out of town 🚆, back in time for dinner. Prices are "
    "in € and may change; naïve estimates aside, budget about 120 € a day. Bon voyage! 🎉 "
)
_THOUGHTS = (
    "The user asks: “{message}”. ",
    "Break it into steps: gather facts, check constraints, draft an answer. ",
    "Two tools should be enough; search first, then verify the details. ",
    "Keep the answer short, friendly and concrete. ",
)
_TOOLS = (
    ("web_search", "query", "{message}", "8 results, 3 relevant"),
    ("read_page", "url", "https://example.org/guide", "2,431 words, 5 sections"),
    ("calculator", "expression", "3 * 120 + 45", "405"),
    ("weather", "city", "Lisbon", "22 °C, sunny"),
    ("calendar", "range", "next weekend", "2 free days"),
)


async def _approved(name: str, call: JSONValue, tool_use_id: str, timeout_s: float) -> bool:
    try:
        return await approve(name, call, tool_use_id=tool_use_id, timeout_s=timeout_s)
    except InputTimeoutError:
        return False


class DemoFailure(RuntimeError):
    """Raised by the demo agent when ``fail_after`` events have been sent."""


def _int(name: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool):
        raise _invalid(name, value, f"an integer from {low} to {high}")
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            raise _invalid(name, value, f"an integer from {low} to {high}") from None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or not low <= value <= high:
        raise _invalid(name, value, f"an integer from {low} to {high}")
    return value


def _number(name: str, value: object, low: float, high: float) -> float:
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise _invalid(name, value, f"a number from {low:g} to {high:g}") from None
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise _invalid(name, value, f"a number from {low:g} to {high:g}")
    return float(value)


def _bool(name: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        # a bare query flag (``?thinking``) arrives as "" and means true
        word = value.strip().lower()
        if word in ("", "1", "true", "yes", "on"):
            return True
        if word in ("0", "false", "no", "off"):
            return False
    raise _invalid(name, value, "true or false")


def _invalid(name: str, value: object, expected: str) -> UsageError:
    return UsageError(
        f"knob {name}={truncate(value, 40)} is invalid; expected {expected}",
        code="invalid-request",
    )


@dataclass(frozen=True, slots=True)
class DemoOptions:
    """The scenario knobs of one demo run (JSON body fields or query parameters)."""

    message: str = "Plan a three-day trip to Lisbon"
    tokens: int = 60
    token_delay_ms: float = 40.0
    tools: int = 2
    fail_after: int | None = None
    thinking: bool = True
    input_required: bool = False
    ask: bool = False
    approve: bool = False
    ask_timeout_s: float = 300.0

    @classmethod
    def from_mapping(cls, knobs: Mapping[str, object]) -> DemoOptions:
        """Validated options from request knobs; unknown keys are ignored.

        Raises :class:`~agent_stream.errors.UsageError` (``invalid-request``) naming the knob.
        """
        defaults = cls()
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in knobs.items() if k in known and v is not None}
        message = values.get("message", defaults.message)
        if not isinstance(message, str):
            raise _invalid("message", message, "a string")
        if len(message) > MAX_MESSAGE_CHARS:
            raise UsageError(
                f"knob message is {len(message)} characters long; the limit is {MAX_MESSAGE_CHARS}",
                code="invalid-request",
            )
        fail_after = values.get("fail_after")
        return cls(
            message=message,
            tokens=_int("tokens", values.get("tokens", defaults.tokens), 0, MAX_TOKENS),
            token_delay_ms=_number(
                "token_delay_ms",
                values.get("token_delay_ms", defaults.token_delay_ms),
                0,
                MAX_DELAY_MS,
            ),
            tools=_int("tools", values.get("tools", defaults.tools), 0, MAX_TOOLS),
            fail_after=None
            if fail_after is None or fail_after == ""
            else _int("fail_after", fail_after, 0, 10 * MAX_TOKENS),
            thinking=_bool("thinking", values.get("thinking", defaults.thinking)),
            input_required=_bool(
                "input_required", values.get("input_required", defaults.input_required)
            ),
            ask=_bool("ask", values.get("ask", defaults.ask)),
            approve=_bool("approve", values.get("approve", defaults.approve)),
            ask_timeout_s=_number(
                "ask_timeout_s",
                values.get("ask_timeout_s", defaults.ask_timeout_s),
                0.1,
                MAX_ASK_TIMEOUT_S,
            ),
        )


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _answer_words(message: str) -> list[str]:
    # The message goes out verbatim as one token (newlines, SSE-looking text and all): the
    # wire encoding, not the agent, is what keeps it from ever being read as a frame.
    before, after = _ANSWER.split("{message}")
    quoted = f"“{message}” " if message.strip() else "your question "
    return [w + " " for w in before.split()] + [quoted] + [w + " " for w in after.split()]


async def demo_agent(options: DemoOptions | None = None) -> AsyncIterator[AgentEvent]:
    """The events of one scripted run, paced by ``options.token_delay_ms``."""
    opts = options or DemoOptions()
    started = time.monotonic()
    delay_s = opts.token_delay_ms / 1000.0
    sent = 0

    def check() -> None:
        if opts.fail_after is not None and sent >= opts.fail_after:
            raise DemoFailure(f"the demo agent failed on purpose after {sent} events (fail_after)")

    async def pause(factor: float) -> None:
        if delay_s:
            await anyio.sleep(delay_s * factor)

    # Each ``yield`` below is preceded by check() so fail_after counts every event sent.
    check()
    yield Progress(step="planning", percentage=0, message="Reading your message")
    sent += 1
    if opts.thinking:
        for thought in _THOUGHTS:
            await pause(1.5)
            check()
            yield Thinking(text=thought.format(message=_clip(opts.message, 80)))
            sent += 1
    check()
    yield Turn(turn_number=1, total_tools=0)
    sent += 1
    for i in range(opts.tools):
        name, arg, value, summary = _TOOLS[i % len(_TOOLS)]
        tool_use_id = f"toolu_{i + 1:04d}"
        argument = value.format(message=_clip(opts.message, 120))
        check()
        yield Progress(
            step="research",
            percentage=round(10 + 60 * i / opts.tools),
            message=f"Calling {name} ({i + 1} of {opts.tools})",
            sub_progress={"current": i + 1, "total": opts.tools, "item_title": name},
        )
        sent += 1
        if opts.approve:
            call: JSONValue = {arg: value.format(message=opts.message)}
            approved = await _approved(name, call, tool_use_id, opts.ask_timeout_s)
            if not approved:
                check()
                yield Token(text=f"(Skipped {name}: not approved.) ")
                sent += 1
                continue
        check()
        yield ToolUse(
            tool_name=name,
            tool_use_id=tool_use_id,
            input_summary=f"{arg}={_clip(argument, 60)}",
            input={arg: value.format(message=opts.message)},
        )
        sent += 1
        # a plausible tool latency: 120..620 ms at the default 40 ms per token
        duration_ms = round(opts.token_delay_ms * (3 + (i * 7) % 13)) if delay_s else 0
        if duration_ms:
            await anyio.sleep(duration_ms / 1000.0)
        check()
        yield ToolResult(
            tool_name=name,
            tool_use_id=tool_use_id,
            output_summary=summary,
            duration_ms=duration_ms,
            output={"summary": summary, "ok": True},
        )
        sent += 1
    if opts.tools:
        check()
        yield Creation(
            creation_type="note",
            count=1,
            tool_use_id=f"toolu_{opts.tools:04d}",
            items=[{"title": f"Notes on {_clip(opts.message, 60)}", "format": "markdown"}],
        )
        sent += 1
    if opts.input_required:
        check()
        yield InputRequired(
            request_id="req_0001",
            prompt="Shall I book the cheapest option? (the demo goes on either way)",
            choices=["yes", "no"],
        )
        sent += 1
    if opts.ask:
        try:
            city = await ask(
                CITY_QUESTION, options=CITIES, allows_free_text=True, timeout_s=opts.ask_timeout_s
            )
            intro = f"You chose {city}. "
        except InputTimeoutError:
            intro = f"Nobody answered in time, so I picked {CITIES[0]}. "
        check()
        yield Token(text=intro)
        sent += 1
    check()
    yield Progress(step="writing", percentage=75, message="Writing the answer")
    sent += 1
    check()
    yield Turn(turn_number=2, total_tools=opts.tools)
    sent += 1
    words = _answer_words(opts.message)
    for i in range(opts.tokens):
        if delay_s:
            await anyio.sleep(delay_s)
        check()
        yield Token(text=words[i % len(words)])
        sent += 1
    check()
    yield Progress(step="writing", percentage=100, message="Done")
    sent += 1
    check()
    yield Done(
        message_id="msg_demo",
        num_turns=2,
        tool_count=opts.tools,
        duration_ms=round((time.monotonic() - started) * 1000),
        model="demo-scripted-1",
        total_cost_usd=round(0.000_002 * opts.tokens, 6),
    )
