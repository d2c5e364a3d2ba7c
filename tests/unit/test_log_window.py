"""The DBLog window in the log-based engine (connectors/cdc/capture.py), against a scripted
database: which snapshot rows a change overtakes, and where a chunk falls among the log's
transactions. Log order is not the order in which other sessions see commits, so a chunk's
SELECT can miss a change the log already handed out; these are the cases the integration suite
(real PostgreSQL and MariaDB under a writer) meets only by chance."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest

from civicbus.connectors.base import Op, SourceRow
from civicbus.connectors.cdc import capture
from civicbus.connectors.cdc.capture import LogCapture
from civicbus.connectors.cdc.pg.visibility import Snapshot
from civicbus.connectors.cdc.settings import LogSettings
from civicbus.connectors.cdc.window import Chunk, Selected

Message = tuple[Any, ...]
Select = Callable[[list[dict[str, Any]]], Selected]
"""One chunk's SELECT: the rows the table has now, with the watermarks and visibility it saw."""


class _Table:
    """The table as each chunk's SELECT saw it: ``selects`` answers the chunks in turn."""

    def __init__(self, rows: dict[int, str], selects: list[Select]) -> None:
        self.rows = rows
        self._selects = selects

    def problems(self) -> list[str]:
        return []

    def columns(self) -> set[str]:
        return {"id", "name"}

    def bounds(self) -> tuple[list[Any] | None, int]:
        return [max(self.rows)], len(self.rows)

    def window(self, after: Sequence[Any] | None, upto: Sequence[Any], limit: int) -> Selected:
        keys = sorted(k for k in self.rows if (after is None or k > after[0]) and k <= upto[0])[:limit]
        if not keys:
            return Selected(0, [], 0)
        return self._selects.pop(0)([{"id": k, "name": self.rows[k]} for k in keys])

    def close(self) -> None:
        pass


class _Scripted(LogCapture):
    """A log of scripted messages: ("begin", at, xid), ("change", op, id, name), ("commit", at)."""

    def __init__(self, table: _Table, log: list[Message], end: int, ahead: bool = False) -> None:
        cfg = LogSettings(url="scripted://", table="t", key_columns=["id"], chunk_size=2, wait_s=0.01)
        super().__init__(cfg, ["id", "name"], "scripted", table)
        self._table = table
        self._ahead_too = ahead
        """Select the next chunk ahead, on the engine's thread, while the current one is open."""
        self._log = log
        self._reached = 0
        self._end = end
        """Where the server's log stands once everything scripted was read."""

    def _open_log(self, resume: Any) -> None:
        pass

    def _close_log(self) -> None:
        pass

    def _poll(self, timeout_s: float) -> bool:
        if not self._log:
            self._reached = self._end
            return False
        kind, *rest = self._log.pop(0)
        if kind == "begin":
            at, xid = rest
            self._reached = at
            self._begin(f"{xid}:{at}", at, None, xid)
        elif kind == "change":
            op, key, name = rest
            values = {"id": key, "name": name}
            self._change(op, values, None if op == "c" else values)
        else:
            (at,) = rest
            self._reached = at
            self._commit(at, at)
        return True

    def _log_reached(self) -> Any:
        return self._reached

    def _selector(self) -> _Table | None:
        return self._table if self._ahead_too else None


def _run(
    table: _Table, log: list[Message], end: int = 1_000, ahead: bool = False
) -> list[tuple[Op, int, str]]:
    """Everything the source hands out, from the start, until its snapshot is done."""
    source = _Scripted(table, log, end, ahead)
    out: list[SourceRow] = []
    for _ in range(50):
        out += source.read(out[-1].position if out else None, 100)
        if source.progress() is None and not log:
            break
    else:
        raise AssertionError("the snapshot did not end")
    return [(row.op, row.values["id"], row.values["name"]) for row in out]


def _last(events: list[tuple[Op, int, str]]) -> dict[int, str]:
    state: dict[int, str] = {}
    for _, key, name in events:
        state[key] = name
    return state


def _saw_all(low: int, high: int) -> Select:
    return lambda rows: Selected(low, rows, high, lambda xid: False)


def test_a_change_handed_out_before_a_select_that_missed_it_drops_that_row() -> None:
    """PostgreSQL: transaction 7 is in the WAL before the chunk's low watermark, and handed out
    before the chunk opens, yet the chunk's snapshot had not seen it commit."""
    table = _Table(
        {1: "a", 2: "b", 3: "old", 4: "d"},
        [
            _saw_all(10, 20),
            lambda rows: Selected(40, rows, 50, lambda xid: xid == 7),  # 3 selected as "old"
        ],
    )
    log = [("begin", 30, 7), ("change", "u", 3, "new"), ("commit", 31)]
    events = _run(table, log)
    assert events == [("r", 1, "a"), ("r", 2, "b"), ("u", 3, "new"), ("r", 4, "d")]


def test_a_change_the_select_saw_keeps_the_row_even_inside_the_window() -> None:
    saw_7 = [lambda rows: Selected(10, rows, 20, lambda xid: xid != 7)]  # 2 selected as "new"
    events = _run(
        _Table({1: "a", 2: "new"}, saw_7), [("begin", 15, 7), ("change", "u", 2, "new"), ("commit", 16)]
    )
    assert events == [("u", 2, "new"), ("r", 1, "a"), ("r", 2, "new")]


