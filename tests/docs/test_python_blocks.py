"""Every Python block of README.md and docs/ runs: apps under real uvicorn, scripts against them."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.docs.blocks import (
    DEMO_ORIGIN,
    ROOT,
    Block,
    all_blocks,
    app_for,
    modules_for,
    page_blocks,
)
from tests.redis_helpers import RedisServer
from tests.uvicorn_helpers import UvicornProcess

# a block naming this Redis gets a real redis-server of its own, at a free port, instead
DOCS_REDIS = "redis://127.0.0.1:6379/0"

APP_START_S = 90.0
SCRIPTS = [b for b in all_blocks("python") if b.is_script]
APPS = [b for b in all_blocks("python") if b.is_app]


def write_page_modules(block: Block, where: Path, redis_url: str) -> None:
    for module in modules_for(block):
        assert module.title is not None
        (where / module.title).write_text(module.code.replace(DOCS_REDIS, redis_url), "utf-8")


@contextmanager
def page_redis(block: Block, where: Path) -> Iterator[str]:
    """A redis-server when the page's blocks name one; yields the URL to put in their place."""
    if not any(DOCS_REDIS in b.code for b in page_blocks(block.page)):
        yield DOCS_REDIS
        return
    (where / "redis").mkdir()
    with RedisServer(where / "redis") as redis:
        yield redis.url


@contextmanager
def serving(app: Block | None, where: Path, redis_url: str) -> Iterator[str]:
    """The app ``app`` (or the demo app) under uvicorn; yields its origin."""
    env = {"PYTHONPATH": os.pathsep.join([str(where), str(ROOT / "src")])}
    if app is None:
        target, factory = "agent_stream.demo.app:create_app", True
    else:
        assert app.title is not None
        (where / app.title).write_text(app.code.replace(DOCS_REDIS, redis_url), "utf-8")
        target, factory = f"{app.title.removesuffix('.py')}:app", False
    # an app importing an LLM SDK (docs/adapters.md) can take > 20 s to start on a loaded machine
    with UvicornProcess(
        target, factory=factory, env=env, cwd=where, ready_timeout_s=APP_START_S
    ) as server:
        yield server.url


def test_the_pages_have_blocks_of_both_kinds() -> None:
    assert SCRIPTS and APPS


@pytest.mark.parametrize("block", APPS, ids=lambda b: b.id)
def test_app_block_serves(block: Block, tmp_path: Path) -> None:
    with page_redis(block, tmp_path) as redis_url:
        write_page_modules(block, tmp_path, redis_url)
        with serving(block, tmp_path, redis_url) as origin:
            # any answer at all from the app's own routes: it started and speaks HTTP
            assert httpx.get(origin + "/", timeout=10).status_code < 500


@pytest.mark.parametrize("block", SCRIPTS, ids=lambda b: b.id)
def test_script_block_runs(block: Block, tmp_path: Path) -> None:
    assert not re.search(r"^app\s*[:=]", block.code, re.M), (
        f'{block.id} defines an app: mark it ```python title="app.py" so that it is served'
    )
    with page_redis(block, tmp_path) as redis_url:
        write_page_modules(block, tmp_path, redis_url)
        with serving(app_for(block), tmp_path, redis_url) as origin:
            script = tmp_path / "script.py"
            code = block.code.replace(DEMO_ORIGIN, origin).replace(DOCS_REDIS, redis_url)
            script.write_text(code, encoding="utf-8")
            result = subprocess.run(
                [sys.executable, str(script)],
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
                env=dict(os.environ, PYTHONPATH=str(tmp_path)),
            )
    assert result.returncode == 0, f"{block.id} failed:\n{result.stdout}\n{result.stderr}"
