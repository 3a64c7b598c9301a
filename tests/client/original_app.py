"""A server built on the original agent-event-stream 0.1.0 (no ids, no priming, no resume).

The original is loaded by file path under the name ``aes_original`` (its import name,
``agent_stream``, is ours), from the unpacked copy scripts/fetch-original.sh leaves in .cache.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType
from typing import Any

from fastapi import FastAPI, Request
from starlette.responses import Response

ORIGINAL = Path(__file__).resolve().parents[2] / ".cache" / "original" / "agent_stream"
TEXT = "Héllo — 日本語 🎉 "


def load_original() -> ModuleType:
    """The original package as ``aes_original`` (loaded once)."""
    if "aes_original" in sys.modules:
        return sys.modules["aes_original"]
    spec = importlib.util.spec_from_file_location(
        "aes_original", ORIGINAL / "__init__.py", submodule_search_locations=[str(ORIGINAL)]
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["aes_original"] = module
    spec.loader.exec_module(module)
    return module


original = load_original()
original_fastapi = importlib.import_module("aes_original.fastapi")

app = FastAPI()


@app.post("/chat")
async def chat(request: Request) -> Response:
    knobs: dict[str, Any] = json.loads(await request.body() or b"{}")
    tokens = int(knobs.get("tokens", 10))
    drop_after = int(knobs.get("drop_after", -1))

    async def generate() -> AsyncIterator[str]:
        emitter = original.AgentStreamEmitter()
        yield emitter.turn(1, total_tools=1)
        yield emitter.tool_use("search", "tu_1", "query=x")
        yield emitter.tool_result("search", "tu_1", "2 results", 30)
        yield emitter.progress("search", 100, "done searching")
        for i in range(tokens):
            if i == drop_after:
                return
            yield emitter.token(f"{TEXT}{i} ")
        yield emitter.done(message_id="m1", num_turns=1, tool_count=1, model="orig")

    response: Response = original_fastapi.agent_stream_response(generate())
    return response
