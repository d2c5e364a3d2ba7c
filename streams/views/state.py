"""A view key's fold state as bytes for its table (and the table's changelog), and back.

JSON, readable with any tool; the values Avro decodes to that JSON lacks (dates, timestamps,
decimals, bytes) are written as one-key objects (``{"$date": "2024-05-01"}``) and come back as
the same Python values, so a state read back renders exactly the record it rendered before.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from .fold import State


def encode(state: State) -> bytes:
    return json.dumps(state, default=_tag, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


def decode(data: bytes) -> State:
    state: State = json.loads(data, object_hook=_untag)
    return state


def _tag(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, dt.date):
        return {"$date": value.isoformat()}
    if isinstance(value, Decimal):
        return {"$decimal": str(value)}
    if isinstance(value, bytes):
        return {"$bytes": base64.b64encode(value).decode()}
    raise TypeError(f"a fold state cannot hold {type(value).__name__}")


_UNTAG: dict[str, Callable[[str], Any]] = {
    "$datetime": dt.datetime.fromisoformat,
    "$date": dt.date.fromisoformat,
    "$decimal": Decimal,
    "$bytes": base64.b64decode,
}


def _untag(obj: dict[str, Any]) -> Any:
    if len(obj) == 1:
        ((tag, text),) = obj.items()
        if tag in _UNTAG:
            return _UNTAG[tag](text)
    return obj
