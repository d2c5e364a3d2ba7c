"""A small client for the Confluent Schema Registry API (civicbus's, Confluent's or Karapace).

It uses only documented routes, so any of them can stand behind ``CIVICBUS_REGISTRY_URL``.
Registrations and schemas by ID are cached for the life of the client: both are immutable.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import requests

from .registry_errors import RegistryError

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


class RegistryClient:
    def __init__(self, url: str, timeout_s: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self._timeout = timeout_s
        self._session = requests.Session()
        self._session.headers.update({"Content-Type": CONTENT_TYPE, "Accept": CONTENT_TYPE})
        self._ids: dict[tuple[str, str], int] = {}
        self._schemas: dict[int, dict[str, Any] | list[Any] | str] = {}
        self._lock = threading.Lock()

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """One API call: its decoded JSON answer, or RegistryError with the registry's code.

        An unreachable registry is 50002; an answer that is not JSON is returned as text.
        """
        try:
            resp = self._session.request(
                method,
                self.url + path,
                timeout=self._timeout,
                data=json.dumps(body) if body is not None else None,
            )
        except requests.RequestException as exc:
            raise RegistryError(50002, f"registry at {self.url} unreachable: {exc}") from exc
        try:
            payload = resp.json() if resp.content else None
        except ValueError:
            payload = resp.text
        if resp.status_code >= 400:
            code = (
                payload.get("error_code", resp.status_code) if isinstance(payload, dict) else resp.status_code
            )
            msg = payload.get("message", resp.text) if isinstance(payload, dict) else resp.text
            raise RegistryError(int(code), str(msg))
        return payload

    def register(self, subject: str, schema: dict[str, Any] | list[Any] | str) -> int:
        """Register (idempotently) and return the schema's ID; raises RegistryError 40901 if refused.

        ``schema`` is the parsed JSON form: a record dict, a union list, or a primitive name.
        """
        text = json.dumps(schema, ensure_ascii=False)
        key = (subject, text)
        with self._lock:
            if key not in self._ids:
                sid = int(self.request("POST", f"/subjects/{subject}/versions", {"schema": text})["id"])
                self._ids[key] = sid
                self._schemas.setdefault(sid, json.loads(text))
            return self._ids[key]

    def schema(self, schema_id: int) -> dict[str, Any] | list[Any] | str:
        """The parsed writer schema of ``schema_id``."""
        with self._lock:
            if schema_id not in self._schemas:
                body = self.request("GET", f"/schemas/ids/{schema_id}")
                self._schemas[schema_id] = json.loads(body["schema"])
            return self._schemas[schema_id]

    def subjects(self) -> list[str]:
        return list(self.request("GET", "/subjects"))

    def latest(self, subject: str) -> dict[str, Any]:
        return dict(self.request("GET", f"/subjects/{subject}/versions/latest"))

    def compatibility(self, subject: str, schema: dict[str, Any]) -> list[str]:
        body = self.request(
            "POST",
            f"/compatibility/subjects/{subject}/versions/latest?verbose=true",
            {"schema": json.dumps(schema, ensure_ascii=False)},
        )
        return [] if body["is_compatible"] else list(body.get("messages") or ["incompatible"])
