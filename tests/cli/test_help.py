"""``agent-stream COMMAND --help`` reads as terminal text: no reST markup from the docstrings."""

from __future__ import annotations

import re

import pytest

from agent_stream.cli import main

COMMANDS = ["demo", "query", "replay", "report", "stats", "tail", "validate"]


@pytest.mark.parametrize("command", COMMANDS)
def test_help_has_no_rest_markup(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([command, "--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith(f"usage: agent-stream {command}")
    assert "`" not in text, text
    assert not re.search(r":[a-z]+:", text), text


@pytest.mark.parametrize("command", [["demo"], ["replay", "runs.jsonl", "--serve"]])
@pytest.mark.parametrize("port", ["99999", "-1", "http"])
def test_a_port_outside_0_to_65535_is_refused(
    command: list[str], port: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main([*command, "--port", port])
    assert exited.value.code == 2
    assert f"--port: {port!r} is not a TCP port (0 to 65535)" in capsys.readouterr().err
