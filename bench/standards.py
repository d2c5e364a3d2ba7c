"""Throughput of the standards functions on one core: values per second, best of several rounds.

    .venv/bin/python -m bench.standards [--n 200000]

Inputs are legacy-shaped (lower-case x, spaces, full-width digits, 15-digit numbers; dates in six
formats). The ceiling measured in the same run is the bare loop calling a no-op function on the
same inputs; the ratio says how much of the loop's time is the standard's own work.
Target (issue 3): at least 200,000 values per second for ID numbers and for dates.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import time
from collections.abc import Callable
from typing import Any

from civicbus.schemas.standards import dates, id_number


def id_inputs(n: int, rng: random.Random) -> list[str]:
    out = []
    for _ in range(n):
        born = dt.date(1930, 1, 1) + dt.timedelta(days=rng.randrange(27000))
        first17 = f"{rng.randrange(110000, 660000)}{born:%Y%m%d}{rng.randrange(1000):03d}"
        number = first17 + id_number.check_char(first17)
        style = rng.random()
        if style < 0.1 and born.year < 2000:
            number = number[:6] + number[8:17]
        elif style < 0.2:
            number = number.lower()
        elif style < 0.3:
            number = number.translate({ord(c): ord(c) + 0xFEE0 for c in "0123456789"})
        elif style < 0.4:
            number = f"{number[:6]} {number[6:14]} {number[14:]}"
        out.append(number)
    return out


def date_inputs(n: int, rng: random.Random) -> list[Any]:
    out: list[Any] = []
    for _ in range(n):
        d = dt.date(1930, 1, 1) + dt.timedelta(days=rng.randrange(35000))
        out.append(
            rng.choice(
                [
                    f"{d:%Y%m%d}",
                    f"{d:%Y-%m-%d}",
                    f"{d.year}/{d.month}/{d.day}",
                    f"{d.year}年{d.month}月{d.day}日",
                    f"{d:%Y-%m-%d} 08:30:00",
                    (d - dt.date(1899, 12, 30)).days,
                ]
            )
        )
    return out


def rate(fn: Callable[[Any], Any], values: list[Any], rounds: int = 3) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for v in values:
            fn(v)
        best = min(best, time.perf_counter() - start)
    return len(values) / best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=200_000)
    args = parser.parse_args()
    rng = random.Random(1)
    ids, ds = id_inputs(args.n, rng), date_inputs(args.n, rng)
    noop = rate(lambda v: v, ids)
    print(f"{'what':<28}{'values/s':>14}{'vs bare loop':>14}")
    print(f"{'bare loop (ceiling)':<28}{noop:>14,.0f}{1:>14.3f}")
    for name, fn, values in (
        ("id_number.normalize", id_number.normalize, ids),
        ("dates.parse", dates.parse, ds),
    ):
        r = rate(fn, values)
        verdict = "meets" if r >= 200_000 else "BELOW"
        print(f"{name:<28}{r:>14,.0f}{r / noop:>14.3f}   {verdict} the 200k/s target")


if __name__ == "__main__":
    main()
