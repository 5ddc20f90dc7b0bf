"""deploy/kubernetes: every manifest validated offline against the Kubernetes API schemas
(kubernetes-validate, strict: an unknown field is an error), and the properties the kit relies
on: probes on the health endpoints, a grace period longer than the drain, settings ixp accepts."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from ixp.base.settings import Settings
from ixp.http.access import load_keys
from tests._support import ROOT

KUBERNETES = ROOT / "deploy" / "kubernetes"
KUBERNETES_VERSION = "1.33.0"  # the oldest Kubernetes the kit targets (autoscaling/v2, policy/v1)
DEFAULT_DRAIN_SECONDS = 5  # IXP_DRAIN_SECONDS when unset


def manifests() -> list[tuple[Path, dict[str, Any]]]:
    found = [
        (path, document)
        for path in sorted(KUBERNETES.glob("*.yaml"))
        for document in yaml.safe_load_all(path.read_text())
        if document is not None
    ]
    assert found, f"no manifests in {KUBERNETES}"
    return found


def the(kind: str, name: str = "ixp") -> dict[str, Any]:
    (document,) = [doc for _, doc in manifests() if (doc["kind"], doc["metadata"]["name"]) == (kind, name)]
    return document


def container() -> dict[str, Any]:
    (only,) = the("Deployment")["spec"]["template"]["spec"]["containers"]
    return only


def flag(args: list[str], name: str) -> str:
    values = [arg.split("=", 1)[1] for arg in args if arg.startswith(f"{name}=")]
    assert len(values) == 1, f"expected one {name}=VALUE in the container's args, got {args}"
    return values[0]


def test_every_manifest_is_valid_for_the_kubernetes_api() -> None:
    for path, document in manifests():
        kind = f"{path.name}: {document.get('kind')}/{document.get('metadata', {}).get('name')}"
        try:
            kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{kind}: {'.'.join(map(str, exc.path))}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError as exc:
            pytest.fail(f"{kind}: {exc.message}")


def test_the_validator_rejects_an_unknown_field() -> None:
    # Strict mode is what catches a misspelt field, which Kubernetes would silently drop.
    deployment = copy.deepcopy(the("Deployment"))
    spec = deployment["spec"]["template"]["spec"]["containers"][0]
    spec["livenesProbe"] = spec.pop("livenessProbe")
    with pytest.raises(kubernetes_validate.ValidationError, match="livenesProbe"):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_the_kit_has_each_resource_at_its_stable_api_version() -> None:
    kinds = {(doc["kind"], doc["apiVersion"]) for _, doc in manifests()}
    assert kinds == {
        ("Namespace", "v1"),
        ("ConfigMap", "v1"),
        ("Secret", "v1"),
        ("Deployment", "apps/v1"),
        ("Service", "v1"),
        ("HorizontalPodAutoscaler", "autoscaling/v2"),
        ("PodDisruptionBudget", "policy/v1"),
    }


def test_probes_point_at_the_health_endpoints() -> None:
    spec = container()
    ports = {port["name"] for port in spec["ports"]}
    assert spec["livenessProbe"]["httpGet"]["path"] == "/ixp/health/live"
    assert spec["readinessProbe"]["httpGet"]["path"] == "/ixp/health/ready"
    for probe in ("livenessProbe", "readinessProbe"):
        assert spec[probe]["httpGet"]["port"] in ports


def test_the_grace_period_exceeds_the_drain_plus_granians_kill_timeout() -> None:
    settings = the("ConfigMap", "ixp-settings")["data"]
    drain = float(settings.get("IXP_DRAIN_SECONDS", DEFAULT_DRAIN_SECONDS))
    kill_timeout = float(flag(container()["args"], "--workers-kill-timeout"))
    grace = the("Deployment")["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace > drain + kill_timeout, (grace, drain, kill_timeout)


def test_granian_serves_ixp_with_workers_and_flags_it_knows() -> None:
    spec = container()
    assert spec["command"] == ["granian"] and spec["args"][-1] == "ixp.app:app"
    assert int(flag(spec["args"], "--workers")) >= 2
    # The installed Granian (a dependency of ixp) must know every option the container passes.
    usage = subprocess.run(
        [sys.executable, "-m", "granian", "--help"], capture_output=True, text=True, timeout=60
    ).stdout
    for arg in spec["args"][:-1]:
        assert f"  {arg.split('=', 1)[0]} " in usage, f"granian has no option {arg}"


def test_resources_and_security_context() -> None:
    spec = container()
    assert spec["resources"]["limits"]["memory"]  # the memory monitor reads it from the cgroup
    pod = the("Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] > 0
    assert spec["securityContext"]["allowPrivilegeEscalation"] is False
    assert spec["securityContext"]["capabilities"]["drop"] == ["ALL"]


def test_the_configmap_and_secret_are_settings_ixp_accepts() -> None:
    public = the("ConfigMap", "ixp-settings")["data"]
    secret = the("Secret", "ixp-secrets")["stringData"]
    assert set(secret) == {"IXP_DATABASE_URL", "IXP_REDIS_URL", "IXP_API_KEYS"}
    assert not set(public) & set(secret) and all(name.startswith("IXP_") for name in public)
    settings = Settings.from_env({**public, **secret})  # raises ConfigError naming any bad value
    assert settings.database_url and settings.redis_url
    assert [key.name for key in load_keys(settings)] == ["prometheus"]


def test_the_service_hpa_and_pdb_select_the_deployment() -> None:
    deployment = the("Deployment")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert the("HorizontalPodAutoscaler")["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert the("PodDisruptionBudget")["spec"]["selector"]["matchLabels"].items() <= labels.items()
    services = [doc for _, doc in manifests() if doc["kind"] == "Service"]
    assert {service["metadata"]["name"] for service in services} == {"ixp", "ixp-pods"}
    for service in services:
        assert service["spec"]["selector"].items() <= labels.items()
        assert all(port["targetPort"] == "http" for port in service["spec"]["ports"])
