"""Every Kubernetes manifest validates against the Kubernetes JSON schemas, offline, and keeps
the operating rules: probes, limits, non-root, read-only root filesystem."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / "k8s" / "base"
K8S_VERSION = "1.30.0"


def _documents() -> list[tuple[str, dict[str, Any]]]:
    kustomization = yaml.safe_load((BASE / "kustomization.yaml").read_text(encoding="utf-8"))
    docs = []
    for name in kustomization["resources"]:
        for doc in yaml.safe_load_all((BASE / name).read_text(encoding="utf-8")):
            if doc:
                docs.append((f"{name}:{doc['kind']}/{doc['metadata']['name']}", doc))
    return docs


DOCS = _documents()


def test_every_resource_file_is_listed() -> None:
    listed = set(yaml.safe_load((BASE / "kustomization.yaml").read_text())["resources"])
    on_disk = {p.name for p in BASE.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == on_disk


@pytest.mark.parametrize(("name", "doc"), DOCS, ids=[n for n, _ in DOCS])
def test_manifest_validates(name: str, doc: dict[str, Any]) -> None:
    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_expected_kinds() -> None:
    kinds = {doc["kind"] for _, doc in DOCS}
    assert {
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "ConfigMap",
        "NetworkPolicy",
    } <= kinds


def test_deployments_are_hardened() -> None:
    deployments = {doc["metadata"]["name"]: doc for _, doc in DOCS if doc["kind"] == "Deployment"}
    assert set(deployments) == {"gavel-api", "gavel-worker"}
    for name, dep in deployments.items():
        pod = dep["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        for c in pod["containers"]:
            assert c["securityContext"]["readOnlyRootFilesystem"] is True
            assert c["securityContext"]["allowPrivilegeEscalation"] is False
            assert c["resources"]["requests"] and c["resources"]["limits"]
            mounts = {m["mountPath"] for m in c["volumeMounts"]}
            assert {"/etc/gavel/policies", "/tmp"} <= mounts, name
    api = deployments["gavel-api"]["spec"]["template"]["spec"]["containers"][0]
    assert api["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"
    worker = deployments["gavel-worker"]["spec"]["template"]
    assert worker["spec"]["containers"][0]["args"] == ["worker"]
    probes = worker["spec"]["containers"][0]
    assert probes["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert probes["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert worker["metadata"]["annotations"]["prometheus.io/port"] == "9000"


def test_policies_configmap_matches_the_policies() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("render_policies", ROOT / "k8s" / "render_policies.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    current = (BASE / "policies-configmap.yaml").read_text(encoding="utf-8")
    assert current == module.render(), "run: python k8s/render_policies.py"
    data = yaml.safe_load(current)["data"]
    assert "hateful_conduct.yaml" in data and not any(k.endswith(".cases.yaml") for k in data)


def test_every_gavel_variable_is_a_setting() -> None:
    """A typo in a GAVEL_* name would be ignored silently (extra="ignore"): catch it here."""
    from gavel.settings import Settings

    fields = {f"GAVEL_{name.upper()}" for name in Settings.model_fields}
    named: set[str] = set()
    for _, doc in DOCS:
        if doc["kind"] == "ConfigMap" and doc["metadata"]["name"] == "gavel-settings":
            named |= set(doc["data"])
        if doc["kind"] == "Deployment":
            for c in doc["spec"]["template"]["spec"]["containers"]:
                named |= {e["name"] for e in c.get("env", [])}
    gavel = {n for n in named if n.startswith("GAVEL_")}
    assert gavel and gavel <= fields, gavel - fields