def test_a_transaction_past_the_high_watermark_follows_the_chunk_it_changed() -> None:
    """The chunk is emitted at that transaction's BEGIN, not after its rows."""
    table = _Table({1: "old", 2: "b"}, [lambda rows: Selected(10, rows, 20, lambda xid: xid == 8)])
    events = _run(table, [("begin", 25, 8), ("change", "u", 1, "new"), ("commit", 26)])
    assert events == [("r", 1, "old"), ("r", 2, "b"), ("u", 1, "new")]
    assert _last(events) == {1: "new", 2: "b"}


def test_a_missed_change_still_unseen_by_the_next_select_drops_that_row_too() -> None:
    """A change stays checked against later chunks until one of their SELECTs saw it."""

    def unseen_7(rows: list[dict[str, Any]]) -> Selected:
        return Selected(40, rows, 50, lambda xid: xid == 7)

    table = _Table({1: "a", 2: "b", 3: "old", 4: "d", 5: "old"}, [_saw_all(10, 20), unseen_7, unseen_7])
    log = [("begin", 30, 7), ("change", "u", 5, "new"), ("commit", 31)]
    events = _run(table, log)
    assert events == [("r", 1, "a"), ("r", 2, "b"), ("u", 5, "new"), ("r", 3, "old"), ("r", 4, "d")]


def test_without_visibility_a_change_at_or_after_the_low_watermark_overtakes() -> None:
    """A binlog: MariaDB names the position of the chunk's read view, both watermarks. The second
    chunk stands at 30 (selected ahead, while the first was open): the change at 35 is newer than
    its copy of row 3, the one at 15 is not newer than its copy of row 4."""
    at_20, at_30 = (lambda rows: Selected(20, rows, 20)), (lambda rows: Selected(30, rows, 30))
    table = _Table({1: "a", 2: "b", 3: "old", 4: "d"}, [at_20, at_30])
    log = [("begin", 15, None), ("change", "u", 4, "d"), ("commit", 16)]
    log += [("begin", 35, None), ("change", "u", 3, "new"), ("commit", 36)]
    events = _run(table, log)
    assert events == [("u", 4, "d"), ("r", 1, "a"), ("r", 2, "b"), ("u", 3, "new"), ("r", 4, "d")]


def test_a_chunk_with_visibility_ignores_positions() -> None:
    chunk = Chunk(
        low=100,
        high=200,
        rows=[{"id": 1}],
        last=[1],
        complete=True,
        columns=["id"],
        unseen=lambda xid: xid == 5,
    )
    chunk.touched(("1",), 150, 4)  # inside the window, but seen: the chunk's copy is as new
    assert chunk.remaining() == [{"id": 1}]
    chunk.touched(("1",), 50, 5)  # before the low watermark, yet unseen
    assert chunk.remaining() == []


@pytest.mark.parametrize(
    ("text", "xid", "unseen"),
    [
        ("100:105:101,103", 99, False),  # committed before the snapshot
        ("100:105:101,103", 101, True),  # running when it was taken
        ("100:105:101,103", 102, False),
        ("100:105:101,103", 105, True),  # not yet begun
        ("100:105:", 104, False),
        # 64-bit ids across a 32-bit wrap: epoch 1, the log's xid is the low 32 bits
        (f"{(1 << 32) - 3}:{(1 << 32) + 2}:{(1 << 32) - 1}", (1 << 32) - 1, True),
        (f"{(1 << 32) - 3}:{(1 << 32) + 2}:{(1 << 32) - 1}", (1 << 32) - 2, False),
        (f"{(1 << 32) - 3}:{(1 << 32) + 2}:", 1, False),
        (f"{(1 << 32) - 3}:{(1 << 32) + 2}:", 2, True),
    ],
)
def test_a_postgresql_snapshot_says_which_transactions_it_saw(text: str, xid: int, unseen: bool) -> None:
    assert Snapshot.parse(text).unseen(xid) is unseen


def test_a_chunk_selected_ahead_is_selected_again_when_the_history_overflowed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The second chunk is selected while the first is open, before transaction 9 changes row 3;
    9 then changes more rows than the history keeps, so its change of row 3 is forgotten: the
    chunk is selected again when it opens, and sees 9."""
    monkeypatch.setattr(capture, "HISTORY", 3)
    before_9 = [{"id": 3, "name": "old"}, {"id": 4, "name": "d"}]
    table = _Table(
        {1: "a", 2: "b", 3: "new", 4: "d"},  # as the table stands after 9
        [
            _saw_all(10, 20),
            lambda rows: Selected(15, before_9, 25, lambda xid: xid >= 9),  # ahead, before 9
            _saw_all(40, 50),  # again, after 9
        ],
    )
    log: list[Message] = [("begin", 30, 9), ("change", "u", 3, "new")]
    log += [("change", "c", key, "x") for key in (10, 11, 12, 13)]
    log += [("commit", 31)]
    events = _run(table, log, ahead=True)
    assert _last(events)[3] == "new"
    assert events.index(("r", 3, "new")) > events.index(("u", 3, "new"))
    assert ("r", 3, "old") not in events


def test_a_chunk_keeps_only_its_own_keys_whatever_a_transaction_changes() -> None:
    chunk = Chunk(low=0, high=10, rows=[{"id": 1}, {"id": 2}], last=[2], complete=False, columns=["id"])
    for key in range(1, 10_001):
        chunk.touched((str(key),), 5)
    assert chunk.overtaken == {("1",), ("2",)} and chunk.remaining() == []
