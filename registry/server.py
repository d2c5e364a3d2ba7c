"""The Confluent Schema Registry REST API, served by aiohttp over a :class:`SchemaStore`.

Every route of Confluent's API that applies to Avro schemas is served (contexts, tags,
metadata rules and associations are not). Errors always carry Confluent's body
``{"error_code": N, "message": "..."}`` with the matching HTTP status; an unexpected failure is
logged and answered 50001, never a bare 500 page. ``/metrics`` exposes ops/metrics.py.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from civicbus.ops import metrics
from civicbus.schemas.registry_errors import RegistryError

from .records import Reference, Stored, Version
from .store import SchemaStore

log = structlog.get_logger(__name__)
CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
STORE: web.AppKey[SchemaStore] = web.AppKey("store", SchemaStore)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(text=json.dumps(body, ensure_ascii=False), status=status, content_type=CONTENT_TYPE)


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    route = request.match_info.route.resource.canonical if request.match_info.route.resource else "?"
    try:
        response = await handler(request)
    except RegistryError as exc:
        response = _json({"error_code": exc.code, "message": exc.message}, exc.http_status)
    except web.HTTPException as exc:
        response = _json({"error_code": exc.status, "message": exc.reason}, exc.status)
    except Exception:
        log.exception("registry.request_failed", route=route)
        response = _json({"error_code": 50001, "message": "Error in the backend data store"}, 500)
    metrics.REGISTRY_REQUESTS.labels(route, str(response.status)).inc()
    return response


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.text())
    except ValueError as exc:
        raise RegistryError(RegistryError.INVALID_SCHEMA, f"request body is not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise RegistryError(RegistryError.INVALID_SCHEMA, "request body must be a JSON object")
    return body


def _schema(body: dict[str, Any]) -> Stored:
    """The schema and references of a registration, lookup or compatibility request."""
    if (body.get("schemaType") or "AVRO") != "AVRO":
        raise RegistryError(RegistryError.INVALID_SCHEMA, "this registry serves AVRO schemas only")
    if body.get("metadata") or body.get("ruleSet"):
        raise RegistryError(
            RegistryError.INVALID_SCHEMA, "this registry does not store metadata or rule sets"
        )
    schema = body.get("schema")
    if not isinstance(schema, str):
        raise RegistryError(RegistryError.INVALID_SCHEMA, "field 'schema' (a string) is required")
    try:
        return Stored(schema, Reference.many(body.get("references")))
    except ValueError as exc:
        raise RegistryError(RegistryError.INVALID_SCHEMA, f"Invalid schema: {exc}") from None


def _flag(request: web.Request, name: str) -> bool:
    """A boolean query parameter as Confluent's (Java) server reads it: "true" in any case."""
    return request.query.get(name, "").lower() == "true"


def _page(request: web.Request, items: list[Any]) -> list[Any]:
    try:
        offset = int(request.query.get("offset", "0"))
        limit = int(request.query.get("limit", "-1"))
    except ValueError:
        raise RegistryError(RegistryError.INVALID_VERSION, "offset and limit must be integers") from None
    items = items[max(offset, 0) :]
    return items if limit < 0 else items[:limit]


def _optional_int(body: dict[str, Any], name: str, least: int) -> int | None:
    """Field ``name`` if set; below ``least`` means unset, as clients send -1 or 0 for "none"."""
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise RegistryError(RegistryError.INVALID_SCHEMA, f"field '{name}' must be an integer")
    return value if value >= least else None


def _id(request: web.Request) -> int:
    try:
        return int(request.match_info["id"])
    except ValueError:
        raise RegistryError(RegistryError.SCHEMA_NOT_FOUND, "Schema not found") from None


def _with_refs(body: dict[str, Any], stored: Stored) -> dict[str, Any]:
    if stored.references:
        body["references"] = [r.as_json() for r in stored.references]
    return body


