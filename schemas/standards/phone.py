"""Telephone numbers as legacy systems hold them.

Mobile: 11 digits starting 13-19, after dropping +86/0086, spaces, hyphens and full-width forms;
the canonical form is the 11 digits. Landline: a trunk ``0`` plus a 2- or 3-digit area code and a
7- or 8-digit number, optionally with an extension; canonical ``0AA-NNNNNNNN[-EXT]``.
"""

from __future__ import annotations

import re

from .errors import InvalidValue
from .text import half_width

_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_PREFIX = re.compile(r"^(?:\+86|0086|86)(?=1[3-9]\d{9}$)")
_LANDLINE = re.compile(
    r"^\(?(0(?:10|2\d|[3-9]\d{2}))\)?[\s-]?(\d{7,8})(?:(?:-|转|ext\.?|x)(\d{1,6}))?$", re.I
)


def normalize(value: object) -> str:
    """Canonical mobile or landline number, or :class:`InvalidValue` with the reason."""
    text = half_width(str(value)).strip()
    compact = re.sub(r"[\s-]", "", text)
    compact = _PREFIX.sub("", compact)
    if _MOBILE.match(compact):
        return compact
    m = _LANDLINE.match(text) or _LANDLINE.match(compact)
    if m:
        area, number, ext = m.groups()
        return f"{area}-{number}" + (f"-{ext}" if ext else "")
    if compact.startswith("1") and compact.isdigit():
        raise InvalidValue(f"a mobile number has 11 digits starting 13-19: {value!r}")
    raise InvalidValue(f"not a mobile or landline number: {value!r}")
