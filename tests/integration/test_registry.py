"""The registry's Confluent API on the real broker, and its durability across a restart."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests

from ..helpers import RegistryProcess, unique

pytestmark = pytest.mark.integration
CT = {"Content-Type": "application/vnd.schemaregistry.v1+json"}


def record(*fields: dict[str, object]) -> str:
    return json.dumps({"type": "record", "name": "R", "namespace": "t", "fields": list(fields)})


V1 = record({"name": "a", "type": "long"})
V2 = record({"name": "a", "type": "long"}, {"name": "b", "type": "string", "default": ""})
BREAKING = record({"name": "a", "type": "long"}, {"name": "c", "type": "string"})


def post(url: str, body: dict[str, object]) -> requests.Response:
    return requests.post(url, data=json.dumps(body), headers=CT, timeout=10)


def test_register_read_and_refuse_with_confluent_errors(registry_url: str) -> None:
    s = unique("subject") + "-value"
    first = post(f"{registry_url}/subjects/{s}/versions", {"schema": V1})
    assert first.status_code == 200 and first.headers["Content-Type"].startswith(CT["Content-Type"])
    sid = first.json()["id"]
    assert post(f"{registry_url}/subjects/{s}/versions", {"schema": V1}).json() == {"id": sid}
    sid2 = post(f"{registry_url}/subjects/{s}/versions", {"schema": V2}).json()["id"]
    assert sid2 != sid
    assert requests.get(f"{registry_url}/subjects/{s}/versions").json() == [1, 2]
    latest = requests.get(f"{registry_url}/subjects/{s}/versions/latest").json()
    assert (latest["version"], latest["id"]) == (2, sid2)
    assert json.loads(requests.get(f"{registry_url}/schemas/ids/{sid}").json()["schema"]) == json.loads(V1)
    assert post(f"{registry_url}/subjects/{s}", {"schema": V1}).json()["version"] == 1
    assert s in requests.get(f"{registry_url}/subjects").json()

    refused = post(f"{registry_url}/subjects/{s}/versions", {"schema": BREAKING})
    assert refused.status_code == 409 and refused.json()["error_code"] == 40901
    assert "reader_field_missing_default_value" in refused.json()["message"]
    check = post(
        f"{registry_url}/compatibility/subjects/{s}/versions/latest?verbose=true", {"schema": BREAKING}
    ).json()
    assert check["is_compatible"] is False and check["messages"]

    for url, code in [
        (f"/subjects/{unique('none')}/versions", 40401),
        (f"/subjects/{s}/versions/9", 40402),
        ("/schemas/ids/987654", 40403),
        (f"/config/{s}", 40408),
    ]:
        resp = requests.get(registry_url + url, timeout=10)
        assert resp.json()["error_code"] == code, url
        assert resp.status_code == code // 100
    invalid = post(f"{registry_url}/subjects/{s}/versions", {"schema": "{not avro"})
    assert invalid.status_code == 422 and invalid.json()["error_code"] == 42201
    bad_level = requests.put(
        f"{registry_url}/config/{s}", data=json.dumps({"compatibility": "LOOSE"}), headers=CT, timeout=10
    )
    assert bad_level.json()["error_code"] == 42203


def test_compatibility_mode_per_subject(registry_url: str) -> None:
    s = unique("subject")
    assert post(f"{registry_url}/subjects/{s}/versions", {"schema": V1}).ok
    put = requests.put(
        f"{registry_url}/config/{s}", data=json.dumps({"compatibility": "NONE"}), headers=CT, timeout=10
    )
    assert put.json() == {"compatibility": "NONE"}
    assert requests.get(f"{registry_url}/config/{s}").json() == {"compatibilityLevel": "NONE"}
    assert post(f"{registry_url}/subjects/{s}/versions", {"schema": BREAKING}).ok
    assert requests.get(f"{registry_url}/config").json() == {"compatibilityLevel": "BACKWARD"}


def test_restart_keeps_every_subject_version_and_id(bootstrap: str, logs: Path) -> None:
    with RegistryProcess(bootstrap, logs) as registry:
        url = registry.url

        def snapshot() -> dict[str, object]:
            subjects = requests.get(f"{url}/subjects", timeout=10).json()
            return {
                s: [
                    requests.get(f"{url}/subjects/{s}/versions/{v}", timeout=10).json()
                    for v in requests.get(f"{url}/subjects/{s}/versions", timeout=10).json()
                ]
                for s in subjects
            } | {"config": requests.get(f"{url}/config/a", timeout=10).json()}

        for name in ("a", "b", "c"):
            post(f"{url}/subjects/{name}/versions", {"schema": V1})
        post(f"{url}/subjects/a/versions", {"schema": V2})
        requests.put(f"{url}/config/a", data=json.dumps({"compatibility": "FULL"}), headers=CT, timeout=10)
        before = snapshot()
        registry.restart()
        assert snapshot() == before
        # a new schema after the restart gets a fresh ID, never one already used
        new = post(f"{url}/subjects/d/versions", {"schema": BREAKING}).json()["id"]
        used = {v["id"] for s, vs in before.items() if s != "config" for v in vs}  # type: ignore[union-attr]
        assert new not in used
