"""The bridge encoders are sans-I/O like the core: no event loop, framework or HTTP client."""

from __future__ import annotations

import pytest

from tests.test_layers import FORBIDDEN, loaded_after


@pytest.mark.parametrize("module", ["_ag_ui_encoder", "_ai_sdk_encoder", "_blocks"])
def test_encoder_imports_no_io_stack(module: str) -> None:
    loaded = loaded_after(f"import agent_stream.bridges.{module}")
    assert not {name for name in loaded if name.split(".")[0] in FORBIDDEN}
    assert "ag_ui" not in loaded and "pydantic" not in loaded
