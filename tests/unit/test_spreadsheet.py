"""The spreadsheet drop folder as a source: CSV in GBK or UTF-8, XLSX, each row once."""

import datetime as dt
import os
import shutil
from pathlib import Path

import openpyxl
import pytest

from civicbus.connectors.base import SourceRow, SourceUnavailable
from civicbus.connectors.spreadsheet.settings import SpreadsheetSettings
from civicbus.connectors.spreadsheet.source import FILE, SpreadsheetSource

COLUMNS = ["身份证号", "姓名", "走访日期"]


def ledger_xlsx(path: Path, rows: list[list[object]]) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(COLUMNS)
    for row in rows:
        sheet.append(row)
    book.save(path)


def source(folder: Path) -> SpreadsheetSource:
    s = SpreadsheetSource(SpreadsheetSettings(folder=folder), COLUMNS)
    s.setup()
    return s


def drain(
    src: SpreadsheetSource, position: object = None, limit: int = 2
) -> tuple[list[dict[str, object]], object]:
    rows = []
    while batch := src.read(position, limit):
        rows += [dict(r.values) for r in batch]
        position = batch[-1].position
    return rows, position


def test_csv_in_gbk_and_xlsx_rows_are_read_once_with_file_and_row(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_bytes(
        "身份证号,姓名,走访日期\n11010519491231002X,王芳,2024/3/1\n,,\n"
        "110105194912310021,李四,2024年3月2日\n".encode("gbk")
    )
    ledger_xlsx(tmp_path / "b.xlsx", [["11010519491231002X", "张三", dt.datetime(2024, 3, 3)]])
    rows, position = drain(source(tmp_path))
    assert [(r["__file__"], r["__row__"], r["姓名"]) for r in rows] == [
        ("a.csv", 2, "王芳"),
        ("a.csv", 4, "李四"),
        ("b.xlsx", 2, "张三"),
    ]
    assert rows[2]["走访日期"] == dt.datetime(2024, 3, 3)
    # the same ledger dropped again under another name: nothing new
    shutil.copy(tmp_path / "b.xlsx", tmp_path / "b (1).xlsx")
    assert source(tmp_path).read(position, 10) == []
    # a corrected ledger is a new file
    ledger_xlsx(tmp_path / "c.xlsx", [["11010519491231002X", "张三丰", None]])
    more = source(tmp_path).read(position, 10)
    assert [r.values["姓名"] for r in more] == ["张三丰"]


def test_a_restart_mid_file_resumes_after_the_last_saved_row(tmp_path: Path) -> None:
    ledger_xlsx(tmp_path / "big.xlsx", [[f"id{i}", f"人{i}", None] for i in range(5)])
    src = source(tmp_path)
    first = src.read(None, 2)
    resumed = source(tmp_path).read(first[-1].position, 10)
    assert [r.values["姓名"] for r in first + resumed] == [f"人{i}" for i in range(5)]


def test_files_that_are_not_ledgers_become_bad_rows_naming_the_file_and_the_rest_go_on(
    tmp_path: Path,
) -> None:
    (tmp_path / "a-wrong-header.csv").write_text("身份证号,名字\n1,2\n", encoding="utf-8")
    (tmp_path / "b-corrupt.xlsx").write_bytes(b"PK\x03\x04 this is not a zip archive")
    (tmp_path / "c-binary.csv").write_bytes(bytes(range(256)) * 4)
    ledger_xlsx(tmp_path / "d-good.xlsx", [["110105194912310021", "王芳", None]])
    (tmp_path / "~$d-good.xlsx").write_bytes(b"\x05wang  " + b"\x00" * 40)
    for i, name in enumerate(sorted(p.name for p in tmp_path.iterdir())):  # a stable file order
        os.utime(tmp_path / name, (1_700_000_000 + i, 1_700_000_000 + i))
    rows, _ = drain_rows(source(tmp_path), limit=10)
    bad = {r.key[FILE]: r.error for r in rows if r.error}
    assert set(bad) == {"a-wrong-header.csv", "b-corrupt.xlsx", "c-binary.csv", "~$d-good.xlsx"}
    assert "no column(s) ['姓名', '走访日期'] in header row 1" in str(bad["a-wrong-header.csv"])
    assert "not a readable workbook" in str(bad["b-corrupt.xlsx"])
    assert "not a text ledger" in str(bad["c-binary.csv"])
    assert "lock file" in str(bad["~$d-good.xlsx"])
    assert [r.values["姓名"] for r in rows if not r.error] == ["王芳"]


def test_bad_files_are_reported_once_and_a_resume_after_them_does_not_repeat_them(tmp_path: Path) -> None:
    (tmp_path / "x.csv").write_text("身份证号,名字\n1,2\n", encoding="utf-8")
    rows, position = drain_rows(source(tmp_path), limit=10)
    assert [r.error is not None for r in rows] == [True]
    assert source(tmp_path).read(position, 10) == []


def test_a_missing_folder_is_unavailable_not_invalid(tmp_path: Path) -> None:
    with pytest.raises(SourceUnavailable, match="is not a folder"):
        source(tmp_path / "nope")


def drain_rows(src: SpreadsheetSource, limit: int) -> tuple[list[SourceRow], object]:
    rows: list[SourceRow] = []
    position: object = None
    while batch := src.read(position, limit):
        rows += batch
        position = batch[-1].position
    return rows, position
