"""Hatch build hook: put the real demo page into every sdist and wheel.

The page (``js/demo``, built by Vite into ``src/agent_stream/demo/static/``) is git-ignored, so a
build from a clean clone has to make it. In a checkout (``js/package.json`` exists) the hook runs
``npm ci`` when ``js/node_modules`` is missing, then ``npm run build``; from an unpacked sdist
(no ``js/``) it uses the page the sdist carries. Either way the build fails, saying why, when
there is no page: a wheel whose ``agent-stream demo`` serves a placeholder is never shipped.
Editable installs (``pip install -e``) skip the hook; ``scripts/setup`` builds the page for them.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

_NO_NODE = (
    "building agent-event-stream needs Node.js (>= 20.19) and npm: the build runs "
    "`npm ci && npm run build` in js/ to make the demo page that `agent-stream demo` serves. "
    "Install Node.js (https://nodejs.org or your system's package manager) and build again."
)


class DemoPageBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    """Build (or require) the demo page before files are collected."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name == "wheel" and version == "editable":
            return
        root = Path(self.root)
        js = root / "js"
        if (js / "package.json").is_file():
            _build_page(js)
        _check_page(root / "src" / "agent_stream" / "demo" / "static")


def _build_page(js: Path) -> None:
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise RuntimeError(_NO_NODE)
    steps = [] if (js / "node_modules").is_dir() else [[npm, "ci", "--no-audit", "--no-fund"]]
    steps.append([npm, "run", "build"])
    for argv in steps:
        result = subprocess.run(argv, cwd=js, check=False)
        if result.returncode != 0:
            raise RuntimeError(
                f"building the demo page failed: `{' '.join(argv[1:])}` in {js} exited with "
                f"{result.returncode} (its output is above)"
            )


def _check_page(static: Path) -> None:
    page = static / "index.html"
    if not page.is_file():
        raise RuntimeError(
            f"the demo page is missing ({page}); build it from a checkout with `npm run build` "
            "in js/ (this sdist was made without it)"
        )
    html = page.read_text(encoding="utf-8")
    assets = re.findall(r'(?:src|href)="(?:\./|/)?(assets/[^"]+)"', html)
    missing = [asset for asset in assets if not (static / asset).is_file()]
    if not assets or missing:
        raise RuntimeError(f"the demo page {page} is incomplete: missing {missing or 'assets'}")
