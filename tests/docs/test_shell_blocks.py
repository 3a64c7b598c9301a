"""Every shell block of README.md and docs/ is made of commands that work as written.

A shell block is not run blindly (it may install things or serve forever); each command is
checked in the way that proves it right, and a command of a form listed nowhere here fails:

- ``pip install [-U] 'agent-event-stream[extra,...]' [others]``: ours named, extras that exist;
- ``npm install @agent-stream/x ...``: packages of js/packages that are published (not private);
- ``agent-stream COMMAND [--flag ...]``: the command exists and its help lists every flag used;
- ``scripts/NAME``, ``bash scripts/NAME``: an executable script of the repository;
- ``uvicorn MODULE:app``: the page has a ``MODULE.py`` app block;
- ``mkdocs build|serve``: mkdocs.yml exists; ``python examples/...``: the file exists.

In ```` ```console ```` blocks only the lines after ``$ `` are commands; the rest is their output.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.docs.blocks import ROOT, Block, all_blocks, page_blocks

SHELL_LANGS = ("sh", "bash", "shell", "console")
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def commands(block: Block) -> list[list[str]]:
    """The block's commands as argv lists (continuations joined, comments dropped)."""
    text = block.code.replace("\\\n", " ")
    argvs = []
    for line in text.splitlines():
        if block.lang == "console":
            # a transcript: commands after "$ ", the rest is what they print
            if not line.startswith("$ "):
                continue
            line = line.removeprefix("$ ")
        argv = shlex.split(line.removeprefix("$ "), comments=True)
        while argv and re.fullmatch(r"[A-Z_][A-Z0-9_]*=\S*", argv[0]):
            argv = argv[1:]  # NAME=value before a command sets its environment
        if argv:
            argvs.append(argv)
    return argvs


def check_pip(argv: list[str], block: Block) -> None:
    assert argv[:2] == ["pip", "install"], argv
    specs = [a for a in argv[2:] if not a.startswith("-")]
    ours: list[str] = []
    for spec in specs:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)(?:\[([a-z0-9,-]+)\])?(?:[=<>!~].*)?", spec)
        assert match, f"{block.id}: cannot read the requirement {spec!r}"
        if match.group(1) != PROJECT["name"]:
            continue  # a third-party package installed beside ours
        ours.append(spec)
        for extra in filter(None, (match.group(2) or "").split(",")):
            assert extra in PROJECT["optional-dependencies"], f"{block.id}: no extra {extra!r}"
    assert ours, f"{block.id}: `{shlex.join(argv)}` installs nothing of {PROJECT['name']}"


def _published_npm_packages() -> set[str]:
    names = set()
    for manifest in (ROOT / "js" / "packages").glob("*/package.json"):
        data = json.loads(manifest.read_text(encoding="utf-8"))
        if not data.get("private"):
            names.add(data["name"])
    return names


def check_npm(argv: list[str], block: Block) -> None:
    assert argv[1] in {"install", "i", "add"}, f"{block.id}: npm {argv[1]} is not checked"
    wanted = {a for a in argv[2:] if not a.startswith("-")}
    ours = {name for name in wanted if name.startswith("@agent-stream/")}
    assert ours <= _published_npm_packages(), f"{block.id}: {ours - _published_npm_packages()}"
    # other packages are peers the reader brings (react, react-dom): name them exactly
    assert wanted - ours <= {"react", "react-dom"}, f"{block.id}: {wanted - ours}"


def check_agent_stream(argv: list[str], block: Block) -> None:
    help_text = subprocess.run(
        [sys.executable, "-m", "agent_stream.cli", argv[1], "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert help_text.returncode == 0, f"{block.id}: agent-stream {argv[1]}: {help_text.stderr}"
    for flag in (a.split("=")[0] for a in argv[2:] if a.startswith("--")):
        assert flag in help_text.stdout, f"{block.id}: agent-stream {argv[1]} has no {flag}"


def check_script(argv: list[str], block: Block) -> None:
    path = ROOT / (argv[1] if argv[0] == "bash" else argv[0])
    assert path.is_file(), f"{block.id}: no {path.relative_to(ROOT)}"
    assert path.stat().st_mode & 0o111, f"{block.id}: {path.relative_to(ROOT)} is not executable"


def check_uvicorn(argv: list[str], block: Block) -> None:
    module = argv[1].split(":")[0]
    titles = {b.title for b in page_blocks(block.page) if b.is_app}
    assert f"{module}.py" in titles, f"{block.id}: no {module}.py app block on this page"


def check_mkdocs(argv: list[str], block: Block) -> None:
    assert argv[1] in {"build", "serve"}, argv
    assert (ROOT / "mkdocs.yml").is_file()


def check_python(argv: list[str], block: Block) -> None:
    assert argv[1].startswith("examples/"), f"{block.id}: python {argv[1]} is not checked"
    assert (ROOT / argv[1]).is_file(), f"{block.id}: no {argv[1]}"


CHECKERS: dict[str, Callable[[list[str], Block], None]] = {
    "pip": check_pip,
    "npm": check_npm,
    "agent-stream": check_agent_stream,
    "bash": check_script,
    "uvicorn": check_uvicorn,
    "mkdocs": check_mkdocs,
    "python": check_python,
}


def checker(argv: list[str]) -> Callable[[list[str], Block], None] | None:
    if argv[0].startswith("scripts/"):
        return check_script
    return CHECKERS.get(argv[0])


BLOCKS = list(all_blocks(*SHELL_LANGS))


@pytest.mark.parametrize("block", BLOCKS, ids=lambda b: b.id)
def test_shell_block(block: Block) -> None:
    argvs = commands(block)
    assert argvs, f"{block.id}: an empty shell block"
    for argv in argvs:
        check = checker(argv)
        assert check is not None, f"{block.id}: no check for `{shlex.join(argv)}`"
        check(argv, block)


def test_a_command_no_checker_knows_fails() -> None:
    assert checker(["rm", "-rf", "/"]) is None
    assert checker(["scripts/demo"]) is check_script


def test_a_wrong_extra_is_caught(tmp_path: Path) -> None:
    block = Block(tmp_path / "x.md", 1, "sh", None, "pip install 'agent-event-stream[nope]'\n")
    with pytest.raises(AssertionError, match="no extra 'nope'"):
        check_pip(commands(block)[0], block)
