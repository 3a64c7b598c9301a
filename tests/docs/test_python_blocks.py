"""Every Python block of README.md and docs/ runs: apps under real uvicorn, scripts against them.

Blocks run in page order; the app a page's scripts talk to is started once and kept until a block
needs another one, so a page with one app and five scripts starts one server, not six.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
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

BLOCKS = [b for b in all_blocks("python") if b.is_app or b.is_script]


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


class LiveApp:
    """The server the current block needs, started on first use and kept for the next blocks."""

    def __init__(self, factory: pytest.TempPathFactory) -> None:
        self.factory = factory
        self.key: tuple[Path, int | None] | None = None
        self.origin = ""
        self.where = Path()
        self.redis_url = DOCS_REDIS
        self.stack = ExitStack()

    def serve(self, app: Block | None, page_block: Block) -> None:
        key = (page_block.page, None if app is None else app.line)
        if key == self.key:
            return
        self.stack.close()
        self.key = None
        self.where = self.factory.mktemp("docs")
        self.redis_url = self.stack.enter_context(page_redis(page_block, self.where))
        write_page_modules(page_block, self.where, self.redis_url)
        self.origin = self.stack.enter_context(serving(app, self.where, self.redis_url))
        self.key = key


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApp]:
    app = LiveApp(tmp_path_factory)
    with app.stack:
        yield app
    app.stack.close()


def test_the_pages_have_blocks_of_both_kinds() -> None:
    assert any(b.is_app for b in BLOCKS) and any(b.is_script for b in BLOCKS)


@pytest.mark.timeout(APP_START_S + 120)
@pytest.mark.parametrize("block", BLOCKS, ids=lambda b: b.id)
def test_python_block(block: Block, live: LiveApp) -> None:
    if block.is_app:
        live.serve(block, block)
        # any answer at all from the app's own routes: it started and speaks HTTP
        assert httpx.get(live.origin + "/", timeout=10).status_code < 500
        return
    assert not re.search(r"^app\s*[:=]", block.code, re.M), (
        f'{block.id} defines an app: mark it ```python title="app.py" so that it is served'
    )
    live.serve(app_for(block), block)
    script = live.where / f"script_{block.line}.py"
    code = block.code.replace(DEMO_ORIGIN, live.origin).replace(DOCS_REDIS, live.redis_url)
    script.write_text(code, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=live.where,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=dict(os.environ, PYTHONPATH=str(live.where)),
    )
    assert result.returncode == 0, f"{block.id} failed:\n{result.stdout}\n{result.stderr}"
