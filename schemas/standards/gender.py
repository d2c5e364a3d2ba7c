"""Gender, GB/T 2261.1-2003: 0 unknown, 1 male, 2 female, 9 not stated."""

from __future__ import annotations

from .errors import InvalidValue
from .text import half_width

CODES = {"0": "未知的性别", "1": "男", "2": "女", "9": "未说明的性别"}
_VARIANTS = {
    "0": "0",
    "1": "1",
    "2": "2",
    "9": "9",
    "男": "1",
    "男性": "1",
    "m": "1",
    "male": "1",
    "女": "2",
    "女性": "2",
    "f": "2",
    "female": "2",
    "未知": "0",
    "unknown": "0",
    "未说明": "9",
}


def normalize(value: object, zero_means_female: bool = False) -> str:
    """The GB/T 2261.1 code of a legacy gender value.

    Some legacy systems code female as 0 (1/0); pass ``zero_means_female`` for those, since
    '0' otherwise means unknown in the standard.
    """
    text = half_width(str(value)).strip().lower()
    if zero_means_female and text == "0":
        return "2"
    try:
        return _VARIANTS[text]
    except KeyError:
        raise InvalidValue(f"unknown gender value {value!r}") from None
