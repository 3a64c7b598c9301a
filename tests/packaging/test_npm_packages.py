"""The npm packages as published: ``npm pack`` each one, install the tarballs into a fresh
project, and type-check every TypeScript block of README.md, docs/ and the packages' own
README.md files against them under ``moduleResolution`` ``bundler`` and ``nodenext``; require()
and import() both load them.

Marked ``packaging`` (scripts/test runs it). Third-party packages the blocks use (react, the AI
SDK, AG-UI) are installed at the versions the workspace has, so npm's cache serves them.
"""

from __future__ import annotations

import json
import re
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.docs.blocks import ROOT, Block, all_blocks, page_blocks

# building, packing and a fresh npm install take minutes on a loaded machine
pytestmark = [pytest.mark.packaging, pytest.mark.timeout(900)]

JS = ROOT / "js"
PACKAGES = {
    "client": "@agent-stream/client",
    "react": "@agent-stream/react",
    "ag-ui": "@agent-stream/ag-ui",
}
THIRD_PARTY = [
    "react",
    "@types/react",
    "@types/node",
    "typescript",
    "ai",
    "@ai-sdk/react",
    "@ag-ui/client",
    "@ag-ui/core",
    "rxjs",
]
# what npm shows on each package's page is type-checked too
PACKAGE_READMES = sorted((JS / "packages").glob("*/README.md"))
TS_BLOCKS = [
    *all_blocks("ts", "tsx"),
    *(b for page in PACKAGE_READMES for b in page_blocks(page) if b.lang in ("ts", "tsx")),
]
RESOLUTIONS = {
    "bundler": {"module": "ESNext", "moduleResolution": "bundler"},
    "nodenext": {"module": "NodeNext", "moduleResolution": "NodeNext"},
}


def run(argv: list[str], cwd: Path, timeout_s: float = 300) -> str:
    result = subprocess.run(
        argv, cwd=cwd, capture_output=True, text=True, timeout=timeout_s, check=False
    )
    assert result.returncode == 0, f"{argv} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def workspace_version(name: str) -> str:
    manifest = JS / "node_modules" / name / "package.json"
    version: str = json.loads(manifest.read_text(encoding="utf-8"))["version"]
    return version


def block_file(block: Block) -> str:
    stem = re.sub(r"[^A-Za-z0-9]+", "_", block.id)
    return f"{stem}.{block.lang}"


@dataclass(frozen=True)
class Project:
    root: Path
    tarballs: dict[str, Path]
    errors: dict[str, dict[str, list[str]]]  # resolution -> file -> tsc errors


