"""The Kubernetes manifests under compose/k8s/: schema-valid, and the same discovery as compose.

Runs without a cluster or Docker. The schema check uses kubernetes-validate
(PyPI; it ships the API schemas, so it works offline); the structural checks
need only PyYAML, which kubernetes-validate brings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

yaml = pytest.importorskip("yaml", reason="k8s manifest checks need PyYAML (kubernetes-validate)")

MANIFEST = Path(__file__).resolve().parents[2] / "compose" / "k8s" / "gossip-train.yaml"


def docs() -> dict[str, dict[str, Any]]:
    return {d["kind"]: d for d in yaml.safe_load_all(MANIFEST.read_text()) if d}


def test_manifests_match_the_kubernetes_schema() -> None:
    kv = pytest.importorskip("kubernetes_validate", reason="kubernetes-validate not installed")
    for doc in yaml.safe_load_all(MANIFEST.read_text()):
        kv.validate(doc, "1.30", strict=True)


def test_headless_service_gives_dns_discovery_to_the_statefulset() -> None:
    d = docs()
    svc, sts = d["Service"], d["StatefulSet"]
    assert svc["spec"]["clusterIP"] == "None"  # headless: the name resolves to every pod
    assert svc["spec"]["publishNotReadyAddresses"] is True
    assert sts["spec"]["serviceName"] == svc["metadata"]["name"]
    labels = sts["spec"]["template"]["metadata"]["labels"]
    assert svc["spec"]["selector"].items() <= labels.items()
    assert sts["spec"]["selector"]["matchLabels"].items() <= labels.items()
    (c,) = sts["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in c["env"]}
    port = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert env["GOSSIP_PEERS"] == f"{svc['metadata']['name']}:{port['grpc']}"
    assert env["GOSSIP_LISTEN"].endswith(f":{port['grpc']}")


def test_statefulset_has_limits_probes_and_a_checkpoint_claim() -> None:
    sts = docs()["StatefulSet"]
    pod = sts["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    assert {"cpu", "memory"} <= c["resources"]["limits"].keys()
    assert {"cpu", "memory"} <= c["resources"]["requests"].keys()
    grpc_port = next(p["containerPort"] for p in c["ports"] if p["name"] == "grpc")
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert c[probe]["grpc"]["port"] == grpc_port  # the gRPC health service
    assert pod["securityContext"]["runAsNonRoot"] is True
    (claim,) = sts["spec"]["volumeClaimTemplates"]
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert env["GOSSIP_CHECKPOINT_DIR"].startswith(mounts[claim["metadata"]["name"]] + "/")
