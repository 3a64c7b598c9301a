"""The adapters import their SDK lazily, and a missing SDK names the extra that installs it."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator

import pytest

from agent_stream.errors import UsageError
from tests.test_layers import loaded_after

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.parametrize("module", ["", ".anthropic", ".openai", ".langgraph"])
def test_importing_an_adapter_loads_no_sdk(module):
    loaded = loaded_after(f"import agent_stream.adapters{module}")
    sdks = {"anthropic", "openai", "langgraph", "langchain_core", "httpx2"}
    assert not {name for name in loaded if name.split(".")[0] in sdks}


@pytest.mark.parametrize(
    ("module", "sdk", "extra"),
    [
        ("anthropic", "anthropic", "anthropic"),
        ("openai", "openai", "openai"),
        ("langgraph", "langchain_core", "langgraph"),
    ],
)
async def test_a_missing_sdk_names_its_extra(monkeypatch, module, sdk, extra):
    adapter = __import__(f"agent_stream.adapters.{module}", fromlist=["events"])
    monkeypatch.setitem(sys.modules, sdk, None)  # makes `import sdk` raise ImportError

    async def nothing() -> AsyncIterator[object]:
        return
        yield

    with pytest.raises(UsageError, match=rf"pip install 'agent-event-stream\[{extra}\]'") as caught:
        await anext(adapter.events(nothing()))
    assert caught.value.code == "missing-extra"
