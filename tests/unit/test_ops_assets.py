"""The files operations staff and Docker users rely on agree with the code."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from prometheus_client.metrics import MetricWrapperBase

from civicbus.connectors.config import ConnectorSettings
from civicbus.core.identity import KafkaIdentity
from civicbus.core.settings import BusSettings
from civicbus.ops import metrics
from civicbus.ops.kafka.settings import BrokerSettings
from civicbus.registry.settings import RegistrySettings
from civicbus.share.settings import ShareSettings
from civicbus.share.sinks.settings import SinkSettings
from civicbus.streams.settings import StreamsSettings

ROOT = Path(__file__).resolve().parents[2]
OFFICIAL = {"apache/kafka", "python", "prom/prometheus", "grafana/grafana"}


def exported_names() -> set[str]:
    names: set[str] = set()
    for obj in vars(metrics).values():
        if isinstance(obj, MetricWrapperBase):
            for family in obj.describe():
                for suffix in ("", "_total", "_bucket", "_count", "_sum", "_created"):
                    names.add(family.name + suffix)
    return names


def referenced(expr: str) -> set[str]:
    return set(re.findall(r"\bcivicbus_[a-z_]+", expr))


def test_alerts_and_dashboard_use_only_defined_metrics() -> None:
    known = exported_names()
    rules = yaml.safe_load((ROOT / "ops/prometheus/alerts.yml").read_text())
    exprs = [r["expr"] for g in rules["groups"] for r in g["rules"]]
    dash = json.loads((ROOT / "ops/dashboards/civicbus.json").read_text())
    exprs += [t["expr"] for p in dash["panels"] for t in p["targets"]]
    used = set().union(*(referenced(e) for e in exprs))
    assert used and used <= known, f"unknown metrics: {used - known}"


def settings_env_names() -> set[str]:
    names = {"CIVICBUS_BOOTSTRAP_SERVERS", "CIVICBUS_REGISTRY_URL"}
    for model in (
        BrokerSettings,
        ConnectorSettings,
        RegistrySettings,
        StreamsSettings,
        BusSettings,
        ShareSettings,
        SinkSettings,
        KafkaIdentity,
    ):
        prefix = str(model.model_config.get("env_prefix", ""))
        names |= {f"{prefix}{f}".upper() for f in model.model_fields if prefix}
    return names


def test_compose_uses_official_images_and_only_settings_the_code_reads() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    for name, svc in services.items():
        repo, _, tag = svc["image"].partition(":")
        assert repo in OFFICIAL and tag and tag != "latest", f"{name}: {svc['image']}"
    known = settings_env_names() | {"CIVICBUS_DEMO_DIR"}
    for name, svc in services.items():
        for var in svc.get("environment", {}):
            if var.startswith("CIVICBUS_"):
                assert var in known, f"{name} sets {var}, which no settings model reads"
    assert "CIVICBUS_DEMO_DIR" in (ROOT / "connectors/examples/gongan-hukou.yaml").read_text()
    # the services reach each other with the variables the code reads
    env = services["connectors"]["environment"]
    assert env["CIVICBUS_BOOTSTRAP_SERVERS"] == "kafka:9092"
    assert (
        env["CIVICBUS_REGISTRY_URL"]
        == f"http://registry:{services['registry']['environment']['CIVICBUS_REGISTRY_PORT']}"
    )
    for arg in services["connectors"]["command"][2:]:
        assert (ROOT / arg).is_file(), arg
    # the compose broker is the same Kafka release the local broker resolves
    pom = (ROOT / "ops/kafka/pom.xml").read_text()
    version = re.search(r"<kafka.version>([^<]+)<", pom)
    assert version and services["kafka"]["image"] == f"apache/kafka:{version.group(1)}"


def test_prometheus_scrapes_the_ports_the_processes_serve() -> None:
    prom = yaml.safe_load((ROOT / "ops/prometheus/prometheus.yml").read_text())
    targets = {t for job in prom["scrape_configs"] for c in job["static_configs"] for t in c["targets"]}
    assert targets == {
        f"connectors:{ConnectorSettings().metrics_port}",
        f"streams:{StreamsSettings().metrics_port}",
        f"registry:{RegistrySettings().port}",
        f"share:{ShareSettings().metrics_port}",
    }


def test_a_cluster_id_never_starts_with_a_dash() -> None:
    """kafka-storage's parser takes '-…' for an option: one format in 64 failed at random."""
    from civicbus.ops.kafka import broker

    ids = [broker._cluster_id() for _ in range(2000)]
    assert not any(i.startswith("-") for i in ids) and all(len(i) == 22 for i in ids)
