import datetime as dt
import decimal

from civicbus.connectors.sql import bookmark
from civicbus.connectors.sql.settings import SqlSettings


def cfg(**kw: object) -> SqlSettings:
    return SqlSettings.model_validate({"url": "sqlite://", "table": "t", "key_columns": ["id"], **kw})


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


def test_bookmark_remembers_only_the_rescan_window_and_round_trips() -> None:
    def floor(v: int) -> int:
        return v - 10

    mark = bookmark.Bookmark()
    for i in (1, 2, 5, 20, 25):
        mark = mark.advance([i], floor)
    assert mark.hwm == (25,)
    assert mark.delivered([20]) and mark.delivered([25])
    assert not mark.delivered([5]), "5 is below the window of the mark 25 and forgotten"
    assert not mark.delivered([18]), "18 was never delivered: a late commit to pick up"
    late = mark.advance([18], floor)
    assert late.hwm == (25,) and late.delivered([18])
    again = bookmark.Bookmark.from_json(late.to_json())
    assert again == late
    assert bookmark.Bookmark.from_json([{"t": "plain", "v": 7}]).hwm == (7,)
    assert mark.advance([30], None).recent == frozenset()


def test_uuid_time_and_zoned_keys_round_trip() -> None:
    import uuid

    zoned = dt.datetime(2026, 1, 1, 8, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    values = [uuid.UUID("12345678-1234-5678-1234-567812345678"), dt.time(8, 30, 1, 5), zoned, True]
    assert bookmark.decode(bookmark.encode(values)) == values


def test_the_rescan_memory_is_capped_and_the_window_shrinks_to_what_it_remembers() -> None:
    mark = bookmark.Bookmark()
    floor = lambda v: v - 1000  # noqa: E731 - a window wider than every row here
    shrinks = 0
    for i in range(1, 11):
        mark = mark.advance([i, i], floor, cap=4)
        shrinks += mark.shrunk
        assert len(mark.recent) <= 4
    assert shrinks == 3 and mark.since == 6  # values 7..10 remembered, 1..6 forgotten
    assert mark.window_floor(floor) == 6  # the re-scan starts above the newest forgotten value
    assert mark.delivered([9, 9]) and not mark.delivered([5, 5])
    again = bookmark.Bookmark.from_json(mark.to_json())
    assert again.since == 6 and again.recent == mark.recent
