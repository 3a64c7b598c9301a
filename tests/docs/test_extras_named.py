"""The getting-started page names every extra a user can install, so none is found only in
pyproject.toml."""

from __future__ import annotations

import re
import tomllib

from tests.docs.blocks import ROOT
from tests.test_extras import NOT_USER_EXTRAS


def test_the_getting_started_page_lists_every_extra() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = set(project["optional-dependencies"]) - (NOT_USER_EXTRAS - {"all"})
    page = (ROOT / "docs" / "index.md").read_text(encoding="utf-8")
    (listing,) = re.findall(r"Extras: (.*?)\n\n", page, re.S)
    named = set(re.findall(r"`([a-z0-9-]+)`", listing))
    assert extras - named == set(), f"docs/index.md does not name {sorted(extras - named)}"
    assert named - extras == set(), f"docs/index.md names no such extra {sorted(named - extras)}"
