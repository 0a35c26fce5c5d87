"""Memory held by the in-memory author history for N authors (one violating post each).

python bench/history_memory.py --authors 100000 --id-bytes 256
"""

from __future__ import annotations

import argparse
import asyncio
import time
import tracemalloc

from gavel.stream.history import MemoryAuthorHistory, ViolationEvent


async def measure(authors: int, id_bytes: int, events_per_author: int) -> float:
    store = MemoryAuthorHistory(retention_s=30 * 86_400, max_authors=authors, max_author_id_bytes=max(id_bytes, 256))
    now = time.time()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for i in range(authors):
        author = f"{i:08d}".ljust(id_bytes, "x")
        await store.record([ViolationEvent(author, f"p{i}-{k}", now, ("hateful_conduct.slurs",))
                            for k in range(events_per_author)])
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert len(store) == authors
    return held / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--authors", type=int, default=100_000)
    parser.add_argument("--id-bytes", type=int, default=256)
    parser.add_argument("--events", type=int, default=1, help="violating posts per author")
    args = parser.parse_args()
    mib = asyncio.run(measure(args.authors, args.id_bytes, args.events))
    print(f"{args.authors} authors, {args.id_bytes}-byte ids, {args.events} event(s) each: {mib:.1f} MiB "
          f"({mib * 2**20 / args.authors:.0f} bytes per author)")


if __name__ == "__main__":
    main()
