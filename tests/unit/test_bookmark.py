import datetime as dt
import decimal

from connectors.config import SourceConfig
from connectors.sql import bookmark


def cfg(**kw: object) -> SourceConfig:
    return SourceConfig.model_validate({"url": "sqlite://", "table": "t", "key_columns": ["id"], **kw})


def test_order_columns_per_mode() -> None:
    assert bookmark.order_columns(cfg(mode="incrementing", incrementing_column="id")) == ["id"]
    assert bookmark.order_columns(cfg(mode="timestamp", timestamp_column="ts")) == ["ts", "id"]
    assert bookmark.order_columns(
        cfg(mode="timestamp+incrementing", timestamp_column="ts", incrementing_column="seq")
    ) == ["ts", "seq"]


def test_typed_values_round_trip_exactly() -> None:
    values = [
        dt.datetime(2026, 1, 1, 8, 0, 0, 123456),
        dt.date(2026, 1, 2),
        decimal.Decimal("1.10"),
        b"\x00\xff",
        42,
        "x",
        None,
    ]
    assert bookmark.decode(bookmark.encode(values)) == values
