import json

import avro.schema
import fastavro

from civicbus.schemas import model


def test_every_canonical_schema_and_its_envelope_parses_in_both_libraries() -> None:
    for name in model.catalog():
        is_entity = not name.startswith("civicbus.envelope.")
        for schema in (model.schema(name), *([model.envelope(name)] if is_entity else [])):
            fastavro.parse_schema(schema)
            avro.schema.parse(json.dumps(schema))


def test_every_field_carries_governance_attributes() -> None:
    for name, schema in model.catalog().items():
        for field in schema["fields"]:
            missing = {"doc", "share", "sensitivity", "grade", "owner", "update_cycle"} - set(field)
            assert not missing, f"{name}.{field['name']} lacks {missing}"
            assert field["share"] in ("unconditional", "conditional", "none")


def test_envelope_has_the_debezium_shape() -> None:
    env = model.envelope("Resident")
    assert [f["name"] for f in env["fields"]] == [
        "op",
        "before",
        "after",
        "source",
        "ts_ms",
        "source_ts_ms",
        "quality",
        "transaction",
    ]
    assert env["fields"][0]["type"]["symbols"] == ["c", "u", "d", "r"]


def test_demo_rows_are_written_in_the_zone_the_demo_connectors_read_them_in() -> None:
    import datetime as dt
    from zoneinfo import ZoneInfo

    from civicbus.demo.generate import local_now

    shanghai = dt.datetime.now(ZoneInfo("Asia/Shanghai")).replace(tzinfo=None)
    assert abs((local_now() - shanghai).total_seconds()) < 60
