"""civicbus: departmental databases → canonical Avro events on Kafka → unified views.

One import name holds every part; in the repository each part has its own top-level folder,
mapped here by pyproject's package-dir:

- ``civicbus.connectors`` (connectors/): each departmental system as a producer of change events;
- ``civicbus.schemas`` (schemas/): the canonical model, national code standards, the wire format
  and the registry client;
- ``civicbus.registry`` (registry/): the Confluent-API schema registry service;
- ``civicbus.streams`` (streams/): stream processors that join departments into unified views;
- ``civicbus.ops`` (ops/): metrics, logs, the local Kafka broker;
- ``civicbus.share`` (share/): grants, projections, the broker's ACLs, audit, subscribers and sinks;
- ``civicbus.core`` (civicbus/core/): the ground every part stands on: Kafka plumbing, backoff,
  settings, the dead-letter format;
- ``civicbus.cli`` and ``civicbus.demo`` (civicbus/): the command and the demo, orchestration only.

The layers are enforced by lint-imports (pyproject.toml): nothing imports upward, no component
imports the command, and the ground imports no component.
"""


def __getattr__(name: str) -> object:
    """``civicbus.subscribe(app, view)``: a downstream app's entry (civicbus.share.subscribe)."""
    if name == "subscribe":
        from civicbus.share.subscribe import subscribe

        return subscribe
    raise AttributeError(f"module 'civicbus' has no attribute {name!r}")