def build_app(store: SchemaStore) -> web.Application:
    """The aiohttp application; ``store`` must already be loaded. Writes run off the event loop."""
    app = web.Application(middlewares=[_errors])
    app[STORE] = store
    r = web.RouteTableDef()

    @r.get("/")
    async def root(_: web.Request) -> web.Response:
        return _json({})

    @r.get("/metrics")
    async def prom(_: web.Request) -> web.Response:
        return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    # --- subjects and versions ------------------------------------------------------------------
    @r.get("/subjects")
    async def subjects(req: web.Request) -> web.Response:
        only = _flag(req, "deletedOnly") or _flag(req, "deleted_only")
        found = store.subjects(_flag(req, "deleted"), only, req.query.get("subjectPrefix", ""))
        return _json(_page(req, found))

    @r.get("/subjects/{subject}/versions")
    async def versions(req: web.Request) -> web.Response:
        only = _flag(req, "deletedOnly") or _flag(req, "deleted_only")
        found = store.versions(req.match_info["subject"], _flag(req, "deleted"), only)
        return _json(_page(req, [v.version for v in found]))

    def _version_body(v: Version) -> dict[str, Any]:
        stored = store.schema(v.id)
        return _with_refs(
            {"subject": v.subject, "version": v.version, "id": v.id, "schema": stored.text}, stored
        )

    @r.get("/subjects/{subject}/versions/{version}")
    async def version(req: web.Request) -> web.Response:
        v = store.version(req.match_info["subject"], req.match_info["version"], _flag(req, "deleted"))
        return _json(_version_body(v))

    @r.get("/subjects/{subject}/versions/{version}/schema")
    async def version_schema(req: web.Request) -> web.Response:
        v = store.version(req.match_info["subject"], req.match_info["version"], _flag(req, "deleted"))
        return web.Response(text=store.schema(v.id).text, content_type=CONTENT_TYPE)

    @r.get("/subjects/{subject}/versions/{version}/referencedby")
    async def referenced_by(req: web.Request) -> web.Response:
        found = store.referenced_by(
            req.match_info["subject"], req.match_info["version"], _flag(req, "deleted")
        )
        return _json(_page(req, found))

    @r.post("/subjects/{subject}/versions")
    async def register(req: web.Request) -> web.Response:
        body = await _body(req)
        registered = await asyncio.to_thread(
            store.register,
            req.match_info["subject"],
            _schema(body),
            _flag(req, "normalize"),
            _optional_int(body, "id", least=0),
            _optional_int(body, "version", least=1),
        )
        return _json({"id": registered.id})

    @r.post("/subjects/{subject}")
    async def lookup(req: web.Request) -> web.Response:
        schema = _schema(await _body(req))
        found = store.lookup(
            req.match_info["subject"], schema, _flag(req, "normalize"), _flag(req, "deleted")
        )
        return _json(_version_body(found))

    @r.delete("/subjects/{subject}")
    async def delete_subject(req: web.Request) -> web.Response:
        deleted = await asyncio.to_thread(
            store.delete_subject, req.match_info["subject"], _flag(req, "permanent")
        )
        return _json(deleted)

    @r.delete("/subjects/{subject}/versions/{version}")
    async def delete_version(req: web.Request) -> web.Response:
        subject, number = req.match_info["subject"], req.match_info["version"]
        return _json(await asyncio.to_thread(store.delete_version, subject, number, _flag(req, "permanent")))

    # --- schemas by ID --------------------------------------------------------------------------
    @r.get("/contexts")
    async def contexts(_: web.Request) -> web.Response:
        return _json(["."])  # the default context is the only one served

    @r.get("/schemas/types")
    async def types(_: web.Request) -> web.Response:
        return _json(["AVRO"])

    @r.get("/schemas/ids/{id}")
    async def by_id(req: web.Request) -> web.Response:
        stored = store.schema(_id(req))
        return _json(_with_refs({"schema": stored.text}, stored))

    @r.get("/schemas/ids/{id}/schema")
    async def raw_by_id(req: web.Request) -> web.Response:
        return web.Response(text=store.schema(_id(req)).text, content_type=CONTENT_TYPE)

    @r.get("/schemas/ids/{id}/versions")
    async def id_versions(req: web.Request) -> web.Response:
        found = store.holders(_id(req), _flag(req, "deleted"))
        return _json(_page(req, [{"subject": v.subject, "version": v.version} for v in found]))

    @r.get("/schemas/ids/{id}/subjects")
    async def id_subjects(req: web.Request) -> web.Response:
        found = store.holders(_id(req), _flag(req, "deleted"))
        return _json(_page(req, sorted({v.subject for v in found})))

    # --- compatibility --------------------------------------------------------------------------
    async def _compatible(req: web.Request, version: str) -> web.Response:
        schema = _schema(await _body(req))
        problems = store.compatibility(req.match_info["subject"], schema, version, _flag(req, "normalize"))
        body: dict[str, Any] = {"is_compatible": not problems}
        if _flag(req, "verbose"):
            body["messages"] = problems
        return _json(body)

    @r.post("/compatibility/subjects/{subject}/versions/{version}")
    async def compatibility(req: web.Request) -> web.Response:
        return await _compatible(req, req.match_info["version"])

    @r.post("/compatibility/subjects/{subject}/versions")
    async def compatibility_all(req: web.Request) -> web.Response:
        return await _compatible(req, "latest")

    # --- compatibility levels and modes ---------------------------------------------------------
    def _level(body: dict[str, Any]) -> str:
        return str(body.get("compatibility") or body.get("compatibilityLevel") or "")

    @r.get("/config")
    async def get_config(_: web.Request) -> web.Response:
        return _json({"compatibilityLevel": store.level()})

    @r.put("/config")
    async def put_config(req: web.Request) -> web.Response:
        level = _level(await _body(req))
        return _json({"compatibility": await asyncio.to_thread(store.set_level, level)})

    @r.delete("/config")
    async def delete_config(_: web.Request) -> web.Response:
        return _json({"compatibilityLevel": await asyncio.to_thread(store.delete_level)})

    @r.get("/config/{subject}")
    async def get_subject_config(req: web.Request) -> web.Response:
        return _json(
            {"compatibilityLevel": store.level(req.match_info["subject"], _flag(req, "defaultToGlobal"))}
        )

    @r.put("/config/{subject}")
    async def put_subject_config(req: web.Request) -> web.Response:
        level = _level(await _body(req))
        return _json(
            {"compatibility": await asyncio.to_thread(store.set_level, level, req.match_info["subject"])}
        )

    @r.delete("/config/{subject}")
    async def delete_subject_config(req: web.Request) -> web.Response:
        before = await asyncio.to_thread(store.delete_level, req.match_info["subject"])
        return _json({"compatibilityLevel": before})

    @r.get("/mode")
    async def get_mode(_: web.Request) -> web.Response:
        return _json({"mode": store.mode()})

    @r.put("/mode")
    async def put_mode(req: web.Request) -> web.Response:
        mode = str((await _body(req)).get("mode") or "")
        return _json({"mode": await asyncio.to_thread(store.set_mode, mode, None, _flag(req, "force"))})

    @r.delete("/mode")
    async def delete_mode(_: web.Request) -> web.Response:
        return _json({"mode": await asyncio.to_thread(store.delete_mode)})

    @r.get("/mode/{subject}")
    async def get_subject_mode(req: web.Request) -> web.Response:
        return _json({"mode": store.mode(req.match_info["subject"], _flag(req, "defaultToGlobal"))})

    @r.put("/mode/{subject}")
    async def put_subject_mode(req: web.Request) -> web.Response:
        mode = str((await _body(req)).get("mode") or "")
        subject = req.match_info["subject"]
        return _json({"mode": await asyncio.to_thread(store.set_mode, mode, subject, _flag(req, "force"))})

    @r.delete("/mode/{subject}")
    async def delete_subject_mode(req: web.Request) -> web.Response:
        return _json({"mode": await asyncio.to_thread(store.delete_mode, req.match_info["subject"])})

    app.add_routes(r)
    return app
