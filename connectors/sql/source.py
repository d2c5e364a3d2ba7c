"""A departmental table read by query: ``WHERE (order cols) > (mark) ORDER BY … LIMIT n``.

Every statement is a read on a short transaction, under the database's query budget. The table
is reflected once at setup, which also proves that the table and the configured columns exist.

Rows committed out of order (a long transaction that took an older id or timestamp commits after
newer rows were read) are handled twice over:
- ``settle_s`` (timestamp modes): rows newer than now minus the delay are left for a later poll,
  so a transaction shorter than the delay has committed before its rows are considered;
- ``rescan_window``: every poll re-reads the window just behind the mark and delivers the rows
  there that the bookmark has not seen (see bookmark.Bookmark), so a transaction shorter than
  the window is delivered late rather than lost.
"""

from __future__ import annotations

import datetime as dt
import decimal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
import structlog

from ..base import ColumnUse, Position, Source, SourceHealth, SourceRow, SourceUnavailable
from . import bookmark
from .bookmark import Bookmark
from .checks import column_problems
from .settings import SqlSettings

log = structlog.get_logger(__name__)
_BUDGETS: dict[str, threading.BoundedSemaphore] = {}
_BUDGETS_LOCK = threading.Lock()


_READ_ONLY = {
    "postgresql": "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY",
    "mysql": "SET SESSION TRANSACTION READ ONLY",
    "mariadb": "SET SESSION TRANSACTION READ ONLY",
    "sqlite": "PRAGMA query_only = ON",
}


