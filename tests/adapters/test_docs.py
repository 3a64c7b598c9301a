"""docs/adapters.md: each Python block is a complete app; each runs against a loopback provider.

The apps build their SDK clients from the environment, so pointing ``ANTHROPIC_BASE_URL`` and
``OPENAI_BASE_URL`` at ``tests/demo/fake_provider.py`` makes the official SDKs (and LangChain's
ChatAnthropic) stream recorded wire bytes; nothing reaches a real provider.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.demo.fake_provider import SDK_START_S, serve_fake_provider, sse_events
from tests.uvicorn_helpers import ROOT, UvicornProcess

DOC = ROOT / "docs" / "adapters.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python[^\n]*\n(.*?)```", DOC.read_text("utf-8"), flags=re.S)


@pytest.fixture(scope="module")
def provider() -> Iterator[UvicornProcess]:
    with serve_fake_provider() as server:
        yield server


def serve_block(index: int, tmp_path: Path, provider: UvicornProcess) -> UvicornProcess:
    module = f"adapters_doc_{index}"
    (tmp_path / f"{module}.py").write_text(python_blocks()[index], "utf-8")
    env = {
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT), str(ROOT / "src")]),
        "ANTHROPIC_API_KEY": "sk-ant-test",
        "ANTHROPIC_BASE_URL": provider.url,
        "OPENAI_API_KEY": "sk-test",
        "OPENAI_BASE_URL": f"{provider.url}/v1",
    }
    return UvicornProcess(
        f"{module}:app", env=env, args=["--no-access-log"], ready_timeout_s=SDK_START_S
    )


def ask(server: UvicornProcess, path: str) -> list[tuple[str, dict[str, object]]]:
    response = httpx.post(f"{server.url}{path}", json={"message": "27 * 453?"}, timeout=30)
    assert response.status_code == 200, response.text
    events = sse_events(response.text)
    assert events[0][0] == "start" and events[-1][0] == "done"
    assert [kind for kind, _ in events].count("done") == 1
    return events


def test_every_python_block_is_one_of_the_apps_tested_here():
    assert len(python_blocks()) == 4


def test_anthropic_example(tmp_path, provider):
    with serve_block(0, tmp_path, provider) as app:
        events = ask(app, "/api/chat")
    uses = [data for kind, data in events if kind == "tool_use"]
    assert [u["tool_name"] for u in uses] == ["calculator", "clock"]
    assert uses[0]["input"] == {"expression": "27 * 453"}
    assert events[-1][1]["stop_reason"] == "tool_use"


def test_openai_example_both_apis(tmp_path, provider):
    with serve_block(1, tmp_path, provider) as app:
        chat = ask(app, "/api/chat")
        responses = ask(app, "/api/responses")
    assert [d["tool_use_id"] for k, d in chat if k == "tool_use"] == ["call_calc", "call_clock"]
    text = "".join(str(d["text"]) for k, d in responses if k == "token")
    assert text == "Autumn leaves drift down —\nquiet streams carry them 🍂"
    assert responses[-1][1]["model"] == "o4-mini-2025-04-16"


def test_langgraph_example_runs_the_tools(tmp_path, provider):
    with serve_block(2, tmp_path, provider) as app:
        events = ask(app, "/api/chat")
    kinds = [kind for kind, _ in events]
    assert kinds.count("turn") == 2 and kinds.count("tool_use") == 2
    results = {d["tool_name"]: d for k, d in events if k == "tool_result"}
    assert results["calculator"]["output"] == "12231"
    text = "".join(str(d["text"]) for k, d in events if k == "token")
    assert text == "27 \u00d7 453 = 12231, and it is past noon UTC."
    assert events[-1][1]["num_turns"] == 2 and events[-1][1]["tool_count"] == 2


def test_tool_loop_example(tmp_path, provider):
    with serve_block(3, tmp_path, provider) as app:
        events = ask(app, "/api/chat")
    results = {d["tool_name"]: d for k, d in events if k == "tool_result"}
    assert results["calculator"]["output"] == "12231"
    assert str(results["clock"]["output"]).endswith("+00:00")
    assert events[-1][1]["num_turns"] == 2
