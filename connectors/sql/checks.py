"""What ``civicbus connectors validate`` checks of a SQL source once connected.

That the table (or query) exists, that every column the settings and the mapping name is there,
and that each mapped column's type can become its field's Avro type: a DECIMAL field fed from a
binary FLOAT column, or a number from a date, is refused. Every problem is collected.
"""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any

import sqlalchemy as sa

from ..base import ColumnUse
from . import bookmark
from .settings import SqlSettings


def _avro_kind(t: Any) -> str:
    if isinstance(t, list):
        return _avro_kind(next(x for x in t if x != "null"))
    if isinstance(t, dict):
        return str(t.get("logicalType") or t["type"])
    return str(t)


def _python_type(column: Any) -> type | None:
    try:
        found = column.type.python_type
    except NotImplementedError:
        return None
    return found if isinstance(found, type) else None


def type_problem(kind: str, col_type: type | None) -> str | None:
    """Why a column of Python type ``col_type`` cannot feed an Avro ``kind``; None if it can."""
    if col_type is None:
        return None
    numeric = (int, float, decimal.Decimal)
    temporal = (dt.date, dt.datetime, dt.time)
    if kind == "decimal" and issubclass(col_type, float):
        return "a binary FLOAT column cannot feed an exact decimal; cast it in a query or use NUMERIC"
    if kind in ("int", "long", "double", "float", "decimal") and issubclass(col_type, temporal):
        return f"a {col_type.__name__} column cannot become a number"
    if kind in ("date", "timestamp-millis", "timestamp-micros") and issubclass(col_type, bool):
        return "a boolean column cannot become a date"
    if kind in ("int", "long") and col_type is decimal.Decimal:
        return None
    if kind == "boolean" and issubclass(col_type, numeric + temporal) and col_type is not int:
        return f"a {col_type.__name__} column cannot become a boolean"
    return None


def column_problems(cfg: SqlSettings, relation: sa.FromClause, uses: list[ColumnUse]) -> list[str]:
    """Missing columns and unconvertible column types, each naming the setting or mapped field."""
    problems: list[str] = []
    columns = set(relation.c.keys())
    wanted = {
        "source.key_columns": cfg.key_columns,
        "source ordering": bookmark.order_columns(cfg),
        "source.soft_delete.column": [cfg.soft_delete.column] if cfg.soft_delete else [],
    }
    for where, names in wanted.items():
        problems += [f"{where}: no column {n!r} in {cfg.relation}" for n in names if n not in columns]
    for use in uses:
        if use.column not in columns:
            problems.append(f"mapping.{use.field}: no column {use.column!r} in {cfg.relation}")
            continue
        if use.converted:
            continue
        column = relation.c[use.column]
        issue = type_problem(_avro_kind(use.avro_type), _python_type(column))
        if issue:
            problems.append(f"mapping.{use.field}: column {use.column} ({column.type}): {issue}")
    return problems
