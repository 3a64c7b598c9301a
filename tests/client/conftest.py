from __future__ import annotations

from collections.abc import Iterator

import pytest

from .processes import ServerProcess, serve, uvicorn


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def test_app() -> Iterator[ServerProcess]:
    """tests/client/app.py in a uvicorn process of its own (fresh per test module)."""
    with serve(uvicorn("tests.client.app:app", "--no-access-log")) as server:
        yield server
