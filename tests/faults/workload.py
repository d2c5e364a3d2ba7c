"""The fault suite's workload: a legacy table that keeps growing, and counting what arrived."""

from __future__ import annotations

import contextlib
import json
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from civicbus.demo.generate import HUKOU, hukou_row, local_now, person

from ..helpers import decoder, read_topic, wait_until


def seed() -> int:
    chosen = int(os.environ.get("CIVICBUS_FAULT_SEED", time.time_ns() % 2**31))
    print(f"fault seed: {chosen} (replay with CIVICBUS_FAULT_SEED={chosen})")
    return chosen


class Written(list[int]):
    """Keys of the rows written, in order; ``refused`` counts writes the database refused."""

    refused: int = 0


@contextmanager
def growing(engine: sa.Engine, rng: random.Random) -> Iterator[Written]:
    """A writer adding one row at a time (each its own transaction) until the block ends.

    A row whose COMMIT failed is not counted: it was rolled back. One whose COMMIT reached the
    database but whose answer was lost is not counted either, and may arrive: verdict allows it."""
    written = Written()
    done = threading.Event()

    def write() -> None:
        while not done.is_set():
            row = hukou_row(person(rng), rng, local_now())
            try:
                with engine.begin() as conn:
                    key = conn.execute(HUKOU.insert().returning(HUKOU.c.RKID), [row]).scalar_one()
            except sa.exc.DBAPIError:  # the database is restarting: write on when it is back
                written.refused += 1
                done.wait(0.2)
                continue
            written.append(key)  # only once committed: a restart can refuse the COMMIT after the INSERT
            done.wait(0.004)

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    try:
        yield written
    finally:
        done.set()
        thread.join(30)


def delivered(bootstrap: str, registry_url: str, topic: str, at_least: int) -> Counter[str]:
    """Source keys of the committed events on ``topic``, once ``at_least`` distinct ones are there,
    or those there after two minutes: :func:`verdict` then names the missing rows (a wait as long
    as the test's own timeout would end it without saying what was missing)."""
    decode = decoder(registry_url)
    found: Counter[str] = Counter()

    def complete() -> bool:
        found.clear()
        records = read_topic(bootstrap, topic, 0, timeout=5, settle=0.3)
        found.update(str(json.loads(decode(r.value)["source"]["key"])["RKID"]) for r in records)
        return len(found) >= at_least

    with contextlib.suppress(AssertionError):
        wait_until(complete, 120, f"{at_least} distinct rows on {topic}", interval=1.0)
    return found


def verdict(written: list[int], keys: Counter[str]) -> None:
    """Assert every written row arrived exactly once; print the counts either way."""
    expected = {str(k) for k in written}
    lost = expected - set(keys)
    repeated = {k: n for k, n in keys.items() if n > 1}
    total = sum(keys.values())
    print(f"rows written {len(written)}, delivered {total}, lost {len(lost)}, repeated {len(repeated)}")
    assert not lost, f"{len(lost)} rows lost, e.g. {sorted(lost)[:5]}"
    assert not repeated, f"{len(repeated)} rows repeated, e.g. {list(repeated.items())[:5]}"