def type_check(root: Path, resolution: str) -> dict[str, list[str]]:
    config = {
        "compilerOptions": {
            "target": "ES2022",
            "lib": ["ES2022", "DOM", "DOM.Iterable"],
            **RESOLUTIONS[resolution],
            "strict": True,
            "noEmit": True,
            "jsx": "react-jsx",
            "types": ["node"],  # the AI SDK's types need Node's (Buffer)
            "skipLibCheck": False,
            "noUncheckedIndexedAccess": True,
        },
        "include": ["src"],
    }
    (root / f"tsconfig.{resolution}.json").write_text(json.dumps(config), encoding="utf-8")
    result = subprocess.run(
        ["npx", "tsc", "-p", f"tsconfig.{resolution}.json"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    errors: dict[str, list[str]] = {}
    for line in result.stdout.splitlines():
        if match := re.match(r"src/([^(]+)\(", line):
            errors.setdefault(match.group(1), []).append(line)
        elif line.startswith("node_modules/@agent-stream/") or not line.startswith("node_modules/"):
            # our packages' declarations are checked too (skipLibCheck off); other libraries'
            # own typing gaps (the AI SDK wants @types/json-schema) are not ours to judge
            if line.strip() and not line.startswith((" ", "Found ")):
                errors.setdefault("<ours>", []).append(line)
    return errors


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    packs = tmp_path_factory.mktemp("packs")
    workspaces = [arg for name in PACKAGES.values() for arg in ("-w", name)]
    run(["npm", "run", "build", *workspaces], cwd=JS)
    run(["npm", "pack", *workspaces, "--pack-destination", str(packs)], cwd=JS)
    tarballs = {name: next(packs.glob(f"agent-stream-{dir_}-*.tgz")) for dir_, name in
                PACKAGES.items()}  # fmt: skip
    root = tmp_path_factory.mktemp("fresh")
    (root / "package.json").write_text(
        json.dumps({"name": "fresh", "private": True, "type": "module"}), encoding="utf-8"
    )
    deps = [f"{name}@{workspace_version(name)}" for name in THIRD_PARTY]
    run(
        ["npm", "install", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error",
         *map(str, tarballs.values()), *deps],
        cwd=root,
        timeout_s=600,
    )  # fmt: skip
    src = root / "src"
    src.mkdir()
    for block in TS_BLOCKS:
        (src / block_file(block)).write_text(block.code, encoding="utf-8")
    # a CommonJS module: its imports become require() calls and take the packages' require types
    (src / "commonjs_consumer.cts").write_text(
        'import { AgentStreamClient } from "@agent-stream/client";\n'
        'import { useAgentStream } from "@agent-stream/react";\n'
        "export const made: AgentStreamClient = new AgentStreamClient();\n"
        "export const hook: typeof useAgentStream = useAgentStream;\n",
        encoding="utf-8",
    )
    errors = {resolution: type_check(root, resolution) for resolution in RESOLUTIONS}
    return Project(root=root, tarballs=tarballs, errors=errors)


@pytest.mark.parametrize("name", PACKAGES.values())
def test_tarball_has_readme_license_both_builds_and_types(project: Project, name: str) -> None:
    with tarfile.open(project.tarballs[name]) as archive:
        files = set(archive.getnames())
        manifest = json.loads(archive.extractfile("package/package.json").read())  # type: ignore[union-attr]
    for path in ["README.md", "LICENSE", "dist/index.js", "dist/index.d.ts", "dist/cjs/index.js",
                 "dist/cjs/index.d.ts", "dist/cjs/package.json"]:  # fmt: skip
        assert f"package/{path}" in files, f"{name} lacks {path}"
    assert manifest["sideEffects"] is False
    for subpath, entry in manifest["exports"].items():
        if subpath == "./package.json":
            continue
        stem = "index" if subpath == "." else subpath.removeprefix("./")
        assert entry["import"] == {"types": f"./dist/{stem}.d.ts", "default": f"./dist/{stem}.js"}
        assert entry["require"] == {
            "types": f"./dist/cjs/{stem}.d.ts",
            "default": f"./dist/cjs/{stem}.js",
        }
        for path in [*entry["import"].values(), *entry["require"].values()]:
            assert f"package/{path.removeprefix('./')}" in files, f"{name} lacks {path}"
        if subpath != ".":
            # TypeScript's node10 resolution reads no exports map: typesVersions finds the types
            versions = manifest["typesVersions"]["*"]
            assert versions[stem] == [f"./dist/cjs/{stem}.d.ts"], f"{name} {subpath}"
    for dep, spec in manifest.get("dependencies", {}).items():
        if dep.startswith("@agent-stream/"):
            assert spec.startswith("^"), f"{name} pins {dep} to {spec}: use a range"


def entry_points(tarball: Path, name: str) -> list[str]:
    """The import specifiers of a packed package: its name and each subpath of its exports."""
    with tarfile.open(tarball) as archive:
        manifest = json.loads(archive.extractfile("package/package.json").read())  # type: ignore[union-attr]
    subpaths = [s for s in manifest["exports"] if s != "./package.json"]
    return [name if s == "." else f"{name}/{s.removeprefix('./')}" for s in subpaths]


@pytest.mark.parametrize("name", PACKAGES.values())
def test_every_entry_point_loads_with_require_and_import(project: Project, name: str) -> None:
    for spec in entry_points(project.tarballs[name], name):
        # each entry point exports something in both module systems, and the same names
        names = "Object.keys(m).filter((k) => k !== 'default' && k !== '__esModule').sort()"
        cjs = run(["node", "-e", f"const m = require('{spec}'); console.log({names})"],
                  cwd=project.root)  # fmt: skip
        esm = run(["node", "--input-type=module", "-e",
                   f"const m = await import('{spec}'); console.log({names})"],
                  cwd=project.root)  # fmt: skip
        assert cjs == esm and cjs.strip() not in ("", "[]"), (spec, cjs, esm)


def test_both_module_systems_load_the_packages(project: Project) -> None:
    cjs = (
        "const c = require('@agent-stream/client'); const r = require('@agent-stream/react');"
        "if (typeof c.AgentStreamClient !== 'function' || typeof r.useAgentStream !== 'function')"
        " process.exit(1);"
    )
    run(["node", "-e", cjs], cwd=project.root)
    esm = (
        "const c = await import('@agent-stream/client');"
        "const r = await import('@agent-stream/react');"
        "if (typeof c.AgentStreamClient !== 'function' || typeof r.useAgentStream !== 'function')"
        " process.exit(1);"
    )
    run(["node", "--input-type=module", "-e", esm], cwd=project.root)


@pytest.mark.parametrize("resolution", RESOLUTIONS)
def test_a_commonjs_consumer_type_checks(project: Project, resolution: str) -> None:
    assert "<ours>" not in project.errors[resolution], project.errors[resolution]["<ours>"]
    assert "commonjs_consumer.cts" not in project.errors[resolution], project.errors[resolution]


def test_there_are_typescript_blocks() -> None:
    readme = [b for b in TS_BLOCKS if b.page == ROOT / "README.md"]
    assert readme and any("useAgentStream" in b.code for b in readme)
    packages = {b.page.parent.name for b in TS_BLOCKS if b.page in PACKAGE_READMES}
    assert packages == {"client", "react", "ag-ui"}, packages


@pytest.mark.parametrize("resolution", RESOLUTIONS)
@pytest.mark.parametrize("block", TS_BLOCKS, ids=lambda b: b.id)
def test_typescript_block_type_checks(project: Project, block: Block, resolution: str) -> None:
    errors = project.errors[resolution].get(block_file(block), [])
    assert not errors, "\n".join(errors)
