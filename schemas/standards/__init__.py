"""China's national code standards as pure functions: normalise a legacy value or say why not.

Every function here either returns the canonical value or raises :class:`InvalidValue` with a
reason a person can act on; none returns a guess. :data:`NORMALIZERS` names them for connector
mappings (``transform: id_number``) and ``civicbus check``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import dates, division, ethnicity, gender, id_number, phone, uscc
from .errors import InvalidValue

NORMALIZERS: dict[str, Callable[[Any], Any]] = {
    "id_number": lambda v: id_number.normalize(str(v)),
    "uscc": lambda v: uscc.normalize(str(v)),
    "division": lambda v: division.normalize(str(v)),
    "phone": phone.normalize,
    "date": dates.parse,
    "gender": gender.normalize,
    "ethnicity": ethnicity.normalize,
}

__all__ = ["NORMALIZERS", "InvalidValue"]
