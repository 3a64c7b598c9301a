"""Optional dependencies: a missing extra fails with the ``pip install`` line that fixes it."""

from __future__ import annotations

__all__ = ["DISTRIBUTION", "install_hint", "missing_extra"]

DISTRIBUTION = "agent-event-stream"


def install_hint(extra: str) -> str:
    """The command that installs ``extra``: ``pip install 'agent-event-stream[redis]'``."""
    return f"pip install '{DISTRIBUTION}[{extra}]'"


def missing_extra(what: str, exc: ImportError, extra: str) -> ModuleNotFoundError:
    """The error for ``what`` failing to import ``exc.name``, naming the extra to install."""
    missing = exc.name or "a package"
    return ModuleNotFoundError(f"{what} needs {missing}: {install_hint(extra)}", name=exc.name)
