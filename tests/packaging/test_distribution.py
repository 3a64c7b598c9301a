"""The distribution a stranger installs: built from a clean copy, installed into fresh venvs.

Marked ``packaging`` (scripts/test runs these as their own step; the default pytest run skips the
marker because a build with ``npm ci`` takes a while). Network use: pip installs the extras'
dependencies from the package index (cached after the first run).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.client.processes import serve
from tests.redis_helpers import free_port

pytestmark = [pytest.mark.packaging, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]
PAGE_MARKERS = ('<div id="root">', "<title>agent-stream demo</title>")


@dataclass(frozen=True)
class Dist:
    wheel: Path
    sdist: Path


def run(argv: list[str | Path], *, cwd: Path | None = None, timeout_s: float = 300) -> str:
    result = subprocess.run(
        [str(arg) for arg in argv],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    assert result.returncode == 0, f"{argv} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def clean_copy(dest: Path) -> Path:
    """The files a clone would have (tracked and new, not ignored), as they are in the tree."""
    listed = run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT)
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if not source.exists() and not source.is_symlink():
            continue  # deleted in the working tree, not yet committed
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            target.symlink_to(source.readlink())
        else:
            shutil.copy2(source, target)
    return dest


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Dist:
    tree = clean_copy(tmp_path_factory.mktemp("clone"))
    assert not (tree / "src/agent_stream/demo/static").exists()
    out = tmp_path_factory.mktemp("dist")
    run([sys.executable, "-m", "build", "--outdir", out, tree], timeout_s=600)
    (wheel,) = out.glob("agent_event_stream-0.2.0-py3-none-any.whl")
    (sdist,) = out.glob("agent_event_stream-0.2.0.tar.gz")
    return Dist(wheel=wheel, sdist=sdist)


def venv(path: Path) -> Path:
    run([sys.executable, "-m", "venv", path])
    return path / "bin"


def test_the_wheel_holds_the_page_the_schema_and_py_typed(dist: Dist) -> None:
    names = set(zipfile.ZipFile(dist.wheel).namelist())
    page = zipfile.ZipFile(dist.wheel).read("agent_stream/demo/static/index.html").decode()
    assets = re.findall(r'(?:src|href)="\./(assets/[^"]+)"', page)
    assert assets and {f"agent_stream/demo/static/{a}" for a in assets} <= names
    assert {"agent_stream/py.typed", "agent_stream/events.schema.json"} <= names
    assert "agent_stream/recording/timeline.css" in names  # agent-stream report inlines it
    assert "agent_event_stream-0.2.0.dist-info/licenses/LICENSE" in names
    schema = zipfile.ZipFile(dist.wheel).read("agent_stream/events.schema.json")
    assert schema == (ROOT / "spec/events.schema.json").read_bytes()


def test_the_sdist_holds_the_page_and_builds_a_wheel_without_node(
    dist: Dist, tmp_path: Path
) -> None:
    with tarfile.open(dist.sdist) as archive:
        names = set(archive.getnames())
        archive.extractall(tmp_path, filter="tar")
    top = "agent_event_stream-0.2.0"
    assert {
        f"{top}/src/agent_stream/demo/static/index.html",
        f"{top}/src/agent_stream/py.typed",
        f"{top}/spec/events.schema.json",
        f"{top}/LICENSE",
    } <= names
    assert not any(name.startswith(f"{top}/js/") for name in names)
    # only the package, the spec and the project's own top-level files (no stray README.md of
    # bench/ or examples/, whose code the sdist does not carry)
    top_files = {"README.md", "CHANGELOG.md", "LICENSE", "hatch_build.py", "pyproject.toml",
                 "PKG-INFO", ".gitignore"}  # fmt: skip
    strays = {
        name
        for name in names
        if name != top
        and not name.startswith((f"{top}/src/agent_stream/", f"{top}/spec/"))
        and name.removeprefix(f"{top}/") not in top_files
    }
    assert not strays, strays
    # the page it carries is enough: no js/ in an sdist, so the hook does not call npm
    out = tmp_path / "out"
    run([sys.executable, "-m", "build", "--wheel", "--outdir", out, tmp_path / top])
    (wheel,) = out.glob("*.whl")
    assert "agent_stream/demo/static/index.html" in zipfile.ZipFile(wheel).namelist()


@pytest.fixture(scope="module")
def cli_venv(dist: Dist, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    bin_dir = venv(tmp_path_factory.mktemp("venv") / "cli")
    run([bin_dir / "pip", "install", "-q", f"{dist.wheel}[cli]"])
    yield bin_dir


def test_agent_stream_demo_serves_the_real_page(cli_venv: Path) -> None:
    where = run([cli_venv / "python", "-c", "import agent_stream; print(agent_stream.__file__)"])
    assert "site-packages" in where
    port = free_port()
    argv = [str(cli_venv / "agent-stream"), "demo", "--host", "127.0.0.1", "--port", str(port)]
    with serve(argv, ready=b"Uvicorn running") as server:
        page = httpx.get(server.url + "/", timeout=10)
        assert page.status_code == 200
        assert all(marker in page.text for marker in PAGE_MARKERS), page.text
        (script,) = re.findall(r'<script [^>]*src="\.(/assets/[^"]+)"', page.text)
        asset = httpx.get(server.url + script, timeout=10)
        assert asset.status_code == 200
        assert "javascript" in asset.headers["content-type"]
        assert "data-testid" in asset.text or "agent-text" in asset.text


def test_a_demo_run_streams_to_done_and_the_tools_read_its_recording(
    cli_venv: Path, tmp_path: Path
) -> None:
    tool = cli_venv / "agent-stream"
    recording = tmp_path / "runs.jsonl"
    port = free_port()
    argv = [str(tool), "demo", "--port", str(port), "--record", str(recording)]
    with serve(argv, ready=b"Uvicorn running") as server:
        body = {"message": "hi", "tokens": 3, "tools": 1}
        answer = httpx.post(server.url + "/api/chat", json=body, timeout=30)
        assert answer.status_code == 200
        types = re.findall(r"^event: (\S+)$", answer.text, re.M)
        assert types[0] == "start" and types[-1] == "done" and types.count("done") == 1, types
        tailed = run([tool, "tail", server.url + "/api/chat", "--jsonl", "-d", '{"message":"x"}'])
        assert '"done"' in tailed.splitlines()[-1]
    # the server has stopped: its recorder is closed and the file whole
    assert "OK" in run([tool, "validate", recording])
    assert "tool calls" in run([tool, "stats", recording])
    assert "ends with done" in run([tool, "replay", recording])
    run([tool, "report", recording, "-o", tmp_path / "report.html"])
    assert "<html" in (tmp_path / "report.html").read_text(encoding="utf-8")
    # [cli] has no DuckDB: query names the extra that brings it
    query = subprocess.run(
        [tool, "query", "SELECT count(*) FROM runs", recording],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (query.returncode, query.stderr.strip()) == (
        2,
        "agent-stream query needs duckdb: pip install 'agent-event-stream[query]'",
    )


def test_the_schema_loads_as_package_data(cli_venv: Path) -> None:
    code = "from agent_stream.schema import load_schema; print(sorted(load_schema()['$defs']))"
    assert "'token'" in run([cli_venv / "python", "-c", code])


def test_upgrading_an_01_install_replaces_it_in_place(dist: Dist, tmp_path: Path) -> None:
    bin_dir = venv(tmp_path / "old")
    run([bin_dir / "pip", "install", "-q", "agent-event-stream==0.1.0"])
    run([bin_dir / "pip", "install", "-q", "-U", "--find-links", dist.wheel.parent,
         "agent-event-stream"])  # fmt: skip
    shown = run([bin_dir / "pip", "show", "agent-event-stream"])
    assert "Version: 0.2.0" in shown
    code = (
        "from agent_stream import AgentStreamEmitter, TokenBatcher\n"
        "from agent_stream.batcher import TokenBatcher as B\n"
        "import agent_stream\n"
        "assert B is TokenBatcher and agent_stream.__version__ == '0.2.0'\n"
        "print(AgentStreamEmitter().token('hi'), end='')\n"
    )
    frame = run([bin_dir / "python", "-c", code])
    assert "event: token" in frame and '"text":"hi"' in frame.replace(" ", "")
