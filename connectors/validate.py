"""``civicbus connectors validate``: every problem of a connector file, found before anything runs.

Checks, in one pass, collecting rather than stopping: the YAML and its settings; the mapping
against the canonical schema (unknown fields, unmapped required fields, unknown transforms); the
key field; then, connected to the database, that the table and every named column exist and that
each mapped column's type can become its field's Avro type (a DECIMAL field fed from a binary
FLOAT column, or a number from a date, is refused).
"""

from __future__ import annotations

import datetime as dt
import decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from schemas import model

from .config import ConfigError, ConnectorConfig, FieldRule, load
from .kinds import source_type
from .mapping import Mapper
from .sql import bookmark
from .sql.settings import SqlSettings
from .sql.source import SqlSource


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


def _type_problem(kind: str, col_type: type | None, rule: FieldRule) -> str | None:
    if col_type is None or rule.codes is not None or rule.transform is not None:
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


def validate(path: Path) -> list[str]:
    """Every problem with the connector file at ``path``; [] when it may run."""
    try:
        cfg: ConnectorConfig = load(path)
    except ConfigError as exc:
        return [str(exc)]
    problems: list[str] = []
    try:
        entity = model.schema(cfg.target.schema_name)
    except KeyError as exc:
        return [f"target.schema: {exc.args[0]}"]
    fields = {f["name"]: f for f in entity["fields"]}
    if cfg.target.key not in fields:
        problems.append(f"target.key: {cfg.target.key!r} is not a field of {entity['name']}")
    try:
        Mapper(cfg.mapping, entity, cfg.source.zone)
    except ValueError as exc:
        problems += str(exc).split("; ")
    if not isinstance(cfg.source, SqlSettings):
        columns = sorted({r.column for r in cfg.mapping.values() if r.column})
        return problems + _setup_problems(cfg, columns)
    return problems + _sql_problems(cfg, cfg.source, fields)


def _setup_problems(cfg: ConnectorConfig, columns: list[str]) -> list[str]:
    """Any other source type validates itself in ``setup()``."""
    source = source_type(cfg.source.type)(cfg.source, columns)
    try:
        source.setup()
    except ValueError as exc:
        return [str(exc)]
    finally:
        source.close()
    return []


def _sql_problems(cfg: ConnectorConfig, src: SqlSettings, fields: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    source = SqlSource(src, [])
    try:
        table = source.relation()
    except ValueError as exc:
        return [f"source: {exc}"]
    except sa.exc.SQLAlchemyError as exc:
        database = source.describe()["database"]
        return [f"source.url: cannot connect to {database}: {getattr(exc, 'orig', exc)}"]
    finally:
        source.close()
    columns = set(table.c.keys())
    wanted = {
        "source.key_columns": src.key_columns,
        "source ordering": bookmark.order_columns(src),
        "source.soft_delete.column": [src.soft_delete.column] if src.soft_delete else [],
    }
    for where, names in wanted.items():
        problems += [f"{where}: no column {n!r} in {src.relation}" for n in names if n not in columns]
    for name, rule in cfg.mapping.items():
        if rule.column is None:
            continue
        if rule.column not in columns:
            problems.append(f"mapping.{name}: no column {rule.column!r} in {src.relation}")
        elif name in fields:
            issue = _type_problem(_avro_kind(fields[name]["type"]), _python_type(table.c[rule.column]), rule)
            if issue:
                problems.append(
                    f"mapping.{name}: column {rule.column} ({table.c[rule.column].type}): {issue}"
                )
    return problems
