"""Named transforms a connector's YAML may apply to a column: ``transform: id_number``.

The national standards (schemas/standards) plus a few text clean-ups. Each takes the legacy value
and returns the canonical one or raises InvalidValue with a reason. Type coercion to the Avro
field type happens after, in mapping.py; these are domain rules.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from civicbus.schemas.standards import NORMALIZERS, gender
from civicbus.schemas.standards.text import half_width

Transform = Callable[[Any], Any]

TRANSFORMS: dict[str, Transform] = {
    **NORMALIZERS,
    "gender_zero_female": lambda v: gender.normalize(v, zero_means_female=True),
    "strip": lambda v: half_width(str(v)).strip(),
    "upper": lambda v: half_width(str(v)).strip().upper(),
}
