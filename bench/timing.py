"""Round-robin timing shared by the encode benchmarks: each round runs every contender once,
after a full collection and with the collector off, so no contender pays for another's garbage."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Mapping


def measure(
    contenders: Mapping[str, Callable[[], object]],
    rounds: int,
    *,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, list[float]]:
    """The time of each contender on ``clock`` (wall time unless told, e.g.
    ``time.process_time`` for this process's CPU time, which other processes on a shared
    machine do not add to), ``rounds`` times, interleaved round by round."""
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, run in contenders.items():
            gc.collect()
            gc.disable()
            try:
                start = clock()
                run()
                times[name].append(clock() - start)
            finally:
                gc.enable()
    return times
