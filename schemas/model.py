"""The canonical model: load the .avsc files of ``schemas/avro`` and build event envelopes.

Named types may refer to types of other files (a profile embeds a Resident); :func:`schema`
inlines each referenced definition once, so the result parses on its own in avro and fastavro.
Every change event on a topic is :func:`envelope` of an entity: Debezium's shape
``{op, before, after, source, ts_ms}`` that downstream users already know.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable
from functools import cache
from importlib import resources
from typing import Any

Schema = dict[str, Any]
_GOV = {
    "share": "unconditional",
    "sensitivity": [],
    "grade": "general",
    "owner": "civicbus",
    "update_cycle": "realtime",
}


Catalog = dict[str, Schema]


def load_catalog(texts: Iterable[str]) -> Catalog:
    """Index .avsc documents (their JSON texts) by full name."""
    found: Catalog = {}
    for text in texts:
        doc = json.loads(text)
        found[f"{doc['namespace']}.{doc['name']}"] = doc
    return found


@cache
def catalog() -> Catalog:
    """Every named record of schemas/avro by full name (``namespace.name``)."""
    files = resources.files("civicbus.schemas").joinpath("avro").iterdir()
    return load_catalog(e.read_text(encoding="utf-8") for e in files if e.name.endswith(".avsc"))


def _expand(node: Any, namespace: str, defined: set[str], known: Catalog) -> Any:
    if isinstance(node, str):
        full = node if "." in node else f"{namespace}.{node}"
        if full in known and full not in defined:
            return _expand(copy.deepcopy(known[full]), namespace, defined, known)
        return node
    if isinstance(node, list):
        return [_expand(n, namespace, defined, known) for n in node]
    if isinstance(node, dict):
        if node.get("type") in ("record", "enum", "fixed"):
            ns = node.get("namespace", namespace)
            defined.add(f"{ns}.{node['name']}")
            namespace = ns
        out = dict(node)
        if "fields" in out:
            out["fields"] = [
                {**f, "type": _expand(f["type"], namespace, defined, known)} for f in out["fields"]
            ]
        for key in ("items", "values"):
            if key in out:
                out[key] = _expand(out[key], namespace, defined, known)
        if isinstance(out.get("type"), dict | list):
            out["type"] = _expand(out["type"], namespace, defined, known)
        return out
    return node


def resolve_name(name: str, known: Catalog | None = None) -> str:
    """Full name of ``name``, which may be a full name or a bare record name."""
    known = catalog() if known is None else known
    if name in known:
        return name
    matches = [full for full in known if full.rsplit(".", 1)[1] == name]
    if len(matches) != 1:
        raise KeyError(f"no canonical schema named {name!r}; known: {sorted(known)}")
    return matches[0]


def schema(name: str, known: Catalog | None = None) -> Schema:
    """A self-contained copy of canonical record ``name`` (from ``known``, default schemas/avro)."""
    known = catalog() if known is None else known
    full = resolve_name(name, known)
    result: Schema = _expand(copy.deepcopy(known[full]), full.rsplit(".", 1)[0], set(), known)
    return result


def envelope(entity: str, known: Catalog | None = None) -> Schema:
    """The change-event schema for canonical record ``entity``."""
    body = schema(entity, known)
    full = f"{body['namespace']}.{body['name']}"
    return {
        "type": "record",
        "name": f"{body['name']}Event",
        "namespace": body["namespace"],
        "doc": f"变更事件 / A change to one {body['name']} (Debezium-style envelope).",
        "fields": [
            {
                "name": "op",
                "doc": "c 新增, u 更新, d 删除, r 读取（查询式采集观察到的当前状态）",
                "type": {
                    "type": "enum",
                    "name": "Op",
                    "namespace": "civicbus.envelope",
                    "symbols": ["c", "u", "d", "r"],
                },
                **_GOV,
            },
            {
                "name": "before",
                "type": ["null", body],
                "default": None,
                "doc": "变更前的状态（源能提供时）/ State before the change, where the source knows it.",
                **_GOV,
                "share": "conditional",
            },
            {
                "name": "after",
                "type": ["null", full],
                "default": None,
                "doc": "变更后的状态；删除时为空 / State after the change; null for a delete.",
                **_GOV,
                "share": "conditional",
            },
            {
                "name": "source",
                "type": schema("civicbus.envelope.Source"),
                "doc": "事件来源 / Where the event came from.",
                **_GOV,
            },
            {
                "name": "ts_ms",
                "type": {"type": "long", "logicalType": "timestamp-millis"},
                "doc": "连接器读取时间 / When the connector read the change.",
                **_GOV,
            },
            {
                "name": "source_ts_ms",
                "type": ["null", {"type": "long", "logicalType": "timestamp-millis"}],
                "default": None,
                "doc": "源记录时间戳（如有）/ The row's own change timestamp, if any.",
                **_GOV,
            },
            {
                "name": "quality",
                "type": {"type": "array", "items": "string"},
                "default": [],
                "doc": "质量标记：未通过校验而置空的数据项 / Fields that failed validation and were "
                "nulled under the connector's flag policy, as 'field: reason'.",
                **_GOV,
            },
            {
                "name": "transaction",
                "type": [
                    "null",
                    {
                        "type": "record",
                        "name": "Transaction",
                        "namespace": "civicbus.envelope",
                        "fields": [
                            {"name": "id", "type": "string", "doc": "源事务标识 / The source transaction."},
                            {
                                "name": "order",
                                "type": "long",
                                "doc": "本表在该事务内的第几个变更（从 1 起）/ "
                                "The change's place in it, from 1.",
                            },
                        ],
                    },
                ],
                "default": None,
                "doc": "源事务（日志式采集）/ The source transaction (log-based capture); a change of "
                "id marks a transaction boundary.",
                **_GOV,
            },
        ],
    }


KEY_SCHEMA: Schema | str = "string"
"""Every topic is keyed by a canonical string key (for people: the 18-character ID number)."""
