"""The note the recording commands print when a file's last line is incomplete."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

__all__ = ["incomplete_note"]


def incomplete_note(command: str) -> Callable[[str | os.PathLike[str], int, bytes], None]:
    """A callback for ``load_runs(on_incomplete=...)`` that says on stderr what was skipped."""

    def note(path: str | os.PathLike[str], line: int, raw: bytes) -> None:
        print(
            f"agent-stream {command}: {os.fspath(path)}: line {line} is incomplete (a write in "
            f"progress or cut off: {len(raw):,} bytes without a line end); skipped",
            file=sys.stderr,
        )

    return note
