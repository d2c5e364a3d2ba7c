"""Display masks and keyed pseudonyms for personal information (GB/T 37964-2019 techniques).

No national standard fixes a display mask, so :class:`MaskPolicy` is configuration; its defaults
are the common ones (``110105********1234``, ``138****1234``, ``王*``, an address without its
tail, a birth date generalised to its year, an age to its decade). :func:`pseudonym` is a
keyed hash (HMAC-SHA256): the same value and key give the same pseudonym in every topic, so
masked data stays joinable, and without the key the value cannot be recovered or confirmed by
guessing.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, Field


class MaskPolicy(BaseModel):
    id_keep_prefix: int = Field(6, ge=0, le=18)
    id_keep_suffix: int = Field(4, ge=0, le=18)
    phone_keep_prefix: int = Field(3, ge=0, le=11)
    phone_keep_suffix: int = Field(4, ge=0, le=11)
    name_keep_first: int = Field(1, ge=0)
    address_keep_chars: int = Field(6, ge=0)
    mask_char: str = Field("*", min_length=1, max_length=1)


def _keep(text: str, prefix: int, suffix: int, char: str) -> str:
    if prefix + suffix >= len(text):
        return char * len(text)
    return (
        text[:prefix] + char * (len(text) - prefix - suffix) + (text[len(text) - suffix :] if suffix else "")
    )


def mask(kind: str, value: Any, policy: MaskPolicy | None = None) -> Any:
    """The display form of ``value`` of sensitivity ``kind``; None stays None.

    Unknown kinds (health, financial, …) are suppressed entirely.
    """
    if value is None:
        return None
    p = policy or MaskPolicy()
    text = str(value)
    if kind == "id_number":
        return _keep(text, p.id_keep_prefix, p.id_keep_suffix, p.mask_char)
    if kind == "phone":
        return _keep(text, p.phone_keep_prefix, p.phone_keep_suffix, p.mask_char)
    if kind == "name":
        return text[: p.name_keep_first] + p.mask_char * max(len(text) - p.name_keep_first, 1)
    if kind == "address":
        return text[: p.address_keep_chars] + (p.mask_char * 3 if len(text) > p.address_keep_chars else "")
    if kind == "birth_date":
        if isinstance(value, int) and not isinstance(value, bool):  # an age: its decade
            return f"{value // 10 * 10}-{value // 10 * 10 + 9}"
        return text[:4]
    if kind == "gender":
        return value
    return p.mask_char * 3


def pseudonym(value: str, key: bytes, kind: str = "id_number", length: int = 32) -> str:
    """A stable, keyed pseudonym of ``value``; ``kind`` separates domains (an ID from a phone)."""
    if len(key) < 16:
        raise ValueError("a pseudonymisation key needs at least 16 bytes")
    digest = hmac.new(key, f"{kind}\x1f{value}".encode(), hashlib.sha256).hexdigest()
    return digest[:length]


def protect(
    record: Mapping[str, Any],
    schema: Mapping[str, Any],
    policy: MaskPolicy | None = None,
    key: bytes | None = None,
) -> dict[str, Any]:
    """A copy of ``record`` with each sensitive top-level field masked, or pseudonymised when a
    ``key`` is given and the field is an identifier (id_number, phone)."""
    out = dict(record)
    for field in schema["fields"]:
        kinds = field.get("sensitivity") or []
        name = field["name"]
        if not kinds or name not in out or out[name] is None or not isinstance(out[name], str | int):
            continue
        kind = kinds[0]
        if key is not None and kind in ("id_number", "phone"):
            out[name] = pseudonym(str(out[name]), key, kind)
        else:
            out[name] = mask(kind, out[name], policy)
    return out
