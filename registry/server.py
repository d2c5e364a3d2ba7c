"""The Confluent Schema Registry REST API, served by aiohttp over a :class:`SchemaStore`.

Only the routes clients rely on (peers.md) are served. Errors always carry Confluent's body
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


async def _schema_text(request: web.Request) -> str:
    body = await _body(request)
    if body.get("schemaType", "AVRO") != "AVRO":
        raise RegistryError(RegistryError.INVALID_SCHEMA, "this registry serves AVRO schemas only")
    schema = body.get("schema")
    if not isinstance(schema, str):
        raise RegistryError(RegistryError.INVALID_SCHEMA, "field 'schema' (a string) is required")
    return schema


def _id(request: web.Request) -> int:
    try:
        return int(request.match_info["id"])
    except ValueError:
        raise RegistryError(RegistryError.SCHEMA_NOT_FOUND, "Schema not found") from None


def build_app(store: SchemaStore) -> web.Application:
    """The aiohttp application; ``store`` must already be loaded."""
    app = web.Application(middlewares=[_errors])
    app[STORE] = store
    r = web.RouteTableDef()

    @r.get("/")
    async def root(_: web.Request) -> web.Response:
        return _json({})

    @r.get("/metrics")
    async def prom(_: web.Request) -> web.Response:
        return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    @r.get("/subjects")
    async def subjects(_: web.Request) -> web.Response:
        return _json(store.subjects())

    @r.get("/subjects/{subject}/versions")
    async def versions(req: web.Request) -> web.Response:
        return _json([v.version for v in store.versions(req.match_info["subject"])])

    def _version_body(subject: str, v: Any) -> dict[str, Any]:
        return {"subject": subject, "version": v.version, "id": v.id, "schema": store.schema(v.id)}

    @r.get("/subjects/{subject}/versions/{version}")
    async def version(req: web.Request) -> web.Response:
        subject = req.match_info["subject"]
        return _json(_version_body(subject, store.version(subject, req.match_info["version"])))

    @r.get("/subjects/{subject}/versions/{version}/schema")
    async def version_schema(req: web.Request) -> web.Response:
        v = store.version(req.match_info["subject"], req.match_info["version"])
        return web.Response(text=store.schema(v.id), content_type=CONTENT_TYPE)

    @r.post("/subjects/{subject}/versions")
    async def register(req: web.Request) -> web.Response:
        text = await _schema_text(req)
        sid = await asyncio.to_thread(store.register, req.match_info["subject"], text)
        return _json({"id": sid})

    @r.post("/subjects/{subject}")
    async def lookup(req: web.Request) -> web.Response:
        subject = req.match_info["subject"]
        return _json(_version_body(subject, store.lookup(subject, await _schema_text(req))))

    @r.get("/schemas/ids/{id}")
    async def by_id(req: web.Request) -> web.Response:
        return _json({"schema": store.schema(_id(req))})

    @r.get("/schemas/ids/{id}/schema")
    async def raw_by_id(req: web.Request) -> web.Response:
        return web.Response(text=store.schema(_id(req)), content_type=CONTENT_TYPE)

    @r.get("/schemas/ids/{id}/versions")
    async def id_versions(req: web.Request) -> web.Response:
        return _json([{"subject": s, "version": v} for s, v in store.subjects_of(_id(req))])

    @r.post("/compatibility/subjects/{subject}/versions/{version}")
    async def compatibility(req: web.Request) -> web.Response:
        text = await _schema_text(req)
        problems = store.compatibility(req.match_info["subject"], text, req.match_info["version"])
        body: dict[str, Any] = {"is_compatible": not problems}
        if req.query.get("verbose") == "true":
            body["messages"] = problems
        return _json(body)

    @r.get("/config")
    async def get_config(_: web.Request) -> web.Response:
        return _json({"compatibilityLevel": store.mode()})

    @r.put("/config")
    async def put_config(req: web.Request) -> web.Response:
        mode = (await _body(req)).get("compatibility", "")
        return _json({"compatibility": await asyncio.to_thread(store.set_mode, mode)})

    @r.get("/config/{subject}")
    async def get_subject_config(req: web.Request) -> web.Response:
        fallback = req.query.get("defaultToGlobal") == "true"
        return _json({"compatibilityLevel": store.mode(req.match_info["subject"], fallback)})

    @r.put("/config/{subject}")
    async def put_subject_config(req: web.Request) -> web.Response:
        mode = (await _body(req)).get("compatibility", "")
        subject = req.match_info["subject"]
        return _json({"compatibility": await asyncio.to_thread(store.set_mode, mode, subject)})

    app.add_routes(r)
    return app
