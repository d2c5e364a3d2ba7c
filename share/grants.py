"""Grants: the reviewed file that entitles one downstream app to fields of unified views.

A grant names the app (its broker principal and topic segment), the organisation holding it, its
purpose and legal basis, the expiry, and per view the fields it may receive. A field the
canonical record marks 有条件共享 (conditional) needs the grant's approval (approver, date,
document number); a 不予共享 field can never be granted. A field with a sensitivity is never
shared in plain text: it is masked for display (``mask``, the default) or, for an identifier,
replaced by a keyed pseudonym that stays joinable within the app (``pseudonym``).

:func:`load` parses and checks one file against the views it names and returns the grant or
raises :class:`GrantError` listing every problem at once. It reads no broker and no registry:
the data office runs it on a laptop before a grant is merged.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, field_validator

from civicbus.core.files import FileProblems, Strict, described
from civicbus.schemas import model
from civicbus.schemas.governance.attributes import SENSITIVITY, SHARE
from civicbus.streams.views.spec import ViewSpec

from .fields import scalar

IDENTIFIERS = frozenset({"id_number", "phone", "credit_code"})
"""Sensitivities whose values identify someone: the ones a keyed pseudonym may replace."""
MASKABLE = frozenset({"id_number", "phone", "name", "address", "birth_date", "gender"})
"""Sensitivities with a display mask (schemas/governance/masking.py); any other is suppressed."""

Treatment = Literal["mask", "pseudonym"]


class GrantError(FileProblems):
    """A grant file that breaks a rule or cannot be read."""


class GrantedField(Strict):
    """One field of a view, and how a sensitive one is protected (``as``; mask by default)."""

    name: str
    treatment: Treatment | None = Field(None, alias="as")


class ViewGrant(Strict):
    view: str = Field(description="the view's name (its file's ``name``)")
    fields: list[GrantedField] = Field(min_length=1)

    @field_validator("fields", mode="before")
    @classmethod
    def _names(cls, value: Any) -> Any:
        """A bare field name is short for ``{name: …}``."""
        if isinstance(value, list):
            return [{"name": item} if isinstance(item, str) else item for item in value]
        return value


class Approval(Strict):
    """The sign-off that 有条件共享 fields need (国发〔2016〕51号: shared on approval)."""

    approver: str = Field(min_length=2)
    date: dt.date
    document: str = Field(min_length=4, description="the approval's document number, e.g. 京数管〔2026〕17号")


class Grant(Strict):
    app: str = Field(
        pattern=r"^[a-z0-9][a-z0-9-]{1,62}$", description="the app's principal and topic segment"
    )
    organisation: str = Field(min_length=2)
    purpose: str = Field(min_length=4)
    legal_basis: str = Field(min_length=4)
    contact: str = Field(min_length=2)
    expires: dt.date
    approval: Approval | None = None
    views: list[ViewGrant] = Field(min_length=1)


def problems(grant: Grant, views: Iterable[ViewSpec], today: dt.date) -> list[str]:
    """Every way ``grant`` breaks the sharing rules against ``views`` (the views it may name)."""
    known = {v.name: v for v in views}
    found: list[str] = []
    if grant.expires < today:
        found.append(f"expired on {grant.expires} (today is {today})")
    if grant.approval is not None and grant.approval.date > today:
        found.append(f"approval dated {grant.approval.date}, after today ({today})")
    conditional: list[str] = []
    named = [g.view for g in grant.views]
    found += [
        f"view {v!r} is granted twice: one entry per view" for v in sorted(set(named)) if named.count(v) > 1
    ]
    for entry in grant.views:
        spec = known.get(entry.view)
        if spec is None:
            found.append(f"unknown view {entry.view!r} (known: {', '.join(sorted(known))})")
            continue
        fields = {f["name"]: f for f in model.schema(spec.record)["fields"]}
        listed = [f.name for f in entry.fields]
        found += [f"{entry.view}.{n}: listed twice" for n in sorted(set(listed)) if listed.count(n) > 1]
        for granted in entry.fields:
            where = f"{entry.view}.{granted.name}"
            attrs = fields.get(granted.name)
            if attrs is None:
                found.append(f"{where}: no such field in {spec.record} (fields: {', '.join(fields)})")
                continue
            found += _field_problems(where, granted, attrs)
            if attrs.get("share") == "conditional":
                conditional.append(where)
    if conditional and grant.approval is None:
        found.append(
            f"{', '.join(conditional)}: {SHARE['conditional']} (conditional): the grant needs an approval "
            "(approver, date, document)"
        )
    return found


def _field_problems(where: str, granted: GrantedField, attrs: dict[str, Any]) -> list[str]:
    share = attrs.get("share")
    if share == "none":
        return [f"{where}: {SHARE['none']} (never shared): it cannot be granted"]
    kinds = attrs.get("sensitivity") or []
    if kinds and scalar(attrs["type"]) is None:
        return [
            f"{where}: a record, list or map holding personal information ({', '.join(kinds)}); "
            "projections protect single values only: grant a view field that holds what is needed"
        ]
    if not kinds and granted.treatment is not None:
        return [f"{where}: not sensitive, shared as is: drop 'as: {granted.treatment}'"]
    if granted.treatment == "pseudonym" and not set(kinds) <= IDENTIFIERS:
        named = ", ".join(f"{k} ({SENSITIVITY.get(k, k)})" for k in kinds if k not in IDENTIFIERS)
        return [f"{where}: a pseudonym replaces identifiers only; it holds {named}: use 'as: mask'"]
    if granted.treatment != "pseudonym" and not set(kinds) <= MASKABLE:
        named = ", ".join(f"{k} ({SENSITIVITY.get(k, k)})" for k in kinds if k not in MASKABLE)
        return [f"{where}: {named} has no display mask, so it would arrive suppressed: leave it out"]
    return []


def parse(path: Path) -> Grant:
    """The grant in ``path``, its shape checked (not yet against the views)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise GrantError(str(path), [f"cannot read: {exc}"]) from exc
    try:
        return Grant.model_validate(data)
    except ValidationError as exc:
        raise GrantError(str(path), described(exc)) from exc


def load(path: Path, views: Iterable[ViewSpec], today: dt.date | None = None) -> Grant:
    """The grant in ``path`` if it keeps every rule against ``views``; GrantError lists each
    problem otherwise."""
    grant = parse(path)
    found = problems(grant, views, today or dt.date.today())
    if found:
        raise GrantError(str(path), found)
    return grant
