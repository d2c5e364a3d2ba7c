"""A drop folder of spreadsheets read as rows: every data row of every file, once.

Files are taken in order of modification time, then name. A file is identified by the SHA-256 of
its content, so the same ledger dropped twice (under any name) produces no second set of events,
while a corrected ledger is a new file. Each row carries ``__file__`` and ``__row__`` (the row
number a person sees in the sheet), which are its source key: a dead letter names both.

CSV text is UTF-8 (with or without BOM) or GB18030/GBK, detected per file. XLSX cells keep their
types (dates stay dates). Blank rows are skipped.

A file that cannot be read as a ledger (a corrupt workbook, a CSV that is not text, a header
without the mapped columns, an Excel ``~$`` lock file) comes back as one bad row naming the file:
the runner dead-letters it and the folder's other files go on. A folder or file that cannot be
reached (unmounted, locked, removed mid-read) raises SourceUnavailable and is tried again.

Position: ``{"done": [sha, …], "current": {"sha": …, "row": n}}`` — files finished, and how far
into the file being read.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openpyxl

from civicbus.schemas.standards import InvalidValue
from civicbus.schemas.standards.text import decode_legacy

from ..base import Position, Source, SourceRow, SourceUnavailable
from .settings import SpreadsheetSettings

FILE, ROW = "__file__", "__row__"
LOCK_PREFIX = "~$"
"""Excel and WPS keep an owner file named ``~$<book>.xlsx`` beside a workbook that is open."""


class BadLedger(ValueError):
    """This file can never be read as a ledger; the message says why."""


class SpreadsheetSource(Source):
    settings_model = SpreadsheetSettings

    def __init__(self, settings: SpreadsheetSettings, columns: list[str]) -> None:
        self._cfg = settings
        self._columns = columns
        self._hashes: dict[tuple[str, int, int], str] = {}
        self._empty: set[str] = set()

    def describe(self) -> dict[str, str]:
        return {"database": f"folder:{self._cfg.folder}", "table": ",".join(self._cfg.patterns)}

    def setup(self) -> None:
        if not self._cfg.folder.is_dir():
            raise SourceUnavailable(f"source.folder: {self._cfg.folder} is not a folder (not mounted?)")

    def _files(self) -> list[Path]:
        self.setup()  # a folder that went away (an unmounted share) is an outage, not "no files"
        try:
            found = {
                p for pattern in self._cfg.patterns for p in self._cfg.folder.glob(pattern) if p.is_file()
            }
            return sorted(found, key=lambda p: (p.stat().st_mtime, p.name))
        except OSError as exc:
            raise SourceUnavailable(f"cannot list {self._cfg.folder}: {exc}") from exc

    def _sha(self, path: Path) -> str:
        st = path.stat()
        ident = (str(path), st.st_size, st.st_mtime_ns)
        if ident not in self._hashes:
            self._hashes[ident] = hashlib.sha256(path.read_bytes()).hexdigest()
        return self._hashes[ident]

    def _ledger(self, path: Path) -> list[tuple[int, dict[str, Any]]]:
        """Every data row of ``path``; BadLedger if it is not a ledger, SourceUnavailable if away."""
        if path.name.startswith(LOCK_PREFIX):
            raise BadLedger(f"{path.name}: an Excel lock file (the workbook is open somewhere), not a ledger")
        try:
            return list(self._rows(path))
        except OSError as exc:
            raise SourceUnavailable(f"cannot read {path}: {exc}") from exc
        except BadLedger:
            raise
        except (InvalidValue, csv.Error) as exc:
            raise BadLedger(f"{path.name}: not a text ledger: {exc}") from exc
        except Exception as exc:  # openpyxl raises many kinds for a corrupt workbook
            raise BadLedger(f"{path.name}: not a readable workbook: {type(exc).__name__}: {exc}") from exc

    def _rows(self, path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
        """(row number, values by header) of every non-blank data row."""
        if path.suffix.lower() == ".csv":
            text, _ = decode_legacy(path.read_bytes())
            table: Iterator[list[Any]] = iter(csv.reader(io.StringIO(text)))
        else:
            book = openpyxl.load_workbook(path, read_only=True, data_only=True)
            if self._cfg.sheet is not None and self._cfg.sheet not in book.sheetnames:
                raise BadLedger(f"{path.name}: no sheet {self._cfg.sheet!r} (has {book.sheetnames})")
            sheet = book[self._cfg.sheet] if self._cfg.sheet else book.worksheets[0]
            table = ([c for c in row] for row in sheet.iter_rows(values_only=True))
        header: list[str] = []
        for number, cells in enumerate(table, start=1):
            if number < self._cfg.header_row:
                continue
            if number == self._cfg.header_row:
                header = [str(c).strip() if c is not None else "" for c in cells]
                missing = [c for c in self._columns if c not in header and c not in (FILE, ROW)]
                if missing:
                    raise BadLedger(f"{path.name}: no column(s) {missing} in header row {number}")
                continue
            if all(c is None or str(c).strip() == "" for c in cells):
                continue
            yield number, {h: v for h, v in zip(header, cells, strict=False) if h}

    def read(self, after: Position | None, limit: int) -> list[SourceRow]:
        state = after or {}
        done: list[str] = list(state.get("done", []))
        current: dict[str, Any] | None = state.get("current")
        out: list[SourceRow] = []
        for path in self._files():
            if len(out) >= limit:
                break
            try:
                sha = self._sha(path)
            except OSError as exc:
                raise SourceUnavailable(f"cannot read {path}: {exc}") from exc
            if sha in done or sha in self._empty:
                continue
            start = current["row"] if current and current["sha"] == sha else 0
            try:
                pending = [(n, v) for n, v in self._ledger(path) if n > start]
            except BadLedger as exc:
                out.append(
                    SourceRow.bad({FILE: path.name}, {"current": {"sha": sha, "row": start}}, str(exc))
                )
                done, current = [*done, sha], None
                continue
            if not pending and start == 0:
                self._empty.add(sha)  # header only: nothing to deliver, nothing to remember
                continue
            take = pending[: limit - len(out)]
            for n, values in take:
                key = {FILE: path.name, ROW: n}
                # a compact position: resuming here re-reads finished files (coarser, never ahead)
                out.append(
                    SourceRow(values={**values, **key}, key=key, position={"current": {"sha": sha, "row": n}})
                )
            if len(take) < len(pending):
                current = {"sha": sha, "row": take[-1][0]}
                break
            done, current = [*done, sha], None
        if out:
            out[-1] = dataclasses.replace(out[-1], position={"done": done, "current": current})
        return out
