"""Lazy imports of the LLM SDKs, failing with the extra that installs them."""

from __future__ import annotations

import importlib
from types import ModuleType

from ..errors import UsageError

__all__ = ["require"]


def require(module: str, *, extra: str, user: str) -> ModuleType:
    """Import ``module`` or raise :class:`UsageError` (``missing-extra``) naming the extra."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise UsageError(
            f"{user} needs {module} ({exc}); install it with: "
            f"pip install 'agent-event-stream[{extra}]'",
            code="missing-extra",
        ) from None
