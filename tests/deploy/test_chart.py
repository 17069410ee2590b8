"""The Helm chart, rendered by Helm's engine, validated against the Kubernetes schemas."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
import yaml

from streamrouter.admin import load_topic_settings
from streamrouter.config import load_service_config
from streamrouter.kafka_security import load_kafka_security
from tests.deploy.manifests import (
    CHART,
    PRODUCTION_VALUES,
    Manifest,
    by_kind,
    check_references,
    container,
    env_of,
    is_hook,
    literal_env,
    merged,
    one,
    pod_spec,
    render,
    validate,
    values_file,
)

PRODUCTION = values_file(PRODUCTION_VALUES)
PRODUCTION_SECRETS = ("streamrouter-anthropic", "streamrouter-kafka-user", "streamrouter-kafka-tls")
SASL_WITH_PASSWORD = {
    "kafka": {
        "securityProtocol": "SASL_PLAINTEXT",
        "sasl": {"mechanism": "PLAIN", "username": "router", "password": "s3cret"},
    },
    "anthropic": {"apiKey": "sk-ant-test"},
}

# name -> (values, secrets that must exist beforehand)
VARIANTS: dict[str, tuple[dict[str, Any], tuple[str, ...]]] = {
    "default": ({}, ("anthropic-api-key",)),
    "production": (PRODUCTION, PRODUCTION_SECRETS),
    "hpa-init-container": (
        {
            "autoscaling": {"hpa": {"enabled": True}},
            "topics": {"mode": "initContainer"},
            "metrics": {"serviceMonitor": {"enabled": True}},
            "podDisruptionBudget": {"enabled": False},
        },
        ("anthropic-api-key",),
    ),
    "sasl-created-secrets": (SASL_WITH_PASSWORD, ()),
    "tls-system-ca-keda": (
        {
            "kafka": {"securityProtocol": "SSL"},
            "autoscaling": {"keda": {"enabled": True}},
            "otel": {"endpoint": "http://collector:4318", "protocol": "http/protobuf"},
        },
        ("anthropic-api-key",),
    ),
}


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[Manifest]]:
    return {name: render(values) for name, (values, _) in VARIANTS.items()}


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_manifest_is_valid_kubernetes(
    variant: str, rendered: dict[str, list[Manifest]]
) -> None:
    manifests = rendered[variant]
    assert manifests
    for manifest in manifests:
        validate(manifest)
    check_references(manifests, existing_secrets=VARIANTS[variant][1])


def test_default_values_render_the_workers_and_the_topics_hook(
    rendered: dict[str, list[Manifest]],
) -> None:
    manifests = rendered["default"]
    kinds = sorted({m["kind"] for m in manifests})
    assert kinds == [
        "ConfigMap",
        "Deployment",
        "Job",
        "PodDisruptionBudget",
        "Service",
        "ServiceAccount",
    ]
    deployment = one(manifests, "Deployment")
    assert deployment["spec"]["replicas"] == 2
    worker = container(deployment, "streamrouter")
    assert worker["command"] == ["streamrouter"]
    assert worker["args"] == ["worker", "--loglevel", "info"]
    env = literal_env(worker)
    assert env["STREAMROUTER_BROKER"] == "kafka://kafka:9092"
    assert env["STREAMROUTER_KAFKA_SECURITY_PROTOCOL"] == "PLAINTEXT"
    assert "STREAMROUTER_PRICES_FILE" not in env  # the packaged price table
    assert not any(name.startswith("OTEL_") for name in env)
    api_key = env_of(worker)["ANTHROPIC_API_KEY"]["valueFrom"]["secretKeyRef"]
    assert api_key == {"name": "anthropic-api-key", "key": "api-key"}
    assert not by_kind(manifests, "Secret")


def test_workers_are_probed_on_the_web_port_and_outlive_the_drain(
    rendered: dict[str, list[Manifest]],
) -> None:
    for name in ("default", "production"):
        deployment = one(rendered[name], "Deployment")
        worker = container(deployment, "streamrouter")
        env = literal_env(worker)
        (port,) = worker["ports"]
        assert port["name"] == "http"
        assert port["containerPort"] == int(env["STREAMROUTER_WEB_PORT"])
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            assert worker[probe]["httpGet"] == {"path": "/healthz", "port": "http"}
        grace = pod_spec(deployment)["terminationGracePeriodSeconds"]
        assert grace > int(env["STREAMROUTER_DRAIN_TIMEOUT_S"])
        security = worker["securityContext"]
        assert security["readOnlyRootFilesystem"] and not security["allowPrivilegeEscalation"]
        assert pod_spec(deployment)["securityContext"]["runAsNonRoot"] is True


def test_production_values_wire_tls_sasl_keda_and_existing_secrets(
    rendered: dict[str, list[Manifest]],
) -> None:
    manifests = rendered["production"]
    assert not by_kind(manifests, "Secret")  # every secret exists beforehand
    assert not by_kind(manifests, "HorizontalPodAutoscaler")
    deployment = one(manifests, "Deployment")
    assert "replicas" not in deployment["spec"]  # KEDA owns the replica count
    worker = container(deployment, "streamrouter")
    env = literal_env(worker)
    assert env["STREAMROUTER_BROKER"] == (
        "kafka://kafka-0.kafka.svc:9093;kafka://kafka-1.kafka.svc:9093;"
        "kafka://kafka-2.kafka.svc:9093"
    )
    assert env["STREAMROUTER_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert env["STREAMROUTER_KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
    assert env["STREAMROUTER_KAFKA_SSL_CAFILE"] == "/etc/streamrouter/kafka-tls/ca.crt"
    assert env["STREAMROUTER_KAFKA_SSL_CERTFILE"] == "/etc/streamrouter/kafka-tls/tls.crt"
    assert env["STREAMROUTER_KAFKA_SSL_KEYFILE"] == "/etc/streamrouter/kafka-tls/tls.key"
    assert env["STREAMROUTER_RESULTS_RETENTION_MS"] == "604800000"
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector.observability:4317"
    password = env_of(worker)["STREAMROUTER_KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"]
    assert password == {"name": "streamrouter-kafka-user", "key": "password"}
    tls_volume = next(v for v in pod_spec(deployment)["volumes"] if v["name"] == "kafka-tls")
    assert tls_volume["secret"]["secretName"] == "streamrouter-kafka-tls"

    scaled = one(manifests, "ScaledObject")
    assert scaled["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert (scaled["spec"]["minReplicaCount"], scaled["spec"]["maxReplicaCount"]) == (3, 12)
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["type"] == "kafka"
    metadata = trigger["metadata"]
    assert metadata["consumerGroup"] == env["STREAMROUTER_APP_ID"] == "streamrouter-prod"
    assert metadata["bootstrapServers"] == (
        "kafka-0.kafka.svc:9093,kafka-1.kafka.svc:9093,kafka-2.kafka.svc:9093"
    )
    assert (metadata["sasl"], metadata["tls"], metadata["lagThreshold"]) == (
        "scram_sha512",
        "enable",
        "50",
    )
    auth = one(manifests, "TriggerAuthentication")
    assert trigger["authenticationRef"]["name"] == auth["metadata"]["name"]
    refs = {r["parameter"]: (r["name"], r["key"]) for r in auth["spec"]["secretTargetRef"]}
    assert refs == {
        "password": ("streamrouter-kafka-user", "password"),
        "ca": ("streamrouter-kafka-tls", "ca.crt"),
        "cert": ("streamrouter-kafka-tls", "tls.crt"),
        "key": ("streamrouter-kafka-tls", "tls.key"),
    }
    (username,) = auth["spec"]["env"]
    assert username["containerName"] == worker["name"]
    assert username["name"] in env  # a literal env var of the worker container

    monitor = one(manifests, "ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"
    assert one(manifests, "PodDisruptionBudget")["spec"] == {
        "minAvailable": 2,
        "selector": deployment["spec"]["selector"],
    }


def test_the_topics_hook_runs_topics_create_with_the_workers_settings(
    rendered: dict[str, list[Manifest]],
) -> None:
    for name in ("default", "production", "sasl-created-secrets"):
        manifests = rendered[name]
        job = one(manifests, "Job")
        hooks = job["metadata"]["annotations"]["helm.sh/hook"].split(",")
        assert hooks == ["pre-install", "pre-upgrade"]
        topics = container(job, "topics")
        assert topics["args"][:2] == ["topics", "create"]
        worker_env = literal_env(container(one(manifests, "Deployment"), "streamrouter"))
        job_env = literal_env(topics)
        assert job_env == {k: v for k, v in worker_env.items() if not k.startswith("OTEL_")}
        assert "ANTHROPIC_API_KEY" not in env_of(topics)  # creating topics calls no model


def test_created_secrets_are_copied_for_the_hook(rendered: dict[str, list[Manifest]]) -> None:
    manifests = rendered["sasl-created-secrets"]
    secrets = {m["metadata"]["name"]: m for m in by_kind(manifests, "Secret")}
    assert sorted(secrets) == [
        "sr-streamrouter-anthropic",
        "sr-streamrouter-kafka-sasl",
        "sr-streamrouter-kafka-sasl-topics",
    ]
    assert is_hook(secrets["sr-streamrouter-kafka-sasl-topics"])
    assert not is_hook(secrets["sr-streamrouter-kafka-sasl"])
    job_password = env_of(container(one(manifests, "Job"), "topics"))[
        "STREAMROUTER_KAFKA_SASL_PASSWORD"
    ]
    assert job_password["valueFrom"]["secretKeyRef"]["name"] == "sr-streamrouter-kafka-sasl-topics"


def test_init_container_mode_and_hpa(rendered: dict[str, list[Manifest]]) -> None:
    manifests = rendered["hpa-init-container"]
    assert not by_kind(manifests, "Job")
    assert not by_kind(manifests, "PodDisruptionBudget")
    deployment = one(manifests, "Deployment")
    assert "replicas" not in deployment["spec"]
    (init,) = pod_spec(deployment)["initContainers"]
    assert init["args"][:2] == ["topics", "create"]
    hpa = one(manifests, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert not by_kind(manifests, "ScaledObject")


def test_keda_over_tls_with_the_system_cas_needs_no_trigger_authentication(
    rendered: dict[str, list[Manifest]],
) -> None:
    manifests = rendered["tls-system-ca-keda"]
    assert not by_kind(manifests, "TriggerAuthentication")
    (trigger,) = one(manifests, "ScaledObject")["spec"]["triggers"]
    assert trigger["metadata"]["tls"] == "enable" and "authenticationRef" not in trigger
    env = literal_env(container(one(manifests, "Deployment"), "streamrouter"))
    assert "STREAMROUTER_KAFKA_SSL_CAFILE" not in env
    assert env["OTEL_EXPORTER_OTLP_PROTOCOL"] == "http/protobuf"


@pytest.mark.parametrize("variant", ["default", "production"])
def test_the_service_accepts_the_environment_and_files_the_chart_gives_it(
    variant: str,
    rendered: dict[str, list[Manifest]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The worker's env and mounted files, replayed here: every setting loads."""
    manifests = rendered[variant]
    deployment = one(manifests, "Deployment")
    worker = container(deployment, "streamrouter")
    mounts = {m["name"]: m["mountPath"] for m in worker["volumeMounts"]}
    # Stand-ins for the mounted volumes: the ConfigMap's files and dummy TLS files.
    config_map = next(m for m in by_kind(manifests, "ConfigMap") if not is_hook(m))
    local = {}
    for name, mount_path in mounts.items():
        directory = tmp_path / name
        directory.mkdir()
        local[mount_path] = directory
    for filename, text in config_map["data"].items():
        (local[mounts["config"]] / filename).write_text(text)

    def localise(value: str) -> str:
        for mount_path, directory in local.items():
            if value.startswith(mount_path + "/"):
                path = directory / value.removeprefix(mount_path + "/")
                if not path.exists():
                    path.write_text("dummy TLS material\n")
                return str(path)
        return value

    for name in list(os.environ):
        if name.startswith(("STREAMROUTER_", "OTEL_")):
            monkeypatch.delenv(name)
    for name, env in env_of(worker).items():
        value = localise(env["value"]) if "value" in env else "from-a-secret"
        monkeypatch.setenv(name, value)

    config = load_service_config()
    security = load_kafka_security()
    topic_settings = load_topic_settings()

    values = VARIANTS[variant][0]
    chart_values = merged(yaml.safe_load((CHART / "values.yaml").read_text()), values)
    assert config.settings.partitions == chart_values["config"]["partitions"]
    assert config.settings.topic_prefix == chart_values["config"]["topicPrefix"]
    assert [t.name for t in config.policy.tiers] == [
        t["name"] for t in chart_values["policy"]["tiers"]
    ]
    assert security.security_protocol == chart_values["kafka"]["securityProtocol"]
    assert topic_settings.replication_factor == chart_values["config"]["replicationFactor"]
    if chart_values["prices"]:
        assert config.prices.checked.isoformat() == chart_values["prices"]["checked"]


