"""``agent-stream tail`` as a person sees it: run in a real terminal (tmux), read the screen."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from rich.console import Console

from agent_stream import AgentEvent, Done, StreamState, Token, ToolResult, ToolUse, fold
from agent_stream.cli.tail import TailView
from tests.client.processes import ServerProcess, serve, uvicorn
from tests.uvicorn_helpers import UvicornProcess

ROOT = Path(__file__).resolve().parents[2]
AGENT_STREAM = [sys.executable, "-m", "agent_stream.cli"]


@pytest.fixture(autouse=True)
def _tmux_is_there() -> None:
    if shutil.which("tmux") is None:
        pytest.fail("tmux is not installed: apt-get install tmux (scripts/test does)")


@pytest.fixture(scope="module")
def test_app() -> Iterator[ServerProcess]:
    with serve(uvicorn("tests.client.app:app", "--no-access-log")) as server:
        yield server


class Terminal:
    """A 120x40 tmux session on a private server socket."""

    def __init__(self, name: str) -> None:
        self.socket = f"agent-stream-test-{os.getpid()}-{name}"
        self.session = name

    def tmux(self, *args: str) -> str:
        done = subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=10
        )
        return done.stdout

    def start(self, command: list[str]) -> None:
        line = " ".join(_quote(part) for part in command)
        self.tmux("-f", "/dev/null", "new-session", "-d", "-s", self.session, "-x", "120", "-y",
                  "40", "bash --norc --noprofile")  # fmt: skip
        self.tmux("send-keys", "-t", self.session, f"cd {ROOT} && {line}; echo EX''IT=$?", "Enter")

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", self.session)

    def wait_for(self, predicate: Callable[[str], bool], timeout_s: float = 15) -> str:
        deadline = time.monotonic() + timeout_s
        while True:
            screen = self.screen()
            if predicate(screen):
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"the screen never matched; it shows:\n{screen}")
            time.sleep(0.05)

    def close(self) -> None:
        self.tmux("kill-server")


def _quote(part: str) -> str:
    return "'" + part.replace("'", "'\\''") + "'"


@pytest.fixture
def terminal(request: pytest.FixtureRequest) -> Iterator[Terminal]:
    term = Terminal(request.node.name[:20].replace("[", "_").replace("]", ""))
    try:
        yield term
    finally:
        term.close()


def test_tail_shows_text_a_spinner_per_tool_progress_and_summary(
    test_app: ServerProcess, terminal: Terminal
) -> None:
    body = {"tokens": 40, "tools": 2, "tool_ms": 1500, "slow": 1}
    terminal.start([*AGENT_STREAM, "tail", f"{test_app.url}/api/chat", "--data", json.dumps(body)])
    running = terminal.wait_for(lambda s: "query=0" in s and "streaming" in s)
    line = next(row for row in running.splitlines() if "query=0" in row)
    assert line.split()[0] in "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"  # a spinner turns beside the running tool
    assert "Héllo wörld" in running and "日本語" in running

    finished = terminal.wait_for(lambda s: re.search(r"EXIT=\d", s) is not None, timeout_s=20)
    assert "done · 1 turn(s) · 2 tool call(s)" in finished
    assert "✓ search 3 results (12 ms)" in finished
    assert "50% half way" in finished and "━" in finished
    assert "EXIT=0" in finished
    assert "query=0" not in finished  # no spinner left once the tool is done


def test_tail_reports_a_refused_request(test_app: ServerProcess, terminal: Terminal) -> None:
    terminal.start([*AGENT_STREAM, "tail", f"{test_app.url}/api/chat", "--data", '{"status": 401}'])
    screen = terminal.wait_for(lambda s: re.search(r"EXIT=\d", s) is not None)
    assert "answered 401" in screen and "EXIT=2" in screen


def test_tail_jsonl_prints_one_event_per_line(test_app: ServerProcess) -> None:
    done = subprocess.run(
        [*AGENT_STREAM, "tail", f"{test_app.url}/api/chat", "--get", "--data", '{"tokens": 3}',
         "--jsonl", "-H", "Authorization: Bearer x"],
        capture_output=True, text=True, timeout=30, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [line["event"] for line in lines][:2] == ["start", "turn"]
    assert lines[-1]["event"] == "done" and lines[-1]["id"].endswith(f":{len(lines) - 1}")
    assert [line["event"] for line in lines].count("token") == 3


@pytest.fixture(scope="module")
def demo_app() -> Iterator[UvicornProcess]:
    with UvicornProcess(
        "agent_stream.demo.app:create_app_from_env", factory=True, args=["--no-access-log"]
    ) as server:
        yield server


ASK = {"ask": True, "tools": 0, "tokens": 4, "token_delay_ms": 0, "thinking": False}


def test_tail_asks_the_question_in_the_terminal_and_answers_it(
    demo_app: UvicornProcess, terminal: Terminal
) -> None:
    terminal.start([*AGENT_STREAM, "tail", f"{demo_app.url}/api/chat", "--data", json.dumps(ASK),
                    "-H", "Authorization: Bearer tmux"])  # fmt: skip
    asked = terminal.wait_for(lambda s: "answer>" in s)
    assert "Which city should I plan for?" in asked
    assert "1) Lisbon" in asked and "2) Porto" in asked and "3) Faro" in asked
    assert "or type your own answer" in asked and re.search(r"\d+s left", asked)
    terminal.tmux("send-keys", "-t", terminal.session, "2", "Enter")
    finished = terminal.wait_for(lambda s: re.search(r"EXIT=\d", s) is not None, timeout_s=20)
    assert 'answered: "Porto"' in finished
    assert "You chose Porto." in finished
    assert "EXIT=0" in finished


def test_tail_without_a_terminal_prints_the_question(demo_app: UvicornProcess) -> None:
    headers = {"Authorization": "Bearer piped"}
    with subprocess.Popen(
        [*AGENT_STREAM, "tail", f"{demo_app.url}/api/chat", "--data", json.dumps(ASK),
         "-H", "Authorization: Bearer piped"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True, cwd=ROOT,
        env={**os.environ, "COLUMNS": "200"},
    ) as tail:  # fmt: skip
        assert tail.stdout is not None
        seen = []
        for line in tail.stdout:  # bounded: the process ends once answered, or times out
            seen.append(line)
            found = re.search(r'POST (\S+) \{"request_id": "([^"]+)"', line)
            if found:
                reply = httpx.post(
                    demo_app.url + found.group(1),
                    json={"request_id": found.group(2), "answer": "Évora"},
                    headers=headers,
                    timeout=10,
                )
                assert reply.status_code == 200, reply.text
                break
        rest = tail.stdout.read()
        assert tail.wait(timeout=20) == 0
    output = "".join(seen) + rest
    assert "Which city should I plan for?" in output
    assert 'question answered: "Évora"' in output
    assert "You chose Évora." in output


def test_tail_reports_an_oversize_event_without_a_traceback(test_app: ServerProcess) -> None:
    # a 2 MB token: over the client's 1 MiB event limit
    done = subprocess.run(
        [*AGENT_STREAM, "tail", f"{test_app.url}/api/chat", "--get", "--data",
         '{"tokens": 2, "big_token_chars": 2000000}', "--jsonl", "-H", "Authorization: Bearer x"],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    assert done.stderr.startswith("agent-stream tail: ") and "event-too-large" in done.stderr


def test_the_summary_shows_what_the_stream_showed_when_done_has_no_figures() -> None:
    # the `done` the server adds for an agent that sent none (the README's app) has zeros
    view = TailView("http://127.0.0.1:1/api/chat", console=Console(file=io.StringIO(), width=120))
    state = StreamState()
    events: list[AgentEvent] = [
        ToolUse(tool_name="search", tool_use_id="tu_1", input_summary="hi"),
        ToolResult(tool_name="search", tool_use_id="tu_1", output_summary="3 hits"),
        Token(text="Found it."),
        Done(),
    ]
    for event in events:
        state = fold(state, event)
    view.state = state
    console = Console(file=io.StringIO(), width=120)
    console.print(view.render())
    summary = console.file.getvalue().splitlines()[-1]  # type: ignore[attr-defined]
    assert summary.startswith("done · 1 tool call(s) · "), summary
    assert "0 turn(s)" not in summary


def test_tail_of_a_url_without_a_scheme_fails_at_once() -> None:
    done = subprocess.run(
        [*AGENT_STREAM, "tail", "127.0.0.1:8000/api/chat", "--jsonl"],
        capture_output=True, text=True, timeout=30, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 1
    assert "invalid-url" in done.stderr and "http://127.0.0.1:8000/api/chat" in done.stderr
