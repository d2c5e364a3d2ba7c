"""fastavro or cavro for the streams' Avro: the choice of :mod:`civicbus.schemas.wire_raw`, by numbers.

    .venv/bin/python -m bench.avro_codecs RESIDENT_TOPIC SUBSIDY_TOPIC [--count N] [--rounds R]

Reads two department topics (``bench.streams`` prints the ones it fills), then, in one process
and alternating the two libraries round by round (the median of the rounds is printed):

1. decodes every change event, values kept as Avro stores them;
2. encodes the resident view's record for every event's key (rendered once, beforehand);
3. runs the whole batch fold (:func:`civicbus.streams.engine.batch.fold_batch`) with a codec
   on each library, 2,000 events a batch, states in a dict.

Both libraries must write the same bytes; the run stops if they do not.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

from civicbus.schemas.registry_client import RegistryClient
from civicbus.streams.codec import AvroCodec
from civicbus.streams.views.catalog import load_all
from civicbus.streams.views.fold import apply, change, render

from .stream_runtimes import Record, in_process, messages


def per_item_us(work: Callable[[], Any], count: int) -> float:
    began = time.perf_counter()
    work()
    return (time.perf_counter() - began) / count * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("resident_topic")
    parser.add_argument("subsidy_topic")
    parser.add_argument("--count", type=int, default=60_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    bootstrap = os.environ.get("CIVICBUS_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    registry = RegistryClient(os.environ.get("CIVICBUS_REGISTRY_URL", "http://127.0.0.1:8081"))
    spec = next(v for v in load_all() if v.name == "resident-profile").model_copy(
        update={"topic": f"bench.codecs.view.{uuid.uuid4().hex[:6]}"}
    )
    index = {args.resident_topic: 0, args.subsidy_topic: 1}
    msgs = [
        Record(m.topic, m.partition, m.offset, m.key, m.value)
        for m in messages(bootstrap, [args.resident_topic, args.subsidy_topic], args.count)
    ]
    values = [m.value() for m in msgs if m.value() is not None]
    codecs = {name: AvroCodec(registry, spec, name) for name in ("fastavro", "cavro")}

    states: dict[str, Any] = {}
    changes = [change(spec, index[m.topic()], codecs["cavro"].event(m.value()), m.offset()) for m in msgs]
    for ch in changes:
        apply(states.setdefault(ch.key, {}), ch)
    records = [r for r in (render(spec, ch.key, states[ch.key]) for ch in changes) if r is not None]
    for name, codec in codecs.items():
        assert [codec.event(v) for v in values[:2000]] == [codecs["cavro"].event(v) for v in values[:2000]]
        assert [codec.record(r) for r in records[:2000]] == [
            codecs["cavro"].record(r) for r in records[:2000]
        ], name

    timings: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.rounds):
        for name, codec in codecs.items():
            timings.setdefault(("decode an event, µs", name), []).append(
                per_item_us(lambda c=codec: [c.event(v) for v in values], len(values))
            )
            timings.setdefault(("encode a view record, µs", name), []).append(
                per_item_us(lambda c=codec: [c.record(r) for r in records], len(records))
            )
            timings.setdefault(("fold_batch, events/s", name), []).append(
                in_process(spec, codec, index, msgs, 2000)
            )
    topics = f"{args.resident_topic}, {args.subsidy_topic}"
    print(f"\n{len(msgs):,} events of {topics}; median of {args.rounds} rounds")
    print(f"{'what':<28}{'fastavro':>12}{'cavro':>12}{'cavro/fastavro':>16}")
    for what in dict.fromkeys(w for w, _ in timings):
        fa, ca = (statistics.median(timings[(what, n)]) for n in ("fastavro", "cavro"))
        print(f"{what:<28}{fa:>12,.1f}{ca:>12,.1f}{ca / fa:>16.2f}")


if __name__ == "__main__":
    main()
