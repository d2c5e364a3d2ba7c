"""A connector's change events encoded whole or in parts: the choice of
:mod:`civicbus.schemas.envelope_wire`, by numbers.

    .venv/bin/python -m bench.envelope_encoding [--count N] [--rounds R]

Encodes the same ``N`` Resident change events (half inserts, a quarter updates with their
``before``, a quarter snapshot reads; positions and keys as a log-based source writes them)
with fastavro whole, cavro whole and cavro in parts, alternating round by round; prints the
median microseconds per event and each against cavro whole (the ceiling is the library's own
encoding of the envelope; what is measured is the time the parts save). All three must write
the same bytes; the run stops if they do not.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

from civicbus.schemas import model
from civicbus.schemas.envelope_wire import EnvelopeEncoder
from civicbus.schemas.wire import AvroEncoder

SOURCE = {
    "department": "公安",
    "system": "人口信息管理系统",
    "connector": "gongan-hukou-wal",
    "database": "postgresql://civicbus@127.0.0.1:54329/civicbus",
    "table": "T_HJ_RKXX",
}


def resident(rng: random.Random) -> dict[str, Any]:
    return {
        "id_number": f"{rng.randrange(110000, 660000)}19810124{rng.randrange(1000):03d}X",
        "name": rng.choice(["孔红凤", "王芳", "李建国"]),
        "gender_code": rng.choice("12"),
        "birth_date": dt.date(1930, 1, 1) + dt.timedelta(days=rng.randrange(27000)),
        "ethnicity_code": "01",
        "division_code": "110101",
        "address": "北京市东城区景山街道31号院16号楼",
        "household_id": f"{rng.randrange(10**13, 10**14)}",
        "relation_code": rng.choice([None, "02", "10"]),
    }


def events(count: int) -> list[dict[str, Any]]:
    rng = random.Random(7)
    out = []
    for n in range(count):
        op = rng.choice("ccur")
        out.append(
            {
                "op": op,
                "before": resident(rng) if op == "u" else None,
                "after": resident(rng),
                "source": {
                    **SOURCE,
                    "key": f'{{"RKID": "{n}"}}',
                    "position": f'{{"log": "0/{n:X}", "snap": {{"key": "[{n}]", "rows": {n}}}}}',
                },
                "ts_ms": 1_795_873_890_394 + n,
                "source_ts_ms": 1_795_873_890_000,
                "quality": [],
                "transaction": None if op == "r" else {"id": f"{n // 10}", "order": n % 10 + 1},
            }
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    envelope = model.envelope("Resident")
    fastavro_whole = AvroEncoder(None, "v", envelope, fast=False, schema_id=1)
    cavro_whole = AvroEncoder(None, "v", envelope, schema_id=1)
    parts = EnvelopeEncoder(None, "v", envelope, SOURCE, schema_id=1)
    batch = events(args.count)
    fields = ("op", "before", "after", "ts_ms", "source_ts_ms", "quality", "transaction")

    def in_parts(e: dict[str, Any]) -> bytes:
        op, before, after, ts_ms, source_ts_ms, quality, txn = (e[f] for f in fields)
        key, position = e["source"]["key"], e["source"]["position"]
        return parts.event(op, before, after, key, position, ts_ms, source_ts_ms, quality, txn)

    ways: dict[str, Callable[[dict[str, Any]], bytes]] = {
        "fastavro, whole envelope": fastavro_whole,
        "cavro, whole envelope": cavro_whole,
        "cavro, in parts (envelope_wire)": in_parts,
    }
    written = {name: [way(e) for e in batch] for name, way in ways.items()}
    if len({tuple(w) for w in written.values()}) != 1:
        raise SystemExit("the encodings wrote different bytes")
    times: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(args.rounds):
        for name, way in ways.items():
            began = time.perf_counter()
            for e in batch:
                way(e)
            times[name].append((time.perf_counter() - began) / len(batch) * 1e6)
    ceiling = statistics.median(times["cavro, whole envelope"])
    print(f"{args.count:,} Resident change events, median of {args.rounds} rounds, same bytes")
    print(f"{'encoding':34s} {'µs/event':>9s} {'vs cavro whole':>15s}")
    for name, measured in times.items():
        median = statistics.median(measured)
        print(f"{name:34s} {median:9.2f} {median / ceiling:15.2f}")


if __name__ == "__main__":
    main()
