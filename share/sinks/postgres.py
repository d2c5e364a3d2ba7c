"""``civicbus sink postgres``: an app's projection of a view, upserted into its own table, once.

Contract: the table (``key`` primary key, one column per projected field, ``_partition`` and
``_offset`` of the record it holds) mirrors the topic's latest record per key; a tombstone
deletes the row. The next offset of every partition is stored in ``civicbus_sink_offsets`` *in
the same database transaction* as the rows of the batch, and the sink starts reading where that
table says, not where a consumer group says. So a crash at any instant (SIGKILL included) leaves
the table and the offsets agreeing: nothing is applied twice, nothing skipped. Kafka Connect's
JDBC sink commits offsets to Kafka apart from the rows, which gives at-least-once only.

Columns come from each record's writer schema (the projection's derived record): a field the
grant adds later becomes a new column when its first record arrives (``ALTER TABLE … ADD COLUMN
IF NOT EXISTS``); a field it drops stays, no longer written. Scalars map to PostgreSQL types
(a date to ``date``); lists, maps and records to ``jsonb``.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

import psycopg
import structlog
from confluent_kafka import Consumer, TopicPartition
from psycopg import sql
from psycopg.types.json import Jsonb

from civicbus.core import identity
from civicbus.schemas.registry_client import RegistryClient
from civicbus.schemas.wire import AvroDecoder, schema_id

from ..fields import scalar
from ..projection import topic
from .settings import SinkSettings

log = structlog.get_logger(__name__)
_LIBRDKAFKA = logging.getLogger("librdkafka")
OFFSETS = "civicbus_sink_offsets"
TYPES = {
    "string": "text",
    "int": "integer",
    "long": "bigint",
    "float": "real",
    "double": "double precision",
    "boolean": "boolean",
    "date": "date",
    "timestamp-millis": "timestamptz",
}


def column_type(avro_type: Any) -> str:
    return TYPES.get(scalar(avro_type) or "", "jsonb")


class PostgresSink:
    """Runs until ``stop`` is set (the batch in hand commits first)."""

    def __init__(self, settings: SinkSettings) -> None:
        if settings.database_url is None:
            raise ValueError("CIVICBUS_SINK_DATABASE_URL is needed for the PostgreSQL sink")
        self.settings = settings
        self.topic = topic(settings.app, settings.view)
        self.name = f"{settings.app}/{settings.view}"
        self.table = settings.table_name
        self._registry = RegistryClient(settings.registry_url)
        self._decode = AvroDecoder(self._registry)
        self._columns: dict[str, bool] = {}  # field → composite (jsonb)
        self._schemas: set[int] = set()
        # autocommit: each transaction() block is one real transaction, and nothing outside one
        # holds an implicit transaction open (and its locks) between batches
        self._db = psycopg.connect(
            settings.database_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True
        )

    def run(self, stop: threading.Event) -> None:
        consumer = Consumer(
            {
                "bootstrap.servers": self.settings.bootstrap_servers,
                "group.id": f"{self.settings.app}.sink",  # never committed: offsets live in the database
                "enable.auto.commit": False,
                "isolation.level": "read_committed",
                "logger": _LIBRDKAFKA,
                **identity.current().librdkafka(),
            }
        )
        try:
            self._prepare()
            consumer.assign(self._start(consumer))
            log.info("sink.started", sink=self.name, table=self.table)
            while not stop.is_set():
                msgs = [m for m in consumer.consume(self.settings.batch_size, 0.5) if self._usable(m)]
                if msgs:
                    self._apply(msgs)
        finally:
            consumer.close()
            self._db.close()
            log.info("sink.stopped", sink=self.name)

    @staticmethod
    def _usable(msg: Any) -> bool:
        err = msg.error()
        if err is None:
            return True
        if err.fatal() or err.code() in (29, 30):  # topic or group authorization failed
            raise PermissionError(f"{msg.topic()}: {err.str()}")
        return False

    def _prepare(self) -> None:
        with self._db.transaction():
            self._db.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} (sink text, topic text, partition integer, next_offset "
                    "bigint NOT NULL, PRIMARY KEY (sink, topic, partition))"
                ).format(sql.Identifier(OFFSETS))
            )
            self._db.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} (key text PRIMARY KEY, _partition integer NOT NULL, "
                    "_offset bigint NOT NULL)"
                ).format(sql.Identifier(self.table))
            )

    def _start(self, consumer: Any) -> list[TopicPartition]:
        """Every partition of the topic, at the offset the database holds (its start otherwise)."""
        meta = consumer.list_topics(self.topic, timeout=30).topics[self.topic]
        if meta.error is not None:
            raise PermissionError(f"{self.topic}: {meta.error.str()}")
        stored: dict[int, int] = dict(
            self._db.execute(
                sql.SQL("SELECT partition, next_offset FROM {} WHERE sink = %s AND topic = %s").format(
                    sql.Identifier(OFFSETS)
                ),
                (self.name, self.topic),
            ).fetchall()
        )
        return [
            TopicPartition(self.topic, p, stored.get(p, -2)) for p in sorted(meta.partitions)
        ]  # -2: beginning

    def _apply(self, msgs: list[Any]) -> None:
        """One database transaction: the batch's rows and the offsets past it."""
        upserts: list[tuple[str, int, int, dict[str, Any]]] = []
        ends: dict[int, int] = {}
        with self._db.transaction():
            for msg in msgs:
                ends[msg.partition()] = msg.offset() + 1
                key = str(self._decode(msg.key()))
                value = msg.value()
                if value is None:  # rows before it first, in the topic's order
                    self._flush(upserts)
                    upserts = []
                    self._db.execute(
                        sql.SQL("DELETE FROM {} WHERE key = %s").format(sql.Identifier(self.table)), (key,)
                    )
                    continue
                if schema_id(value) not in self._schemas:
                    self._flush(upserts)  # written with the columns they were decoded for
                    upserts = []
                    self._columns_of(value)
                upserts.append((key, msg.partition(), msg.offset(), self._decode(value)))
            self._flush(upserts)
            self._db.cursor().executemany(
                sql.SQL(
                    "INSERT INTO {} VALUES (%s, %s, %s, %s) ON CONFLICT (sink, topic, partition) "
                    "DO UPDATE SET next_offset = EXCLUDED.next_offset"
                ).format(sql.Identifier(OFFSETS)),
                [(self.name, self.topic, p, o) for p, o in ends.items()],
            )

    def _columns_of(self, value: bytes) -> None:
        sid = schema_id(value)
        schema = self._registry.schema(sid)
        assert isinstance(schema, dict)
        for field in schema["fields"]:
            kind = column_type(field["type"])
            self._db.execute(
                sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS {} " + kind).format(
                    sql.Identifier(self.table), sql.Identifier(field["name"])
                )
            )
            self._columns[field["name"]] = kind == "jsonb"
        self._schemas.add(sid)

    def _flush(self, rows: list[tuple[str, int, int, dict[str, Any]]]) -> None:
        if not rows:
            return
        names = list(self._columns)
        columns = sql.SQL(", ").join(sql.Identifier(n) for n in ["key", "_partition", "_offset", *names])
        updates = sql.SQL(", ").join(
            sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(n)) for n in ["_partition", "_offset", *names]
        )
        statement = sql.SQL("INSERT INTO {} ({}) VALUES ({}) ON CONFLICT (key) DO UPDATE SET {}").format(
            sql.Identifier(self.table),
            columns,
            sql.SQL(", ").join([sql.Placeholder()] * (3 + len(names))),
            updates,
        )
        self._db.cursor().executemany(
            statement,
            [
                (key, partition, offset, *[self._cell(record.get(n), self._columns[n]) for n in names])
                for key, partition, offset, record in rows
            ],
        )

    @staticmethod
    def _cell(value: Any, composite: bool) -> Any:
        if composite and value is not None:
            return Jsonb(json.loads(json.dumps(value, default=str)))
        return value
