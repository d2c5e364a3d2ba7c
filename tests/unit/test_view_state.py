"""A fold state comes back from its bytes as the same Python values, tagged or not."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from civicbus.streams.views import state


def test_values_json_lacks_come_back_as_themselves() -> None:
    held = {
        "公安": {"": {"v": [1, 2], "r": {"birth_date": dt.date(1950, 3, 1), "amount": Decimal("12.50")}}},
        "民政": {
            "7": {"v": [3, 4], "r": {"at": dt.datetime(2024, 5, 1, tzinfo=dt.UTC), "photo": b"\x00\xff"}},
            "8": {"v": [5, 6], "r": {"dates": [dt.date(2024, 1, 1), None, 3]}},
        },
    }
    assert state.decode(state.encode(held)) == held


def test_text_that_looks_like_a_tag_stays_text() -> None:
    held = {
        "民政": {"": {"v": [1, 2], "r": {"note": '{"$date": "2024-01-01"}', "x": {"$date": "a", "y": 1}}}},
    }
    data = state.encode(held)
    assert state.decode(data) == held
    plain = {"民政": {"": {"v": [1, 2], "r": {"note": '{"$bytes": "AA=="}'}}}}
    assert state.decode(state.encode(plain)) == plain
