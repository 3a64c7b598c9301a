"""Blocks that are neither Python nor shell: each language has a check, or is output (text)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml  # type: ignore[import-untyped]  # PyYAML (via mkdocs) ships no types

from tests.docs.blocks import Block, all_blocks, page_blocks, pages

CHECKED_ELSEWHERE = {
    "python": "tests/docs/test_python_blocks.py",
    "sh": "tests/docs/test_shell_blocks.py",
    "bash": "tests/docs/test_shell_blocks.py",
    "shell": "tests/docs/test_shell_blocks.py",
    "console": "tests/docs/test_shell_blocks.py",
    "ts": "tests/packaging/test_npm_packages.py",
    "tsx": "tests/packaging/test_npm_packages.py",
}
CHECKED_HERE = {"json", "nginx", "yaml"}
OUTPUT = {"text"}
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def test_every_block_has_a_language_with_a_check() -> None:
    known = set(CHECKED_ELSEWHERE) | CHECKED_HERE | OUTPUT
    unknown = [
        f"{block.id} ```{block.lang}"
        for page in pages()
        for block in page_blocks(page)
        if block.lang not in known
    ]
    assert not unknown, f"blocks without a checker (see tests/docs/blocks.py): {unknown}"


@pytest.mark.parametrize("block", list(all_blocks("json")), ids=lambda b: b.id)
def test_json_block_parses(block: Block) -> None:
    json.loads(block.code)


@pytest.mark.parametrize("block", list(all_blocks("yaml")), ids=lambda b: b.id)
def test_yaml_block_parses(block: Block) -> None:
    assert yaml.safe_load(block.code) is not None


@pytest.mark.parametrize("block", list(all_blocks("nginx")), ids=lambda b: b.id)
def test_nginx_block_is_a_valid_config(block: Block, tmp_path: Path) -> None:
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\n"
        f"events {{}}\nhttp {{\naccess_log off;\n{block.code}\n}}\n",
        encoding="utf-8",
    )
    result = subprocess.run(
        [NGINX, "-t", "-q", "-p", str(tmp_path), "-c", str(conf)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, f"{block.id}: {result.stderr}"
