"""``civicbus schemas catalog``: the data catalog (政务数据目录) as Markdown and as an HTML page.

Topics come from connector files (their target topic, schema, department and system) plus the
unified view; for each, every field of its canonical record with type, meaning, share level,
sensitivity, grade, owning department and update cycle. Canonical records no topic carries yet
are listed at the end, so nothing in schemas/avro is left out.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
import yaml

from civicbus.schemas import model

from .attributes import GRADE, SENSITIVITY, SHARE, UPDATE_CYCLE


@dataclass
class Topic:
    topic: str
    record: str
    provider: str
    system: str
    title: str = ""
    doc: str = ""
    cycle: str = ""
    fields: list[dict[str, Any]] = field(default_factory=list)

    @property
    def anchor(self) -> str:
        return re.sub(r"[^a-z0-9]+", "-", self.topic.lower())


def type_name(t: Any) -> str:
    """A reader's rendering of an Avro type: ``date``, ``decimal(10,2)``, ``Resident?``…"""
    if isinstance(t, list):
        rest = [type_name(x) for x in t if x != "null"]
        return " | ".join(rest) + ("?" if "null" in t else "")
    if isinstance(t, dict):
        logical = t.get("logicalType")
        if logical == "decimal":
            return f"decimal({t['precision']},{t.get('scale', 0)})"
        if logical:
            return "timestamp" if str(logical).startswith("timestamp") else str(logical)
        if t["type"] == "enum":
            return f"enum {t['name']} {{{', '.join(t['symbols'])}}}"
        if t["type"] == "array":
            return f"array<{type_name(t['items'])}>"
        if t["type"] == "record":
            return str(t["name"])
        return type_name(t["type"])
    return str(t).rsplit(".", 1)[-1]


def _fields(schema: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "name": f["name"],
            "type": type_name(f["type"]),
            "doc": f.get("doc", ""),
            "share": f["share"],
            "share_zh": SHARE[f["share"]],
            "sensitivity": [SENSITIVITY.get(s, s) for s in f["sensitivity"]],
            "grade": f["grade"],
            "grade_zh": GRADE[f["grade"]],
            "owner": f["owner"],
            "cycle_zh": UPDATE_CYCLE[f["update_cycle"]],
        }
        for f in schema["fields"]
    ]


def topics(connector_files: list[Path], views: list[tuple[str, str, str]]) -> list[Topic]:
    """The catalog's entries: each connector's topic, then each view's (topic, record, file)."""
    found = []
    for path in sorted(connector_files):
        cfg = yaml.safe_load(path.read_text(encoding="utf-8"))
        target = cfg["target"]
        found.append(
            Topic(target["topic"], model.resolve_name(target["schema"]), cfg["department"], cfg["system"])
        )
    for topic, record, file in views:
        found.append(Topic(topic, model.resolve_name(record), "civicbus（跨部门汇聚）", file))
    for t in found:
        schema = model.schema(t.record)
        t.doc = schema["doc"]
        t.title = schema["doc"].split("/")[0].split("：")[0].strip()
        t.fields = _fields(schema)
        cycles = {f["cycle_zh"] for f in t.fields}
        t.cycle = "、".join(sorted(cycles))
    return found


def markdown(entries: list[Topic], unpublished: list[dict[str, str]], generated: str) -> str:
    lines = [f"# 政务数据目录 · civicbus data catalog\n\nGenerated {generated} from schemas/avro.\n"]
    for t in entries:
        lines += [
            f"## {t.title} — `{t.topic}`\n",
            f"Record `{t.record}` · provider {t.provider} · system {t.system} · update cycle {t.cycle}\n",
            f"{t.doc}\n",
            "| 数据项 field | 类型 type | 含义 meaning | 共享 share "
            "| 敏感 sensitivity | 分级 grade | 部门 owner | 更新 cycle |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for f in t.fields:
            cells = [
                f"`{f['name']}`",
                f"`{f['type']}`",
                f["doc"],
                f["share_zh"],
                ", ".join(f["sensitivity"]) or "—",
                f["grade_zh"],
                f["owner"],
                f["cycle_zh"],
            ]
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        lines.append("")
    if unpublished:
        lines.append("## Canonical records not yet on a topic\n")
        lines += [f"- `{r['name']}` — {r['doc']}" for r in unpublished]
    return "\n".join(lines) + "\n"


def write(out: Path, connector_files: list[Path], views: list[tuple[str, str, str]]) -> tuple[Path, Path]:
    """Write ``catalog.md`` and ``catalog.html`` into ``out``; returns their paths."""
    entries = topics(connector_files, views)
    on_topics = {t.record for t in entries}
    unpublished = [
        {"name": name, "doc": doc["doc"]}
        for name, doc in sorted(model.catalog().items())
        if name not in on_topics and not name.startswith("civicbus.envelope.")
    ]
    generated = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    template = env.from_string(
        resources.files("civicbus.schemas.governance").joinpath("catalog.html.j2").read_text(encoding="utf-8")
    )
    out.mkdir(parents=True, exist_ok=True)
    md, html = out / "catalog.md", out / "catalog.html"
    md.write_text(markdown(entries, unpublished, generated), encoding="utf-8")
    html.write_text(
        template.render(
            topics=entries, records=model.catalog(), unpublished=unpublished, generated=generated
        ),
        encoding="utf-8",
    )
    return md, html
