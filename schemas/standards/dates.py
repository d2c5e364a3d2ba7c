"""Dates as legacy systems write them.

Accepted: ``20230501``, ``2023-05-01``, ``2023/5/1``, ``2023.5.1``, ``2023年5月1日``, ISO
date-times (the date part is taken), Python dates, and Excel serial day numbers (1900 date
system, as int/float or digit strings of up to 5 digits). Two-digit years are rejected: which
century they mean is the source's to say, not ours.
"""

from __future__ import annotations

import datetime as dt
import re

from .errors import InvalidValue
from .text import half_width

_EXCEL_EPOCH = dt.date(1899, 12, 30)
_SEPARATED = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?(?:[ T].*)?$")
_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_SERIAL = re.compile(r"^\d{1,5}(?:\.0+)?$")


def _make(y: str | int, m: str | int, d: str | int, raw: object) -> dt.date:
    try:
        return dt.date(int(y), int(m), int(d))
    except ValueError:
        raise InvalidValue(f"{raw!r} is not a real date") from None


def _excel(serial: float, raw: object) -> dt.date:
    if not 1 <= serial < 2958466:
        raise InvalidValue(f"{raw!r} is out of the Excel serial date range")
    return _EXCEL_EPOCH + dt.timedelta(days=int(serial))


def parse(value: object) -> dt.date:
    """The date ``value`` denotes, or :class:`InvalidValue` saying why none."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _excel(float(value), value)
    text = str(value)
    text = (text if text.isascii() else half_width(text)).strip()
    if len(text) == 8 and text.isascii() and text.isdigit():  # YYYYMMDD, most legacy columns
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            raise InvalidValue(f"{value!r} is not a real date") from None
    m = _SEPARATED.match(text) or _COMPACT.match(text)
    if m:
        return _make(m.group(1), m.group(2), m.group(3), value)
    if _SERIAL.match(text):
        return _excel(float(text), value)
    raise InvalidValue(f"unrecognised date {value!r}")
