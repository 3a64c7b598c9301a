"""In process: CPU per event of ``bench_server``'s routes, the ASGI app called with a no-op send.

No socket and no client: what is left is the framework, the source and the server's own work
per event, which is what a paced stream (one wake-up per event) costs beyond the write. Runs
under uvloop; every round streams ``--events`` events of the ``bench/corpus.py`` run through
the same FastAPI app as ``bench_server.py`` (``--paced``: a checkpoint after every event).

``--once ROUTE`` streams one request and prints nothing: for an instruction count, run it
under valgrind twice and subtract (the corpus is built for both sizes in both runs)::

    PYTHONHASHSEED=0 valgrind --tool=callgrind .venv/bin/python bench/bench_inprocess.py \\
        --paced --once typed --events 21000 --also 1000    # minus --events 1000 --also 21000

Run: ``.venv/bin/python bench/bench_inprocess.py [--paced] [--events 100000] [--rounds 5]``
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from bench_server import PATHS, create_app, make_corpus  # noqa: E402

ROUTES = {"original": "original", "typed": "agent-stream typed", "plain": "StreamingResponse"}


async def stream(app: Any, path: str, events: int, paced: bool) -> None:
    """One request of ``events`` events, the body thrown away; returns when it ends."""
    never: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def receive() -> dict[str, Any]:
        await never  # the client never leaves
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        pass

    query = f"n={events}&paced={'true' if paced else 'false'}".encode()
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "root_path": "",
        "headers": [(b"host", b"bench")],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 2),
        "state": {},
    }
    await app(scope, receive, send)


def main() -> None:
    import uvloop

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--paced", action="store_true")
    parser.add_argument("--once", choices=sorted(ROUTES))
    parser.add_argument("--also", type=int, help="also build the corpus of this size")
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # the app mounts no stream routes: one warning per app
    app = create_app()
    make_corpus(args.events)
    if args.also:
        make_corpus(args.also)

    async def run() -> None:
        if args.once:
            await stream(app, PATHS[ROUTES[args.once]], 50, args.paced)  # first-request paths
            await stream(app, PATHS[ROUTES[args.once]], args.events, args.paced)
            return
        for name in ROUTES:
            await stream(app, PATHS[ROUTES[name]], 1000, args.paced)
        results: dict[str, list[float]] = {name: [] for name in ROUTES}
        for _ in range(args.rounds):  # interleaved: load moves all of them alike
            for name in ROUTES:
                start = time.process_time()
                await stream(app, PATHS[ROUTES[name]], args.events, args.paced)
                results[name].append((time.process_time() - start) / args.events * 1e6)
        base = min(results["original"])
        print(f"CPU µs per event ({'paced' if args.paced else 'burst'}), best of {args.rounds}")
        for name, values in results.items():
            print(f"{name:9s} {min(values):6.2f}  x original {min(values) / base:.2f}")

    uvloop.run(run())


if __name__ == "__main__":
    main()
