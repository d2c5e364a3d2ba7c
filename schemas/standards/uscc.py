"""Unified social credit codes, GB 32100-2015, and their organisation-code part, GB 11714.

18 characters from ``0123456789ABCDEFGHJKLMNPQRTUWXY`` (no I, O, S, V, Z): registering authority,
organisation type, 6-digit division code, 9-character organisation code (its own check at
position 17), and a MOD 31 check character. Letter authority codes such as ``Y`` (其他) are valid:
real registers hold them, although some validators reject them.
"""

from __future__ import annotations

import re

from .errors import InvalidValue
from .text import half_width

CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_VALUE = {c: i for i, c in enumerate(CHARSET)}
_SHAPE = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}$")
AUTHORITIES = {"1": "机构编制", "5": "民政", "9": "工商", "Y": "其他"}


def check_char(first17: str) -> str:
    total = sum(_VALUE[c] * w for c, w in zip(first17, WEIGHTS, strict=True))
    return CHARSET[(31 - total % 31) % 31]


def org_check_char(first8: str) -> str:
    """GB 11714 check character of an 8-character organisation code body."""
    total = sum(
        (int(c) if c.isdigit() else ord(c) - 55) * w for c, w in zip(first8, ORG_WEIGHTS, strict=True)
    )
    check = 11 - total % 11
    return "X" if check == 10 else "0" if check == 11 else str(check)


def normalize(value: str) -> str:
    """Canonical form of a credit code, or :class:`InvalidValue` with the reason."""
    text = half_width(str(value)).replace(" ", "").replace("-", "").strip().upper()
    if len(text) != 18:
        raise InvalidValue(f"a credit code has 18 characters, not {len(text)}")
    if not _SHAPE.match(text):
        bad = sorted({c for c in text if c not in CHARSET})
        raise InvalidValue(f"characters outside the GB 32100 set: {''.join(bad) or 'division code'}")
    expected = check_char(text[:17])
    if text[17] != expected:
        raise InvalidValue(f"check character is {text[17]}, expected {expected}")
    org_expected = org_check_char(text[8:16])
    if text[16] != org_expected:
        raise InvalidValue(f"organisation code check is {text[16]}, expected {org_expected}")
    return text
