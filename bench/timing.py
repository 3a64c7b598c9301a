"""Round-robin timing shared by the encode benchmarks: each round runs every contender once,
after a full collection and with the collector off, so no contender pays for another's garbage."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable


def measure(contenders: dict[str, Callable[[], object]], rounds: int) -> dict[str, list[float]]:
    """Wall time of each contender, ``rounds`` times, interleaved round by round."""
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, run in contenders.items():
            gc.collect()
            gc.disable()
            try:
                start = time.perf_counter()
                run()
                times[name].append(time.perf_counter() - start)
            finally:
                gc.enable()
    return times
