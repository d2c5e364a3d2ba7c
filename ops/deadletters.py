"""``civicbus deadletter replay``: send dead letters back to the topic they came from.

Once the cause is fixed (a registry that lost a schema is restored, a processor bug is fixed),
every dead letter that carries its input (``payload``: what a stream processor could not apply)
is produced again to its source topic with its original key, and a ``civicbus.replayed-from``
header naming where it was dead-lettered. A consumer group per dead-letter topic
(``civicbus-replay.<topic>``) remembers how far replay has gone: its offsets are committed only
after every re-sent record was acknowledged, so running replay again sends nothing twice, and a
crash mid-way re-sends at most what was not yet committed (the processors' folds are idempotent).

A connector's dead letter carries the row's columns, not an event: it is reported and skipped.
Its row is still in the departmental database; fix the mapping and the connector's next read,
or a re-snapshot, delivers it.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

from kafka import TopicPartition
from kafka.structs import OffsetAndMetadata

from civicbus.core.deadletter import DeadLetter
from civicbus.core.kafka import consumer, producer

REPLAYED_FROM = "civicbus.replayed-from"


@dataclass
class Report:
    sent: int = 0
    skipped: list[str] = field(default_factory=list)
    """One line per dead letter that was not replayed, with why."""


def replay(bootstrap: str, topic: str) -> Report:
    """Replay every dead letter of ``topic`` not replayed before; see the module's docstring."""
    report = Report()
    reader = consumer(
        bootstrap,
        "dead-letter replay",
        group_id=f"civicbus-replay.{topic}",
        auto_offset_reset="earliest",
        isolation_level="read_committed",
    )
    writer = producer(bootstrap, "dead-letter replay")
    try:
        parts = reader.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        if not tps:
            report.skipped.append(f"{topic}: no such topic")
            return report
        reader.assign(tps)
        end = reader.end_offsets(tps)
        committed = {tp: reader.committed(tp) for tp in tps}
        for tp in tps:
            if committed[tp] is None:
                reader.seek_to_beginning(tp)
            else:
                reader.seek(tp, committed[tp])
        acks = []
        while any(reader.position(tp) < end[tp] for tp in tps):
            for tp, records in reader.poll(timeout_ms=1000).items():
                for rec in records:
                    if rec.offset >= end[tp]:
                        continue
                    where = f"{topic}:{tp.partition}:{rec.offset}"
                    try:
                        letter = DeadLetter.decode(rec.value or b"")
                    except ValueError as exc:
                        report.skipped.append(f"{where}: {exc}")
                        continue
                    target = letter.source.get("topic")
                    if letter.payload is None or not target:
                        report.skipped.append(
                            f"{where}: {letter.origin_kind} {letter.origin} kept the row, not an event "
                            f"({letter.field}: {letter.reason}); fix the mapping and re-read the source"
                        )
                        continue
                    key = base64.b64decode(letter.key["b64"]) if letter.key.get("b64") else None
                    acks.append(
                        writer.send(
                            str(target),
                            key=key,
                            value=letter.payload,
                            headers=[(REPLAYED_FROM, where.encode())],
                        )
                    )
        writer.flush()
        for ack in acks:
            ack.get(timeout=60)  # raises: nothing is committed unless every record was acknowledged
        report.sent = len(acks)
        reader.commit({tp: OffsetAndMetadata(end[tp], "", -1) for tp in tps})
    finally:
        writer.close(timeout=10)
        reader.close()
    return report
