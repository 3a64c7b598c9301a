"""docs/bridges.md: its Python example is a complete app that serves all three formats."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import httpx

from tests.uvicorn_helpers import ROOT, UvicornProcess

DOC = ROOT / "docs" / "bridges.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python[^\n]*\n(.*?)```", DOC.read_text("utf-8"), flags=re.S)


def test_the_example_app_serves_ours_ag_ui_and_ai_sdk(tmp_path: Path) -> None:
    (block,) = python_blocks()
    (tmp_path / "bridges_example.py").write_text(block, "utf-8")
    path = os.pathsep.join([str(tmp_path), str(ROOT), str(ROOT / "src")])
    with UvicornProcess("bridges_example:app", env={"PYTHONPATH": path}) as server:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            ours = client.post("/api/chat", json={"message": "Porto?"}).text
            ag_ui = client.post(
                "/api/ag-ui",
                json={
                    "threadId": "t",
                    "runId": "r",
                    "messages": [{"id": "u", "role": "user", "content": "Porto?"}],
                },
            ).text
            ai_sdk = client.post(
                "/api/ai-sdk/chat",
                json={
                    "id": "c",
                    "messages": [
                        {"id": "u", "role": "user", "parts": [{"type": "text", "text": "Porto?"}]}
                    ],
                    "trigger": "submit-message",
                },
            ).text

    def data(body: str) -> list[dict[str, object]]:
        lines = [line[6:] for line in body.split("\n") if line.startswith("data: ")]
        return [json.loads(line) for line in lines if line != "[DONE]"]

    expected = "You asked: Porto? ✨ "
    tokens = [b for b in ours.split("\n\n") if "\nevent: token\n" in b]
    assert "".join(json.loads(b.split("data: ", 1)[1])["text"] for b in tokens) == expected
    assert "".join(str(d["delta"]) for d in data(ag_ui) if d["type"] == "TEXT_MESSAGE_CONTENT") == (
        expected
    )
    assert "".join(str(d["delta"]) for d in data(ai_sdk) if d["type"] == "text-delta") == expected
    assert ai_sdk.rstrip().endswith("data: [DONE]")
