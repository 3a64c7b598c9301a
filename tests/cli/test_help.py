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