@pytest.mark.parametrize(
    ("override", "complaint"),
    [
        ({"replicaCount": -1}, "/replicaCount"),
        ({"kafka": {"securityProtocol": "TLS"}}, "/kafka/securityProtocol"),
        ({"kafka": {"securityProtocol": "SASL_SSL"}}, "/kafka/sasl"),
        ({"kafka": {"sasl": {"mechanism": "GSSAPI"}}}, "/kafka/sasl/mechanism"),
        ({"kafka": {"brokers": ["kafka://broker:9092"]}}, "/kafka/brokers/0"),
        ({"kafka": {"brokers": []}}, "/kafka/brokers"),
        ({"config": {"partitions": 0}}, "/config/partitions"),
        ({"config": {"drainTimeoutSeconds": "30s"}}, "/config/drainTimeoutSeconds"),
        ({"autoscaling": {"keda": {"lagThreshold": 0}}}, "/autoscaling/keda/lagThreshold"),
        ({"topics": {"mode": "cronjob"}}, "/topics/mode"),
        ({"replicas": 3}, "replicas"),  # a typo of replicaCount
    ],
)
def test_the_schema_rejects_bad_values(override: dict[str, Any], complaint: str) -> None:
    with pytest.raises(helm.HelmValuesError) as caught:
        render(override)
    assert complaint in str(caught.value)


