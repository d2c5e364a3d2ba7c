"""Full-width to half-width, the normalisation legacy Chinese text needs first."""

from __future__ import annotations

_FULL_TO_HALF = {c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}


def half_width(value: str) -> str:
    """Full-width ASCII forms (Ｘ１２ and the ideographic space) become their ASCII characters."""
    return value.translate(_FULL_TO_HALF)


def decode_legacy(data: bytes) -> tuple[str, str]:
    """Text of bytes from a legacy export, with the encoding used: UTF-8 (BOM allowed), else GB18030.

    GB18030 is a superset of GBK and GB2312, so it reads all three. Bytes valid in neither raise
    :class:`InvalidValue`; nothing is decoded with replacement characters.
    """
    from .errors import InvalidValue

    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding), "utf-8" if encoding == "utf-8-sig" else encoding
        except UnicodeDecodeError:
            continue
    raise InvalidValue("bytes are neither UTF-8 nor GB18030 text")
