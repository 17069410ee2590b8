"""Render the Helm chart with Helm's own engine and check what comes out.

``render`` goes through helm-python-sdk, which binds Helm's Go library: the same template
engine, value coalescing and values.schema.json validation as ``helm template``.
``validate`` checks each manifest against the Kubernetes OpenAPI schemas (strict: an
unknown field fails) and, for the CRDs that have no schema there (KEDA, the Prometheus
Operator), the fields the chart relies on. ``check_references`` checks what no schema
can: every name a pod refers to exists, selectors select the pods, hooks only read hooks.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "streamrouter"
PRODUCTION_VALUES = CHART / "ci" / "production-values.yaml"
RELEASE = "sr"
NAMESPACE = "llm"
# The oldest and newest Kubernetes versions kubernetes-validate ships schemas for.
KUBE_VERSIONS = ("1.25", kubernetes_validate.utils.latest_version())

Manifest = dict[str, Any]


def values_file(path: Path) -> dict[str, Any]:
    """A values file parsed by Helm's own YAML reader (as ``helm -f`` would)."""
    return helm.values_from_yaml(path.read_text())


def render(values: dict[str, Any] | None = None, **options: Any) -> list[Manifest]:
    """Every manifest the chart renders for these values (NOTES.txt left out)."""
    with helm.Chart.load(CHART) as chart:
        rendered = chart.render(
            values or {}, name=RELEASE, namespace=NAMESPACE, is_install=True, **options
        )
    manifests = []
    for path, text in sorted(rendered.items()):
        if path.endswith("NOTES.txt"):
            continue
        manifests += [doc for doc in yaml.safe_load_all(text) if doc]
    return manifests


