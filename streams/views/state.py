"""A view key's fold state as bytes for its store (and the store's changelog), and back.

JSON (orjson), readable with any tool; the values Avro decodes to that JSON lacks (dates,
timestamps, decimals, bytes) are written as one-key objects (``{"$date": "2024-05-01"}``) and
come back as the same Python values, so a state read back renders exactly the record it rendered
before.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import orjson

from .fold import State

_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS


def encode(state: State) -> bytes:
    return orjson.dumps(state, default=_tag, option=_OPTIONS)


def decode(data: bytes) -> State:
    state = orjson.loads(data)
    # a tag can only open an object: JSON escapes the quote of a '{"$' inside a string
    if b'{"$' in data:
        state = _untag(state)
    if not isinstance(state, dict):
        raise ValueError("a fold state is a JSON object")
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


def _untag(node: Any) -> Any:
    """orjson has no object hook: walk the decoded tree, turning tagged objects back into values."""
    if isinstance(node, dict):
        if len(node) == 1:
            ((tag, text),) = node.items()
            if tag in _UNTAG:
                return _UNTAG[tag](text)
        for k, v in node.items():
            if isinstance(v, dict | list):
                node[k] = _untag(v)
        return node
    if isinstance(node, list):
        return [_untag(v) if isinstance(v, dict | list) else v for v in node]
    return node
