"""docker-compose.yml cannot run here (no Docker engine); check what it promises."""

from __future__ import annotations

from pathlib import Path

import yaml

COMPOSE = Path(__file__).parents[1] / "docker-compose.yml"


def test_compose_wires_kafka_jaeger_and_the_worker() -> None:
    services = yaml.safe_load(COMPOSE.read_text())["services"]

    assert {"kafka", "jaeger", "worker", "sim"} <= services.keys()
    kafka = services["kafka"]["environment"]
    assert kafka["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft, no ZooKeeper
    assert services["jaeger"]["environment"]["COLLECTOR_OTLP_ENABLED"] == "true"
    worker = services["worker"]
    env = worker["environment"]
    assert env["STREAMROUTER_BROKER"] == "kafka://kafka:9092"
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://jaeger:4318"
    assert env["OTEL_EXPORTER_OTLP_PROTOCOL"] == "http/protobuf"
    assert worker["command"][0] == "worker"
    assert services["sim"]["profiles"] == ["sim"]
