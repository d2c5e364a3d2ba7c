"""The named functions a view's ``derived`` fields may call.

Only these run: a view file names a function and its arguments (fields of the view), never code.
Each takes the argument values and ``as_of_ms``, the view's own time (the newest event folded,
not the wall clock), so a derived value is the same every time the same events are folded. A
function answers None when an argument it needs is None.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

Function = Callable[..., Any]
EPOCH = dt.date(1970, 1, 1)


def age(birth_date: Any, *, as_of_ms: int) -> int | None:
    """Whole years from ``birth_date`` (a date or Avro days since 1970) to the view's time.

    None when either is unknown or the birth date lies after the view's time."""
    if birth_date is None or not as_of_ms:
        return None
    born = EPOCH + dt.timedelta(days=birth_date) if isinstance(birth_date, int) else birth_date
    today = dt.datetime.fromtimestamp(as_of_ms / 1000, dt.UTC).date()
    years = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    return years if years >= 0 else None


def count(items: Any, *, as_of_ms: int) -> int:
    """How many elements a collection holds."""
    return len(items or [])


def is_elderly(years: Any, *, as_of_ms: int) -> bool | None:
    """60 or older (老年人, 《老年人权益保障法》)."""
    return None if years is None else bool(years >= 60)


def lives_alone(members: Any, *, as_of_ms: int) -> bool:
    """Exactly one member in the household."""
    return len(members or []) == 1


def elderly_alone(members: Any, *, as_of_ms: int) -> bool:
    """Exactly one member, aged 60 or older at the view's time (独居老人)."""
    if not members or len(members) != 1:
        return False
    years = age(members[0].get("birth_date"), as_of_ms=as_of_ms)
    return years is not None and years >= 60


def has_any(items: Any, *, as_of_ms: int) -> bool:
    """The collection holds at least one element."""
    return bool(items)


def head_of(members: Any, *, as_of_ms: int) -> str | None:
    """The ID number of the member registered as head of household (GB/T 4761 code 02)."""
    heads = sorted(m["id_number"] for m in members or [] if m.get("relation_code") == "02")
    return heads[0] if heads else None


def needs_follow_up(inspections: Any, *, as_of_ms: int) -> bool:
    """Some inspection did not pass (责令整改 or 停产停业整顿)."""
    return any(i.get("result") not in (None, "PASSED") for i in inspections or [])


FUNCTIONS: dict[str, Function] = {
    "age": age,
    "count": count,
    "is_elderly": is_elderly,
    "lives_alone": lives_alone,
    "elderly_alone": elderly_alone,
    "needs_follow_up": needs_follow_up,
    "head_of": head_of,
    "has_any": has_any,
}
