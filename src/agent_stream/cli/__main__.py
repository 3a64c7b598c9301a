"""``python -m agent_stream.cli``: the same as the ``agent-stream`` command."""

from __future__ import annotations

import sys

from . import main

sys.exit(main())
