"""Settings of a spreadsheet drop folder: ``source: {type: spreadsheet, folder: …}``."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from ..base import SourceSettings


class SpreadsheetSettings(SourceSettings):
    type: Literal["spreadsheet"] = "spreadsheet"
    folder: Path = Field(description="the drop folder; files are read, never moved or changed")
    patterns: list[str] = Field(["*.xlsx", "*.csv"], min_length=1)
    sheet: str | None = Field(None, description="XLSX sheet name (default: the first sheet)")
    header_row: int = Field(1, ge=1, description="the row holding the column names")
