"""The core is sans-I/O: importing it loads no event loop, web framework, HTTP client or Redis."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

CORE_MODULES = [
    "events",
    "sse",
    "framing",
    "emitter",
    "batching",
    "state",
    "errors",
    "schema",
    "resume",
]
FORBIDDEN = ["asyncio", "anyio", "starlette", "fastapi", "httpx", "redis", "uvicorn", "sniffio"]


def loaded_after(statement: str) -> set[str]:
    """Top-level module names in sys.modules after running ``statement`` in a fresh interpreter."""
    script = f"import sys, json\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    return set(json.loads(result.stdout.splitlines()[-1]))


@pytest.mark.parametrize("module", CORE_MODULES)
def test_core_module_imports_no_io_stack(module: str) -> None:
    loaded = loaded_after(f"import agent_stream.{module}")
    assert not {name for name in loaded if name.split(".")[0] in FORBIDDEN}


def test_import_agent_stream_loads_only_the_core() -> None:
    loaded = loaded_after("import agent_stream")
    ours = {name for name in loaded if name.split(".")[0] == "agent_stream"}
    allowed = {"agent_stream"} | {f"agent_stream.{m}" for m in CORE_MODULES}
    assert ours <= allowed, f"import agent_stream also loads {sorted(ours - allowed)}"
    assert not {name for name in loaded if name.split(".")[0] in FORBIDDEN}
