"""One plan for a connector file: what ``connectors run`` runs and ``connectors validate`` checks.

:func:`load_plan` reads the YAML, validates its settings, resolves the canonical record and the
key field, builds the mapper (which checks every rule against the schema) and finds the source
type; every problem is collected and raised at once as :class:`PlanError`. :func:`problems` adds
what only the source can tell once connected (``Source.problems``): for SQL, the table, the
columns and their types.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from civicbus.schemas import model

from .base import ColumnUse, Source
from .config import ConfigError, ConnectorConfig, load
from .kinds import source_type
from .mapping import Mapper
from .runner import Pace


class PlanError(ValueError):
    """A connector file cannot run; ``problems`` lists every reason, each naming its setting."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        super().__init__(f"{path}: " + "; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Plan:
    cfg: ConnectorConfig
    mapper: Mapper
    envelope: dict[str, Any]
    """The value schema: the canonical record in civicbus's change-event envelope."""
    source_type: type[Source]

    def source(self) -> Source:
        """A new, not yet set up source for this connector."""
        return self.source_type(self.cfg.source, self.mapper.columns)

    def pace(self, max_backoff_s: float) -> Pace:
        cfg = self.cfg
        return Pace(
            batch_size=cfg.batch_size,
            poll_interval_s=cfg.poll_interval_s,
            max_rows_per_s=cfg.source.max_rows_per_s,
            tombstones=cfg.target.tombstones,
            max_backoff_s=max_backoff_s,
        )


@dataclass(frozen=True)
class _Draft:
    """A connector file as far as it could be understood, with what is wrong with it."""

    cfg: ConnectorConfig
    entity: dict[str, Any]
    mapper: Mapper | None
    problems: list[str]

    def column_uses(self) -> list[ColumnUse]:
        fields = {f["name"]: f for f in self.entity["fields"]}
        return [
            ColumnUse(name, rule.column, fields[name]["type"], rule.codes is not None or bool(rule.transform))
            for name, rule in self.cfg.mapping.items()
            if rule.column is not None and name in fields
        ]


def _draft(path: Path) -> _Draft:
    """Read and check the file; PlanError only when nothing further can be checked."""
    try:
        cfg = load(path)
    except ConfigError as exc:
        raise PlanError(path, exc.problems) from None
    try:
        entity = model.schema(cfg.target.schema_name)
    except KeyError as exc:
        raise PlanError(path, [f"target.schema: {exc.args[0]}"]) from None
    problems: list[str] = []
    if cfg.target.key not in {f["name"] for f in entity["fields"]}:
        problems.append(f"target.key: {cfg.target.key!r} is not a field of {entity['name']}")
    mapper = None
    try:
        mapper = Mapper(cfg.mapping, entity, cfg.source.zone)
    except ValueError as exc:
        problems += str(exc).split("; ")
    return _Draft(cfg, entity, mapper, problems)


def load_plan(path: str | Path) -> Plan:
    """The plan of the connector file at ``path``; PlanError with every problem otherwise."""
    path = Path(path)
    draft = _draft(path)
    if draft.problems or draft.mapper is None:
        raise PlanError(path, draft.problems)
    cfg = draft.cfg
    return Plan(cfg, draft.mapper, model.envelope(cfg.target.schema_name), source_type(cfg.source.type))


def problems(path: str | Path) -> list[str]:
    """Every problem with the connector file at ``path``, the source's own included; [] if it may run.

    The source is checked even when the mapping has problems, so one run lists them all."""
    try:
        draft = _draft(Path(path))
    except PlanError as exc:
        return exc.problems
    columns = sorted({rule.column for rule in draft.cfg.mapping.values() if rule.column})
    source = source_type(draft.cfg.source.type)(draft.cfg.source, columns)
    try:
        return draft.problems + source.problems(draft.column_uses())
    finally:
        source.close()
