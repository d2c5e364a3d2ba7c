"""Resident identity numbers, GB 11643-1999.

18 characters: 6-digit address code, birth date YYYYMMDD, 3-digit sequence (odd male, even
female), and an ISO 7064 MOD 11-2 check character. Numbers issued before 1999 have 15 digits
(YYMMDD, year 19YY, no check character) and are upgraded to 18.
"""

from __future__ import annotations

import datetime as dt
import re
from operator import mul

from .errors import InvalidValue
from .text import half_width

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARS = "10X98765432"
_SHAPE18 = re.compile(r"[0-9]{17}[0-9X]")
_SHAPE15 = re.compile(r"[0-9]{15}")
_ZEROS = ord("0") * sum(WEIGHTS)


def check_char(first17: str) -> str:
    """The MOD 11-2 check character for the first 17 characters, ASCII digits."""
    return CHECK_CHARS[(sum(map(mul, first17.encode(), WEIGHTS)) - _ZEROS) % 11]


def _birth_date(digits8: str) -> dt.date:
    """``digits8``: eight ASCII digits, YYYYMMDD (which date.fromisoformat reads as such)."""
    try:
        return dt.date.fromisoformat(digits8)
    except ValueError:
        raise InvalidValue(f"birth date {digits8} is not a real date") from None


def normalize(value: str) -> str:
    """Canonical 18-character form of ``value``, or :class:`InvalidValue` with the reason.

    Accepts spaces, hyphens, full-width digits and a lower-case x; upgrades 15-digit numbers.
    """
    text = str(value)
    if not text.isascii():
        text = half_width(text)
    if not _SHAPE18.fullmatch(text):  # else already in canonical form
        text = text.replace(" ", "").replace("-", "").strip().upper()
        if _SHAPE15.fullmatch(text):
            _birth_date("19" + text[6:12])
            first17 = text[:6] + "19" + text[6:]
            return first17 + check_char(first17)
        if not _SHAPE18.fullmatch(text):
            shape = "not only ASCII digits and a final X" if len(text) in (15, 18) else "characters"
            raise InvalidValue(f"not an 18- or 15-character ID number: {len(text)} {shape}")
    _birth_date(text[6:14])
    expected = check_char(text[:17])
    if text[17] != expected:
        raise InvalidValue(f"check character is {text[17]}, expected {expected}")
    return text


def birth_date(number: str) -> dt.date:
    """Birth date of a normalised 18-character number."""
    return _birth_date(number[6:14])


def gender_code(number: str) -> str:
    """GB/T 2261.1 gender of a normalised 18-character number: '1' male, '2' female."""
    return "1" if int(number[16]) % 2 else "2"
