"""Full-width to half-width, the normalisation legacy Chinese text needs first."""

from __future__ import annotations

_FULL_TO_HALF = {c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}


def half_width(value: str) -> str:
    """Full-width ASCII forms (Ｘ１２ and the ideographic space) become their ASCII characters."""
    return value.translate(_FULL_TO_HALF)
