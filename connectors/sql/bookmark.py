"""Where a SQL capture stands: the values of its ordering columns in the last delivered row.

The ordering is total, so "strictly after the bookmark" never repeats a row and never skips one:
- incrementing: (incrementing_column)
- timestamp: (timestamp_column, *key_columns) — the key breaks ties, so many rows sharing one
  timestamp are never lost across a restart (a known failure of timestamp-only JDBC capture);
- timestamp+incrementing: (timestamp_column, incrementing_column).
A bookmark is a JSON list with typed values, so dates, decimals and bytes round-trip exactly.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
from collections.abc import Callable, Sequence
from typing import Any

from ..config import SourceConfig


def order_columns(cfg: SourceConfig) -> list[str]:
    if cfg.mode == "incrementing":
        assert cfg.incrementing_column
        return [cfg.incrementing_column]
    assert cfg.timestamp_column
    tie = (
        [cfg.incrementing_column]
        if cfg.incrementing_column and cfg.mode != "timestamp"
        else [c for c in cfg.key_columns if c != cfg.timestamp_column]
    )
    return [cfg.timestamp_column, *tie]


def encode(values: Sequence[Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for v in values:
        if isinstance(v, dt.datetime):
            out.append({"t": "datetime", "v": v.isoformat()})
        elif isinstance(v, dt.date):
            out.append({"t": "date", "v": v.isoformat()})
        elif isinstance(v, decimal.Decimal):
            out.append({"t": "decimal", "v": str(v)})
        elif isinstance(v, bytes):
            out.append({"t": "bytes", "v": base64.b64encode(v).decode()})
        elif v is None or isinstance(v, bool | int | float | str):
            out.append({"t": "plain", "v": v})
        else:
            raise TypeError(f"cannot keep a bookmark on a {type(v).__name__} column")
    return out


def decode(encoded: Sequence[dict[str, Any]]) -> list[Any]:
    readers: dict[str, Callable[[Any], Any]] = {
        "datetime": dt.datetime.fromisoformat,
        "date": dt.date.fromisoformat,
        "decimal": decimal.Decimal,
        "bytes": base64.b64decode,
        "plain": lambda v: v,
    }
    return [readers[e["t"]](e["v"]) for e in encoded]
