"""The extras a reader must install are named: every one on the getting-started page, and on a
page that says what to install, those its code blocks need."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from tests.docs.blocks import ROOT, page_blocks, pages
from tests.test_extras import NOT_USER_EXTRAS


def test_the_getting_started_page_lists_every_extra() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = set(project["optional-dependencies"]) - (NOT_USER_EXTRAS - {"all"})
    page = (ROOT / "docs" / "index.md").read_text(encoding="utf-8")
    (listing,) = re.findall(r"Extras: (.*?)\n\n", page, re.S)
    named = set(re.findall(r"`([a-z0-9-]+)`", listing))
    assert extras - named == set(), f"docs/index.md does not name {sorted(extras - named)}"
    assert named - extras == set(), f"docs/index.md names no such extra {sorted(named - extras)}"


# modules a block may import -> the extras that bring what each needs (any one of them)
_NEEDS = {
    "agent_stream.client": {"client", "cli"},
    "agent_stream.server.redis": {"redis"},
    "agent_stream.fastapi": {"fastapi"},
    "agent_stream.starlette": {"server", "fastapi", "redis", "cli", "ag-ui", "prometheus"},
    "agent_stream.bridges.ag_ui": {"ag-ui"},
}


def _pages_with_install_lines() -> list[Path]:
    install = re.compile(r"pip install [^\n]*agent-event-stream\[")
    return [page for page in pages() if install.search(page.read_text(encoding="utf-8"))]


@pytest.mark.parametrize("page", _pages_with_install_lines(), ids=lambda p: p.name)
def test_a_page_that_says_what_to_install_names_every_extra_its_code_needs(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    named = {
        extra
        for extras in re.findall(r"agent-event-stream\[([a-z0-9,-]+)\]", text)
        for extra in extras.split(",")
    }
    missing = {
        f"{block.id} imports {module}: name one of {sorted(extras)}"
        for block in page_blocks(page)
        if block.lang == "python"
        for module, extras in _NEEDS.items()
        if re.search(rf"^(?:from|import) {re.escape(module)}\b", block.code, re.M)
        and not extras & named
    }
    assert not missing, sorted(missing)
