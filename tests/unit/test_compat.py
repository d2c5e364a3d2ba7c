import json

import avro.schema

from civicbus.schemas.compat import check


def parse(fields: list[dict[str, object]]) -> avro.schema.Schema:
    return avro.schema.parse(json.dumps({"type": "record", "name": "R", "fields": fields}))


V1 = parse([{"name": "a", "type": "long"}])
ADD_WITH_DEFAULT = parse([{"name": "a", "type": "long"}, {"name": "b", "type": "string", "default": ""}])
ADD_NO_DEFAULT = parse([{"name": "a", "type": "long"}, {"name": "b", "type": "string"}])
NARROWED = parse([{"name": "a", "type": "int"}])


def test_additive_change_with_default_is_compatible_every_way() -> None:
    for mode in ("BACKWARD", "FORWARD", "FULL", "FULL_TRANSITIVE"):
        assert check(ADD_WITH_DEFAULT, [V1], mode) == []


def test_field_without_default_breaks_backward_and_names_the_field() -> None:
    problems = check(ADD_NO_DEFAULT, [V1], "BACKWARD")
    assert problems and "reader_field_missing_default_value" in problems[0] and "b" in problems[0]
    assert check(ADD_NO_DEFAULT, [V1], "FORWARD") == []


def test_narrowed_type_breaks_backward() -> None:
    assert check(NARROWED, [V1], "BACKWARD")


def test_transitive_modes_check_every_earlier_version() -> None:
    v2 = parse([{"name": "b", "type": "string", "default": ""}])  # dropped a
    v3 = parse([{"name": "a", "type": "string"}, {"name": "b", "type": "string", "default": ""}])
    assert check(v3, [V1, v2], "FORWARD") == []
    assert check(v3, [V1, v2], "FORWARD_TRANSITIVE")
    assert check(v3, [V1, v2], "NONE") == []
