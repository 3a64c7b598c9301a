"""The fenced code blocks of README.md and docs/**/*.md, and what kind of check each one gets.

Conventions for writers (the harness enforces them; a block no checker accepts fails its test):

- ```` ```python title="app.py" ````: an application module (any title ending in ``app.py``). It
  must define ``app``; the harness serves it with real uvicorn on a free loopback port.
- ```` ```python ```` (no title): a complete script (imports, ``asyncio.run(main())``). It runs with
  ``python`` against the nearest ``app.py`` block above it on the same page, or the demo app
  (``agent-stream demo``) when there is none; ``http://127.0.0.1:8000`` in the script is
  rewritten to that server's address. It must exit 0 within a minute, without API keys.
- ```` ```python title="other.py" ````: a module the page's app or scripts import; written next to
  them, not run by itself.
- ```` ```ts ```` / ```` ```tsx ````: a module type-checked against the packed npm packages in a
  fresh project (``moduleResolution`` ``bundler`` and ``nodenext``).
- ```` ```sh ````: one command a line (``#`` comments allowed; in ```` ```console ```` the commands
  follow ``$ `` and the other lines are their output); each must be a form the harness can check
  (``pip install``, ``npm install``, ``agent-stream ...``, ``scripts/...``, ``uvicorn app:app``,
  ``mkdocs ...``). See tests/docs/test_shell_blocks.py.
- ```` ```json ```` and ```` ```yaml ```` must parse; ```` ```nginx ```` is checked by ``nginx -t``
  inside an ``http {}`` block; ```` ```text ```` is output shown to the reader and is not run.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from markdown_it import MarkdownIt

ROOT = Path(__file__).resolve().parents[2]
DEMO_ORIGIN = "http://127.0.0.1:8000"


@dataclass(frozen=True)
class Block:
    """One fenced block: where it is, its language and attributes, its text."""

    page: Path
    line: int
    lang: str
    title: str | None
    code: str

    @property
    def id(self) -> str:
        page = self.page.relative_to(ROOT) if self.page.is_relative_to(ROOT) else self.page
        return f"{page}:{self.line}"

    @property
    def is_app(self) -> bool:
        return self.lang == "python" and self.title is not None and self.title.endswith("app.py")

    @property
    def is_script(self) -> bool:
        return self.lang == "python" and self.title is None


def pages() -> list[Path]:
    """README.md and every page under docs/ (new pages are picked up without registration)."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def _attributes(info: str) -> tuple[str, dict[str, str]]:
    # ```python title="app.py" (pymdownx.superfences / MkDocs Material syntax)
    parts = shlex.split(info)
    lang = parts[0] if parts else ""
    attrs = dict(part.split("=", 1) for part in parts[1:] if "=" in part)
    return lang, attrs


def page_blocks(page: Path) -> list[Block]:
    """The fenced blocks of one page, in order."""
    tokens = MarkdownIt("commonmark").parse(page.read_text(encoding="utf-8"))
    blocks = []
    for token in tokens:
        if token.type != "fence" or token.map is None:
            continue
        lang, attrs = _attributes(token.info)
        blocks.append(Block(page, token.map[0] + 1, lang, attrs.get("title"), token.content))
    return blocks


def all_blocks(*langs: str) -> Iterator[Block]:
    """Every block of every page in one of ``langs``."""
    for page in pages():
        for block in page_blocks(page):
            if block.lang in langs:
                yield block


def app_for(block: Block) -> Block | None:
    """The app module a script block talks to: the nearest ``app.py`` block above it."""
    found = None
    for candidate in page_blocks(block.page):
        if candidate.line >= block.line:
            break
        if candidate.is_app:
            found = candidate
    return found


def modules_for(block: Block) -> list[Block]:
    """The helper modules (titled, non-app Python blocks) of ``block``'s page."""
    return [
        b
        for b in page_blocks(block.page)
        if b.lang == "python" and b.title is not None and not b.is_app
    ]