def _mysql_zone(cursor: Any, zone: ZoneInfo) -> None:
    """Make MySQL/MariaDB TIMESTAMP columns read and compare in the connector's zone, as naive
    values are read: by name where the server has zone tables, else by today's UTC offset."""
    try:
        cursor.execute("SET time_zone = %s", (zone.key,))
    except Exception:  # no zone tables loaded (mysql_tzinfo_to_sql): the offset serves
        offset = dt.datetime.now(zone).utcoffset() or dt.timedelta()
        minutes = int(offset.total_seconds() // 60)
        sign = "-" if minutes < 0 else "+"
        cursor.execute("SET time_zone = %s", (f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}",))


def read_only_engine(url: str, zone: ZoneInfo | None = None) -> sa.Engine:
    """An engine whose every session is read-only in the database itself: a connector, or a
    mistaken custom query, cannot change a legacy system's data. On MySQL/MariaDB the session
    also runs in ``zone``, so TIMESTAMP columns come back in the connector's zone."""
    engine = sa.create_engine(url, pool_pre_ping=True)
    statement = _READ_ONLY.get(engine.dialect.name)
    if statement is None:
        raise ValueError(f"no read-only session for dialect {engine.dialect.name!r}")
    mysql = engine.dialect.name in ("mysql", "mariadb")

    @sa.event.listens_for(engine, "connect")
    def _read_only(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        if mysql and zone is not None:
            _mysql_zone(cursor, zone)
        cursor.execute(statement)
        cursor.close()
        dbapi_connection.commit()  # SET in PostgreSQL is transactional: keep it

    return engine


def _budget(database: str, size: int) -> threading.BoundedSemaphore:
    """The process-wide query budget of one database (the first connector's size wins)."""
    with _BUDGETS_LOCK:
        return _BUDGETS.setdefault(database, threading.BoundedSemaphore(size))


class SqlSource(Source):
    settings_model = SqlSettings

    def __init__(self, cfg: SqlSettings, columns: list[str]) -> None:
        self._cfg = cfg
        self._wanted = columns
        self._engine = read_only_engine(cfg.url.get_secret_value(), cfg.zone)
        self._order = bookmark.order_columns(cfg)
        self._select: sa.Select[Any] | None = None
        self._table: sa.FromClause | None = None
        self._columns: list[Any] | None = None
        self._progress: tuple[int, int] | None = None
        self._rescanned_at: float | None = None
        # the snapshot's stream starts at the greatest row in the streaming mode's own order
        self._stream_order = self._order if cfg.mode == "snapshot" else bookmark.order_columns(cfg)
        self._description = {
            "database": self._engine.url.render_as_string(hide_password=True),
            "table": cfg.relation,
        }
        self._budget = _budget(self._description["database"], cfg.max_concurrent_queries)

    def describe(self) -> dict[str, str]:
        return dict(self._description)

    @property
    def engine(self) -> sa.Engine:
        return self._engine

    def setup(self) -> None:
        soft = [self._cfg.soft_delete.column] if self._cfg.soft_delete else []
        needed = set(self._wanted) | set(self._order) | set(self._cfg.key_columns) | set(soft)
        with self._query():
            relation = self.relation()
        missing = sorted(needed - set(relation.c.keys()))
        if missing:
            raise ValueError(f"{self._cfg.relation!r} has no column(s) {missing}")
        self._columns = [relation.c[c] for c in sorted(needed)]
        self._table = relation
        self._select = sa.select(*self._columns).order_by(*[relation.c[c] for c in self._order])

    def problems(self, uses: list[ColumnUse]) -> list[str]:
        try:
            with self._available("connect"):
                relation = self.relation()
        except ValueError as exc:
            return [f"source: {exc}"]
        except SourceUnavailable as exc:
            return [f"source.url: {exc}"]
        found = column_problems(self._cfg, relation, uses)
        if not found and self._cfg.mode != "snapshot":
            self._table = relation
            unplaced = self._unplaced()
            if unplaced:
                found.append(
                    f"source: {unplaced} row(s) have no value in {', '.join(self._order)}: a streaming mode "
                    "cannot place them in its order and would never capture them; give them a value, or "
                    "read with mode snapshot or a query that COALESCEs the column"
                )
        return found

    def _placed(self) -> Any:
        """SQL condition: every ordering column has a value (a row the stream can place)."""
        assert self._table is not None
        return sa.and_(*[self._table.c[c].is_not(None) for c in self._order])

    def _unplaced(self) -> int:
        assert self._table is not None
        stmt = sa.select(sa.func.count()).select_from(self._table).where(sa.not_(self._placed()))
        with self._query(), self._engine.connect() as conn:
            return int(conn.execute(stmt).scalar() or 0)

    def health(self, after: Position | None) -> SourceHealth | None:
        """Rows after ``after`` still to read, rows without an ordering value, the newest change."""
        assert self._table is not None, "setup() first"
        if self._progress is not None:  # a snapshot is running: what it has left
            done, total = self._progress
            return SourceHealth(pending=max(total - done, 0))
        if self._cfg.mode == "snapshot":
            return SourceHealth(pending=0)
        order = [self._table.c[c] for c in self._order]
        mark = (
            Bookmark.from_json(after) if not (isinstance(after, dict) and "snapshot" in after) else Bookmark()
        )
        ahead = sa.select(sa.func.count()).select_from(self._table).where(self._placed())
        if mark.hwm is not None:
            ahead = ahead.where(sa.tuple_(*order) > sa.tuple_(*mark.hwm))
        ts_col = self._cfg.timestamp_column
        with self._query(), self._engine.connect() as conn:
            pending = int(conn.execute(ahead).scalar() or 0)
            newest = conn.execute(sa.select(sa.func.max(self._table.c[ts_col]))).scalar() if ts_col else None
        return SourceHealth(pending=pending, unplaced=self._unplaced(), newest_ts_ms=self._epoch_ms(newest))

    def relation(self) -> sa.FromClause:
        """The table (reflected) or the query (as a subquery); ValueError if neither is there."""
        return self._reflect() if self._cfg.table else self._wrap(self._cfg.query or "")

    def _reflect(self) -> sa.Table:
        try:
            return sa.Table(self._cfg.relation, sa.MetaData(), autoload_with=self._engine)
        except sa.exc.NoSuchTableError:
            raise ValueError(
                f"table {self._cfg.table!r} not found in {self._description['database']}"
            ) from None

    def _wrap(self, query: str) -> sa.Subquery:
        """The query as a subquery; its columns are what it returns."""
        with self._engine.connect() as conn:
            try:
                probe = conn.execute(sa.text(f"SELECT * FROM ({query}) AS probe LIMIT 0"))
            except sa.exc.DBAPIError as exc:
                raise ValueError(f"source.query does not run: {exc.orig}") from None
            names = list(probe.keys())
        return sa.text(query).columns(*[sa.column(n) for n in names]).subquery("q")

    @contextmanager
    def _query(self) -> Iterator[None]:
        """One statement under the database's query budget; a driver error means unavailable."""
        with self._budget, self._available("query"):
            yield

    @contextmanager
    def _available(self, doing: str) -> Iterator[None]:
        """Turn the driver's errors into :class:`SourceUnavailable` naming the database."""
        try:
            yield
        except sa.exc.DBAPIError as exc:
            database = self._description["database"]
            raise SourceUnavailable(f"cannot {doing} {database}: {exc.orig}") from exc

    def _floor(self) -> Callable[[Any], Any] | None:
        """Maps a mark's first ordering value to the lowest one the re-scan window covers."""
        window = self._cfg.rescan_window
        if not window:
            return None

        def floor(value: Any) -> Any:
            if isinstance(value, dt.datetime | dt.date):
                return value - dt.timedelta(seconds=window)
            if isinstance(value, decimal.Decimal):
                return value - decimal.Decimal(str(window))
            if isinstance(value, int | float) and not isinstance(value, bool):
                return value - type(value)(window)
            raise ValueError(
                f"rescan_window needs a numeric or date/time column, not {type(value).__name__} "
                f"({self._order[0]})"
            )

        return floor

    def _cutoff(self) -> dt.datetime | None:
        """Rows newer than this wait (``settle_s``), in the timestamp column's own terms: an
        instant for a zoned column (timestamptz), the connector zone's wall time for a naive one
        (and for MySQL TIMESTAMP, which the session reads in that zone)."""
        if not self._cfg.settle_s:
            return None
        assert self._table is not None and self._cfg.timestamp_column
        settled = dt.datetime.now(self._cfg.zone) - dt.timedelta(seconds=self._cfg.settle_s)
        column_type = self._table.c[self._cfg.timestamp_column].type
        zoned = getattr(column_type, "timezone", False) and self._engine.dialect.name == "postgresql"
        return settled if zoned else settled.replace(tzinfo=None)

    # --- snapshot ------------------------------------------------------------------------------
    def _snapshot_start(self) -> dict[str, Any]:
        """State of a new snapshot: row count, the greatest key now (the snapshot stops there: rows
        written later are the stream's), and (streaming modes) where the stream will start."""
        assert self._table is not None
        order = [self._table.c[c] for c in self._stream_order]
        keys = [self._table.c[c] for c in self._cfg.key_columns]
        with self._query(), self._engine.connect() as conn:
            total = int(conn.execute(sa.select(sa.func.count()).select_from(self._table)).scalar() or 0)
            last = conn.execute(sa.select(*keys).order_by(*[k.desc() for k in keys]).limit(1)).first()
            mark = None
            if self._cfg.mode != "snapshot":
                top = conn.execute(sa.select(*order).order_by(*[c.desc() for c in order]).limit(1)).first()
                mark = bookmark.encode(list(top)) if top else None
        upto = bookmark.encode(list(last)) if last else None
        return {"key": None, "rows": 0, "total": total, "mark": mark, "upto": upto}

    def _after_snapshot(self, snap: dict[str, Any]) -> dict[str, Any]:
        if self._cfg.mode == "snapshot":
            return {"snapshot_done": snap["rows"]}
        # a compact snapshot position has no mark: streaming from the start is coarser, not ahead
        hwm = tuple(bookmark.decode(snap["mark"])) if snap.get("mark") else None
        return Bookmark(hwm).to_json()

    def _snapshot_read(self, snap: dict[str, Any], limit: int) -> list[SourceRow]:
        """The next chunk by key. Rows changed meanwhile are read again by the stream, whose mark
        was taken before the snapshot began (at-least-once)."""
        assert self._table is not None and self._columns is not None
        if "total" not in snap:  # resumed from a compact position: count and bound again
            snap = {
                **self._snapshot_start(),
                "key": snap.get("key"),
                "rows": snap.get("rows", 0),
                "mark": None,
            }
        keys = [self._table.c[c] for c in self._cfg.key_columns]
        if snap.get("upto") is None:  # the table was empty when the snapshot began
            self._progress = (snap["rows"], snap["rows"])
            return []
        stmt = sa.select(*self._columns).order_by(*keys).limit(limit)
        stmt = stmt.where(sa.tuple_(*keys) <= sa.tuple_(*bookmark.decode(snap["upto"])))
        if snap["key"] is not None:
            stmt = stmt.where(sa.tuple_(*keys) > sa.tuple_(*bookmark.decode(snap["key"])))
        with self._query(), self._engine.connect() as conn:
            found = [dict(r) for r in conn.execute(stmt).mappings()]
        out = []
        done = snap["rows"]
        for r in found:
            done += 1
            key = bookmark.encode([r[c] for c in self._cfg.key_columns])
            # rows carry a compact position ({key, rows}); the batch's last row the full state
            out.append(self._row(r, {"snapshot": {"key": key, "rows": done}}))
        if out:
            last = out[-1]
            full = {**snap, "key": last.position["snapshot"]["key"], "rows": done}
            out[-1] = SourceRow(
                values=last.values,
                key=last.key,
                source_ts_ms=last.source_ts_ms,
                op=last.op,
                position={"snapshot": full},
            )
        self._progress = (done, max(snap["total"], done))
        if out and len(found) < limit:  # the last chunk: its last row carries the stream's start
            last = out[-1]
            out[-1] = SourceRow(
                values=last.values,
                key=last.key,
                source_ts_ms=last.source_ts_ms,
                op=last.op,
                position=self._after_snapshot({**snap, "rows": done}),
            )
            self._progress = (done, done)  # complete; cleared when streaming begins
        return out

    def progress(self) -> tuple[int, int] | None:
        return self._progress

    def keys(self) -> Iterator[dict[str, Any]]:
        """Every key now in the table, in key order, one short query per 10,000 keys."""
        assert self._table is not None, "setup() first"
        cols = [self._table.c[c] for c in self._cfg.key_columns]
        last: list[Any] | None = None
        while True:
            stmt = sa.select(*cols).order_by(*cols).limit(10_000)
            if last is not None:
                stmt = stmt.where(sa.tuple_(*cols) > sa.tuple_(*last))
            with self._query(), self._engine.connect() as conn:
                chunk = [dict(r) for r in conn.execute(stmt).mappings()]
            yield from chunk
            if len(chunk) < 10_000:
                return
            last = [chunk[-1][c] for c in self._cfg.key_columns]

    # --- reading ---------------------------------------------------------------------------------
    def read(self, after: Position | None, limit: int) -> list[SourceRow]:
        assert self._select is not None and self._table is not None, "setup() first"
        if after is None and (self._cfg.mode == "snapshot" or self._cfg.initial_snapshot):
            after = {"snapshot": self._snapshot_start()}
        if isinstance(after, dict) and "snapshot" in after:
            rows = self._snapshot_read(after["snapshot"], limit)
            if rows:
                return rows
            after = self._after_snapshot(after["snapshot"])  # finished exactly at a chunk's end
        if self._cfg.mode == "snapshot":
            return []
        self._progress = None
        mark = Bookmark.from_json(after)
        order = [self._table.c[c] for c in self._order]
        floor = self._floor()
        found: list[dict[str, Any]] = []
        with self._query(), self._engine.connect() as conn:
            if mark.hwm is not None and floor is not None and self._rescan_due():
                found += self._late(conn, mark, floor, limit)
            stmt = self._select.where(self._placed()).limit(max(limit - len(found), 0))
            if mark.hwm is not None:
                stmt = stmt.where(sa.tuple_(*order) > sa.tuple_(*mark.hwm))
            cutoff = self._cutoff()
            if cutoff is not None:
                stmt = stmt.where(order[0] <= cutoff)
            if len(found) < limit:
                found += [dict(r) for r in conn.execute(stmt).mappings()]
        return self._rows(found, mark, floor)

    def _rescan_due(self) -> bool:
        now = time.monotonic()
        if self._rescanned_at is not None and now - self._rescanned_at < self._cfg.rescan_every_s:
            return False
        self._rescanned_at = now
        return True

    def _late(
        self, conn: sa.Connection, mark: Bookmark, floor: Callable[[Any], Any], limit: int
    ) -> list[dict[str, Any]]:
        """Rows behind the mark, inside the re-scan window, that the bookmark has not delivered.

        The window is scanned on its ordering columns only (every poll does it, so it must be
        cheap); the full rows are fetched for the few that committed late. The scan is bounded by
        what the bookmark remembers plus one batch."""
        assert self._table is not None and self._select is not None and mark.hwm is not None
        order = [self._table.c[c] for c in self._order]
        window = (
            sa.select(*order)
            .where(
                order[0] > mark.window_floor(floor), sa.tuple_(*order) <= sa.tuple_(*mark.hwm), self._placed()
            )
            .order_by(*order)
            .limit(len(mark.recent) + limit)
        )
        late = [tuple(r) for r in conn.execute(window) if not mark.delivered(list(r))][:limit]
        if not late:
            return []
        return [dict(r) for r in conn.execute(self._select.where(sa.tuple_(*order).in_(late))).mappings()]

    def _rows(
        self, found: list[dict[str, Any]], mark: Bookmark, floor: Callable[[Any], Any] | None
    ) -> list[SourceRow]:
        out = []
        shrunk = False
        for i, r in enumerate(found):
            mark = mark.advance([r[c] for c in self._order], floor)
            shrunk = shrunk or mark.shrunk
            assert mark.hwm is not None
            # only the batch's last row carries the re-scan memory: earlier positions are bare
            # marks, coarser (a resume there may re-send) but never ahead of delivery
            out.append(self._row(r, mark.to_json() if i == len(found) - 1 else bookmark.encode(mark.hwm)))
        if shrunk:
            log.warning(
                "source.rescan_memory_full",
                table=self._cfg.relation,
                remembered=len(mark.recent),
                window_starts_after=str(mark.since),
                note="more rows changed inside rescan_window than the position can remember; rows "
                "committing late before that point are no longer looked for",
            )
        return out

    def _row(self, r: dict[str, Any], position: Position) -> SourceRow:
        soft = self._cfg.soft_delete
        ts_col = self._cfg.timestamp_column
        return SourceRow(
            values=r,
            key={k: r[k] for k in self._cfg.key_columns},
            position=position,
            op="d" if soft is not None and str(r[soft.column]) in soft.values else "r",
            source_ts_ms=self._epoch_ms(r[ts_col]) if ts_col else None,
        )

    def _epoch_ms(self, ts: Any) -> int | None:
        """A source timestamp in epoch ms; one stored without a zone is in the source's zone."""
        if not isinstance(ts, dt.datetime):
            return None
        aware = ts if ts.tzinfo else ts.replace(tzinfo=self._cfg.zone)
        return int(aware.timestamp() * 1000)

    def close(self) -> None:
        self._engine.dispose()