def merged(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``override`` merged in, recursively (``helm -f a -f b``)."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def by_kind(manifests: Iterable[Manifest], kind: str) -> list[Manifest]:
    return [m for m in manifests if m["kind"] == kind]


def one(manifests: Iterable[Manifest], kind: str, *, hook: bool | None = None) -> Manifest:
    found = [m for m in by_kind(manifests, kind) if hook is None or is_hook(m) == hook]
    assert len(found) == 1, f"expected one {kind}, got {[m['metadata']['name'] for m in found]}"
    return found[0]


def is_hook(manifest: Manifest) -> bool:
    return "helm.sh/hook" in (manifest["metadata"].get("annotations") or {})


def hook_weight(manifest: Manifest) -> int:
    return int(manifest["metadata"]["annotations"].get("helm.sh/hook-weight", "0"))


def env_of(container: Manifest) -> dict[str, Manifest]:
    return {e["name"]: e for e in container.get("env", [])}


def literal_env(container: Manifest) -> dict[str, str]:
    return {name: e["value"] for name, e in env_of(container).items() if "value" in e}


def container(pod_owner: Manifest, name: str) -> Manifest:
    spec = pod_spec(pod_owner)
    for c in spec["containers"] + spec.get("initContainers", []):
        if c["name"] == name:
            return c
    raise AssertionError(f"no container {name!r} in {pod_owner['metadata']['name']}")


def pod_spec(pod_owner: Manifest) -> Manifest:
    return pod_owner["spec"]["template"]["spec"]


# Custom resources: no Kubernetes schema; the fields the chart relies on, checked here.
_CRD_REQUIRED: dict[tuple[str, str], tuple[str, ...]] = {
    ("keda.sh/v1alpha1", "ScaledObject"): (
        "spec.scaleTargetRef.name",
        "spec.minReplicaCount",
        "spec.maxReplicaCount",
        "spec.triggers",
    ),
    ("keda.sh/v1alpha1", "TriggerAuthentication"): ("spec",),
    ("monitoring.coreos.com/v1", "ServiceMonitor"): (
        "spec.selector.matchLabels",
        "spec.endpoints",
    ),
}


def validate(manifest: Manifest) -> None:
    """Kubernetes schema validation (strict), or the structural check of a known CRD."""
    key = (manifest.get("apiVersion", ""), manifest.get("kind", ""))
    assert manifest.get("metadata", {}).get("name"), f"{key} without metadata.name"
    if key in _CRD_REQUIRED:
        for path in _CRD_REQUIRED[key]:
            assert _get(manifest, path) not in (None, [], {}), f"{key}: {path} is missing"
        return
    for version in KUBE_VERSIONS:
        try:
            kubernetes_validate.validate(manifest, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            where = ".".join(str(p) for p in exc.path)
            raise AssertionError(
                f"{key[1]} {manifest['metadata']['name']} is invalid for Kubernetes"
                f" {version} at {where}: {exc.message}"
            ) from exc
        except kubernetes_validate.SchemaNotFoundError as exc:
            raise AssertionError(
                f"{key} is not a Kubernetes {version} kind: {exc.message}"
            ) from exc


def _get(manifest: Manifest, path: str) -> Any:
    node: Any = manifest
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def check_references(manifests: list[Manifest], existing_secrets: Iterable[str] = ()) -> None:
    """Names the pods refer to exist; selectors select; hooks only read hooks."""
    config_maps = {m["metadata"]["name"]: m for m in by_kind(manifests, "ConfigMap")}
    secrets = {m["metadata"]["name"]: m for m in by_kind(manifests, "Secret")}
    external = set(existing_secrets)
    accounts = {m["metadata"]["name"] for m in by_kind(manifests, "ServiceAccount")}
    for owner in by_kind(manifests, "Deployment") + by_kind(manifests, "Job"):
        spec = pod_spec(owner)
        what = f"{owner['kind']} {owner['metadata']['name']}"
        for kind, name in _pod_references(spec):
            rendered = config_maps if kind == "ConfigMap" else secrets
            if kind == "Secret" and name in external and name not in rendered:
                continue
            assert name in rendered, f"{what} reads {kind} {name}, which is not rendered"
            if is_hook(owner):
                # A pre-install hook runs before the release's own resources exist.
                assert is_hook(rendered[name]), f"hook {what} reads non-hook {kind} {name}"
                assert hook_weight(rendered[name]) < hook_weight(owner), (
                    f"{kind} {name} must be created before hook {what}"
                )
        account = spec.get("serviceAccountName")
        if account and not is_hook(owner):
            assert account in accounts or account == "default", (
                f"{what}: no ServiceAccount {account}"
            )
        if is_hook(owner):
            assert account is None or account not in accounts, (
                f"hook {what} uses ServiceAccount {account}, created only after the hook"
            )
        volumes = {v["name"] for v in spec.get("volumes", [])}
        for c in spec["containers"] + spec.get("initContainers", []):
            for mount in c.get("volumeMounts", []):
                assert mount["name"] in volumes, f"{what}: mount of unknown volume {mount['name']}"
    for deployment in by_kind(manifests, "Deployment"):
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert selector.items() <= labels.items(), "the Deployment does not select its pods"
        for kind in ("Service", "PodDisruptionBudget"):
            for m in by_kind(manifests, kind):
                sel = m["spec"]["selector"]
                sel = sel.get("matchLabels", sel)
                assert sel.items() <= labels.items(), f"{kind} does not select the workers"
        ports = {p["name"] for c in pod_spec(deployment)["containers"] for p in c.get("ports", [])}
        for service in by_kind(manifests, "Service"):
            for port in service["spec"]["ports"]:
                assert port["targetPort"] in ports, f"Service targets unknown port {port}"
    for monitor in by_kind(manifests, "ServiceMonitor"):
        service = one(manifests, "Service")
        assert (
            monitor["spec"]["selector"]["matchLabels"].items()
            <= service["metadata"]["labels"].items()
        )
        names = {p["name"] for p in service["spec"]["ports"]}
        assert all(e["port"] in names for e in monitor["spec"]["endpoints"])


def _pod_references(spec: Manifest) -> Iterator[tuple[str, str]]:
    for volume in spec.get("volumes", []):
        if "configMap" in volume:
            yield "ConfigMap", volume["configMap"]["name"]
        if "secret" in volume:
            yield "Secret", volume["secret"]["secretName"]
    for c in spec["containers"] + spec.get("initContainers", []):
        for env in c.get("env", []):
            source = env.get("valueFrom", {})
            if "secretKeyRef" in source:
                yield "Secret", source["secretKeyRef"]["name"]
            if "configMapKeyRef" in source:
                yield "ConfigMap", source["configMapKeyRef"]["name"]
