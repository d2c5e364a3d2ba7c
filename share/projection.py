"""One app's projection of one view: the granted fields only, each protected as the grant says.

Built from a checked grant (:mod:`.grants`) and the view's canonical record; pure (no broker, no
registry), so the same code is unit-tested and run by :mod:`.projector`.

Contract of :class:`Projection`:
- :attr:`schema` is the Avro record the app's topic carries: the granted fields in the view's
  order, each nullable with default null (so a grant that later adds a field stays a compatible
  schema), a sensitive one as a string (its mask or pseudonym), every field keeping its share
  and sensitivity attributes plus ``treatment`` (``plain``, ``mask`` or ``pseudonym``).
- :meth:`record` maps a view record (values as Avro stores them) to the projected one; a field
  not granted never leaves, a sensitive one never leaves in plain text.
- :meth:`key` is the projected topic's key: the view's key as is when the key field is granted
  and not sensitive, otherwise the app's pseudonym of it. Pseudonyms are HMAC-SHA256 under the
  app's own key (:func:`app_key`): the same person has the same pseudonym in every view of one
  app, and different ones in two apps, so apps cannot join their data behind the grants.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping
from typing import Any

from civicbus.schemas import model
from civicbus.schemas.governance.masking import mask, pseudonym
from civicbus.streams.views.spec import ViewSpec

from .fields import display, scalar
from .grants import Grant, ViewGrant

Protect = Callable[[Any], Any]


def app_key(master: bytes, app: str) -> bytes:
    """The app's pseudonymisation key, derived from civicbus's master key (≥ 32 bytes)."""
    if len(master) < 32:
        raise ValueError("the pseudonymisation master key needs at least 32 bytes")
    return hmac.new(master, f"civicbus-pseudonym\x1f{app}".encode(), hashlib.sha256).digest()


def topic(app: str, view: str) -> str:
    """The app's topic for ``view``; only the app's principal (and civicbus's) may read it."""
    return f"civicbus.share.{app}.{view}"


def _protector(treatment: str, kinds: list[str], kind: str, key: bytes) -> Protect:
    if treatment == "plain":
        return lambda value: value
    sensitivity = kinds[0]
    if treatment == "pseudonym":
        return lambda value: None if value is None else pseudonym(display(value, kind), key, sensitivity)
    if kind == "boolean":  # a flag derived from the kind reveals less than the kind's own mask
        return lambda value: value
    if kind in ("int", "long") and sensitivity == "birth_date":
        return lambda value: mask(sensitivity, value)
    return lambda value: None if value is None else mask(sensitivity, display(value, kind))


class Projection:
    """``grant``'s share of ``spec``'s records (the grant checked against the view already)."""

    def __init__(self, grant: Grant, entry: ViewGrant, spec: ViewSpec, key: bytes) -> None:
        self.app = grant.app
        self.view = spec.name
        self.topic = topic(grant.app, spec.name)
        self._pseudonym_key = key
        source = model.schema(spec.record)
        fields = {f["name"]: f for f in source["fields"]}
        granted = {g.name: g for g in entry.fields}
        self._plan: list[tuple[str, Protect]] = []
        out: list[dict[str, Any]] = []
        for field in source["fields"]:
            if field["name"] not in granted:
                continue
            kinds = list(field.get("sensitivity") or [])
            kind = scalar(field["type"]) or "composite"
            treatment = "plain" if not kinds else granted[field["name"]].treatment or "mask"
            protect = _protector(treatment, kinds, kind, key)
            self._plan.append((field["name"], protect))
            shown = field["type"] if treatment == "plain" or kind == "boolean" else "string"
            out.append(
                {
                    **{k: v for k, v in field.items() if k not in ("type", "default")},
                    "type": _nullable(shown),
                    "default": None,
                    "treatment": treatment,
                }
            )
        key_field = fields[spec.key]
        self._key_plain = spec.key in granted and not key_field.get("sensitivity")
        self.schema: dict[str, Any] = {
            "type": "record",
            "name": source["name"],
            "namespace": f"civicbus.share.{grant.app.replace('-', '_')}",
            "doc": f"{source.get('doc', spec.record)} — as shared with {grant.app} ({grant.purpose})",
            "fields": out,
        }

    def record(self, value: Mapping[str, Any]) -> dict[str, Any]:
        return {name: protect(value.get(name)) for name, protect in self._plan}

    def key(self, view_key: str) -> str:
        return view_key if self._key_plain else pseudonym(view_key, self._pseudonym_key, "key")


def _nullable(avro_type: Any) -> Any:
    if isinstance(avro_type, list):
        return avro_type if avro_type[:1] == ["null"] else ["null", *[t for t in avro_type if t != "null"]]
    return ["null", avro_type]


def projections(grant: Grant, specs: Mapping[str, ViewSpec], master: bytes) -> list[Projection]:
    """Every projection ``grant`` entitles its app to (one per view it names)."""
    key = app_key(master, grant.app)
    return [Projection(grant, entry, specs[entry.view], key) for entry in grant.views]
