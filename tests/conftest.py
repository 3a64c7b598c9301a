"""Shared fixtures. Others may append fixtures here; keep each one small and documented."""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.redis_cluster_helpers import RedisClusterServers

ROOT = Path(__file__).resolve().parent.parent

# Tests never reach a real model: without these the demo (and every server a test starts, which
# inherits this environment) runs the scripted agent. Tests that want the model-agent path set
# a key and point the SDK's base URL at a loopback server.
for _key in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY"):
    os.environ.pop(_key, None)


def original_package_dir() -> Path:
    """Where agent-event-stream 0.1.0 is unpacked (scripts/fetch-original.sh fills it)."""
    configured = os.environ.get("AGENT_STREAM_ORIGINAL_DIR")
    base = Path(configured) if configured else ROOT / ".cache" / "original"
    return base / "agent_stream"


def load_original_module(name: str) -> ModuleType:
    """Load one module of the original package by path, as ``_original_agent_stream_<name>``.

    Its import name is also ``agent_stream``, so it is never installed or imported normally.
    """
    module_name = f"_original_agent_stream_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    path = original_package_dir() / f"{name}.py"
    if not path.is_file():
        pytest.fail(f"{path} missing: run scripts/fetch-original.sh (scripts/test does)")
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def original_emitter_module() -> ModuleType:
    """The original 0.1.0 ``emitter`` module (skips with the fix if it is not unpacked)."""
    return load_original_module("emitter")


@pytest.fixture(scope="session")
def original_batcher_module() -> ModuleType:
    """The original 0.1.0 ``batcher`` module."""
    return load_original_module("batcher")


@pytest.fixture(scope="session")
def demo_recording(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The rotated files of a 1,000-run demo recording with known figures (built once).

    See tests/recording/demo_recording.py for what it holds.
    """
    from tests.recording.demo_recording import make_recording

    return make_recording(tmp_path_factory.mktemp("demo-recording"))


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterServers]:
    """A Redis Cluster shared by the tests that only read and write it: 3 masters with a
    replica each (tests that kill nodes start their own)."""
    from tests.redis_cluster_helpers import RedisClusterServers

    with RedisClusterServers(tmp_path_factory.mktemp("redis-cluster")) as cluster:
        yield cluster
