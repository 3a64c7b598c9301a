"""A missing optional dependency fails with the extra to install, for every module we ship.

Each case runs in a fresh interpreter whose import system refuses one third-party package (and
its submodules), as if its extra were not installed; then every ``agent_stream`` module is
imported. A module may import fine (it does not need the package) or raise an ImportError whose
message holds the ``pip install 'agent-event-stream[...]'`` line; nothing else.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORE = {"msgspec"}
# extras that only serve our own development, not a user's import
NOT_USER_EXTRAS = {"dev", "bench", "docs", "all"}

# the start of a script run as `python -c SCRIPT PACKAGE ...`: PACKAGE cannot be imported
REFUSE_PACKAGE = r"""
import importlib, importlib.abc, sys

blocked = sys.argv[1]

class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == blocked or name.startswith(blocked + "."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, Refuse())
"""

_SCRIPT = (
    REFUSE_PACKAGE
    + r"""
import json, pkgutil
import agent_stream

names = sorted(
    info.name
    for info in pkgutil.walk_packages(agent_stream.__path__, "agent_stream.", lambda _: None)
    if not info.name.endswith("__main__")
)
report = {}
for name in names:
    try:
        importlib.import_module(name)
    except ImportError as exc:
        report[name] = str(exc)
    else:
        report[name] = None
print(json.dumps(report))
"""
)


def _user_extra_packages() -> list[str]:
    """Import names of every package an extra users install brings in directly."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    top_levels = metadata.packages_distributions()
    dists: set[str] = set()
    for extra, requirements in project["optional-dependencies"].items():
        if extra in NOT_USER_EXTRAS:
            continue
        for requirement in requirements:
            name = requirement.split("[")[0].split(">")[0].split("=")[0].split("<")[0].strip()
            if name != project["name"]:
                dists.add(name.lower().replace("_", "-"))
    imports = {
        module
        for module, owners in top_levels.items()
        if any(owner.lower().replace("_", "-") in dists for owner in owners)
        and not module.startswith("_")
    }
    return sorted(imports - CORE)


def test_the_packages_of_the_extras_are_found() -> None:
    found = _user_extra_packages()
    assert {"anyio", "starlette", "httpx", "redis", "uvicorn", "rich"} <= set(found)


@pytest.mark.parametrize("blocked", _user_extra_packages())
def test_every_module_names_the_extra_when_a_package_is_missing(blocked: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", _SCRIPT, blocked],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report: dict[str, str | None] = json.loads(result.stdout.splitlines()[-1])
    assert "agent_stream.server" in report
    unclear = {
        name: message
        for name, message in report.items()
        if message is not None and "pip install 'agent-event-stream[" not in message
    }
    assert not unclear, f"without {blocked}: {unclear}"


@pytest.mark.parametrize(
    ("module", "blocked", "extra"),
    [
        ("agent_stream.fastapi", "anyio", "fastapi"),
        ("agent_stream.starlette", "starlette", "server"),
        ("agent_stream.client", "httpx", "client"),
    ],
)
def test_public_entry_points_name_their_own_extra(module: str, blocked: str, extra: str) -> None:
    script = _SCRIPT.replace("names = sorted(", "names = [sys.argv[2]] or sorted(")
    result = subprocess.run(
        [sys.executable, "-c", script, blocked, module],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    report = json.loads(result.stdout.splitlines()[-1])
    assert report[module] == (
        f"{module} needs {blocked}: pip install 'agent-event-stream[{extra}]'"
    )
