"""A command or demo route whose extra is missing says which extra to install, not a traceback.

Each case runs in a fresh interpreter that cannot import one package (as if its extra were not
installed): what a user of ``pip install 'agent-event-stream[cli]'`` meets.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_extras import REFUSE_PACKAGE

_RUN_CLI = REFUSE_PACKAGE + "from agent_stream.cli import main\nsys.exit(main(sys.argv[2:]))\n"

_DEMO_ROUTES = (
    REFUSE_PACKAGE
    + r"""
import json
from starlette.testclient import TestClient
from agent_stream.demo.app import create_app

with TestClient(create_app()) as client:
    answers = [
        client.post("/api/ag-ui", json={"threadId": "t", "runId": "r", "messages": []}),
        client.get("/api/ag-ui/t/stream"),
    ]
print(json.dumps([[a.status_code, a.json()] for a in answers]))
"""
)


def run_without(
    package: str, script: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", script, package, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )


@pytest.mark.parametrize(
    ("package", "argv", "hint"),
    [
        ("duckdb", ["query", "SELECT 1", "{file}"], "agent-stream query needs duckdb: "
         "pip install 'agent-event-stream[query]'"),
        ("redis", ["demo", "--port", "0", "--redis", "redis://127.0.0.1:1/0"],
         "agent-stream demo --redis needs redis: pip install 'agent-event-stream[redis]'"),
    ],
)  # fmt: skip
def test_a_command_names_the_extra_it_misses(
    package: str, argv: list[str], hint: str, tmp_path: Path
) -> None:
    recording = tmp_path / "runs.jsonl"
    recording.write_text("", encoding="utf-8")
    args = [arg.format(file=recording) for arg in argv]
    result = run_without(package, _RUN_CLI, *args)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == hint
    assert "Uvicorn running" not in result.stderr + result.stdout


def test_the_demo_answers_its_ag_ui_routes_with_the_extra_to_install() -> None:
    result = run_without("ag_ui", _DEMO_ROUTES)
    assert result.returncode == 0, result.stderr
    for status, body in json.loads(result.stdout.splitlines()[-1]):
        assert status == 501
        assert body["error"]["code"] == "missing-extra"
        assert "pip install 'agent-event-stream[ag-ui]'" in body["error"]["message"]


@pytest.mark.parametrize(("package", "key"), [("anthropic", "ANTHROPIC_API_KEY"),
                                              ("openai", "OPENAI_API_KEY")])  # fmt: skip
def test_the_demo_with_a_key_but_not_its_sdk_says_what_to_do(package: str, key: str) -> None:
    # a key in the environment makes the demo run that provider's model
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    result = run_without(package, _RUN_CLI, "demo", "--port", "0", env={**env, key: "sk-x"})
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == (
        f"agent-stream demo: {key} is set but the {package} SDK is not installed: "
        f"pip install 'agent-event-stream[{package}]' (or unset {key} for the scripted agent)"
    )
