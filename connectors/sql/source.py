"""A departmental table read by query: ``WHERE (order cols) > (bookmark) ORDER BY … LIMIT n``.

Every statement is a read on a short transaction; the table is reflected once at setup, which
also proves that the table and the configured columns exist.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from ..base import Position, Source, SourceRow
from ..config import SourceConfig
from . import bookmark


class SqlSource(Source):
    def __init__(self, cfg: SourceConfig, columns: list[str]) -> None:
        self._cfg = cfg
        self._wanted = columns
        self._engine = sa.create_engine(cfg.url.get_secret_value(), pool_pre_ping=True)
        self._order = bookmark.order_columns(cfg)
        self._select: sa.Select[Any] | None = None
        self._table: sa.Table | None = None

    def describe(self) -> dict[str, str]:
        url = self._engine.url
        return {"database": url.render_as_string(hide_password=True), "table": self._cfg.table}

    def setup(self) -> None:
        try:
            table = sa.Table(self._cfg.table, sa.MetaData(), autoload_with=self._engine)
        except sa.exc.NoSuchTableError:
            raise ValueError(
                f"table {self._cfg.table!r} not found in {self.describe()['database']}"
            ) from None
        needed = set(self._wanted) | set(self._order) | set(self._cfg.key_columns)
        missing = sorted(needed - set(table.c.keys()))
        if missing:
            raise ValueError(f"table {self._cfg.table!r} has no column(s) {missing}")
        cols = [table.c[c] for c in sorted(needed)]
        order = [table.c[c] for c in self._order]
        self._table = table
        self._select = sa.select(*cols).order_by(*order)

    def read(self, after: Position | None, limit: int) -> list[SourceRow]:
        assert self._select is not None and self._table is not None, "setup() first"
        stmt = self._select.limit(limit)
        if after is not None:
            order = [self._table.c[c] for c in self._order]
            stmt = stmt.where(sa.tuple_(*order) > sa.tuple_(*bookmark.decode(after)))
        with self._engine.connect() as conn:
            rows = conn.execute(stmt).mappings().all()
        ts_col = self._cfg.timestamp_column
        out = []
        for r in rows:
            ts = r[ts_col] if ts_col else None
            out.append(
                SourceRow(
                    values=dict(r),
                    key={k: r[k] for k in self._cfg.key_columns},
                    position=bookmark.encode([r[c] for c in self._order]),
                    source_ts_ms=self._epoch_ms(ts),
                )
            )
        return out

    def _epoch_ms(self, ts: Any) -> int | None:
        """A source timestamp in epoch ms; one stored without a zone is in the source's zone."""
        if not isinstance(ts, dt.datetime):
            return None
        aware = ts if ts.tzinfo else ts.replace(tzinfo=self._cfg.zone)
        return int(aware.timestamp() * 1000)

    def close(self) -> None:
        self._engine.dispose()