@pytest.mark.parametrize(
    ("override", "complaint"),
    [
        (
            {"terminationGracePeriodSeconds": 30, "config": {"drainTimeoutSeconds": 30}},
            "must exceed config.drainTimeoutSeconds",
        ),
        (
            {"autoscaling": {"keda": {"enabled": True}, "hpa": {"enabled": True}}},
            "enable one autoscaler",
        ),
        ({"kafka": {"sasl": {"username": "router"}}}, "kafka.sasl is set but"),
        ({"kafka": {"tls": {"existingSecret": "ca"}}}, "kafka.tls.existingSecret is set but"),
        (
            {"kafka": {"securityProtocol": "SSL", "tls": {"existingSecret": "t", "certKey": "c"}}},
            "go together",
        ),
        (
            {
                "kafka": {
                    "securityProtocol": "SASL_SSL",
                    "sasl": {"mechanism": "PLAIN", "username": "u"},
                }
            },
            "needs kafka.sasl.existingSecret",
        ),
        ({"anthropic": {"existingSecret": ""}}, "set anthropic.existingSecret"),
    ],
)
def test_the_templates_reject_inconsistent_values(override: dict[str, Any], complaint: str) -> None:
    with pytest.raises(helm.HelmError) as caught:
        render(override)
    assert complaint in str(caught.value)


@pytest.mark.parametrize("variant", ["default", "production"])
def test_helm_lint_is_clean(variant: str) -> None:
    report = helm.lint(CHART, VARIANTS[variant][0], strict=True, namespace="llm")
    assert not report["errors"], report
    problems = [m for m in report["messages"] if m["severity"] >= 2]  # warnings and errors
    assert not problems, problems
