"""The Kubernetes manifests in deploy/kubernetes validate against their schemas, offline.

Core kinds (StatefulSet, Service, ConfigMap, ...) are checked by kubernetes-validate, which bundles
the Kubernetes API's schemas; custom resources (ServiceMonitor, PrometheusRule, ScaledObject,
KafkaTopic) by jsonschema against the schemas in deploy/schemas, made from the operators' CRDs by
tests/ops/crdschema.py. Both are strict: an unknown field is an error.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from opskit import DEPLOY

from processor.settings import FIELDS

KUBERNETES = DEPLOY / "kubernetes"
SCHEMAS = DEPLOY / "schemas"
KUBERNETES_VERSION = "1.33.0"
KUSTOMIZATION = "Kustomization"


def manifests() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in sorted(KUBERNETES.rglob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document:
                found.append((path.relative_to(KUBERNETES).as_posix(), document))
    return found


def custom_schema(document: dict[str, Any]) -> dict[str, Any] | None:
    group, _, version = document["apiVersion"].rpartition("/")
    if "." not in group:  # core and built-in groups: apps, policy, ...
        return None
    path = SCHEMAS / f"{document['kind'].lower()}_{group}_{version}.json"
    if not path.exists():
        return None
    schema: dict[str, Any] = json.loads(path.read_text())
    return schema


def validate(document: dict[str, Any]) -> None:
    """Raises when ``document`` does not validate."""
    schema = custom_schema(document)
    if schema is not None:
        jsonschema.Draft7Validator(schema).validate(document)
    else:
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


RESOURCES = [(name, doc) for name, doc in manifests() if doc["kind"] != KUSTOMIZATION]


@pytest.mark.parametrize(
    "document", [doc for _, doc in RESOURCES], ids=[f"{n}:{d['kind']}" for n, d in RESOURCES]
)
def test_manifest_validates(document: dict[str, Any]) -> None:
    validate(document)


def test_every_kind_is_there() -> None:
    kinds = {doc["kind"] for _, doc in RESOURCES}
    assert kinds >= {
        "StatefulSet",
        "ConfigMap",
        "Secret",
        "Service",
        "PodDisruptionBudget",
        "ServiceMonitor",
        "PrometheusRule",
        "ScaledObject",
        "KafkaTopic",
    }


@pytest.mark.parametrize(
    ("kind", "path", "value"),
    [
        ("StatefulSet", ["spec", "template", "spec", "containers", 0, "livenessProbe", "bogus"], 1),
        ("StatefulSet", ["spec", "template", "spec", "terminationGracePeriodSeconds"], "60"),
        ("ServiceMonitor", ["spec", "endpoints", 0, "interval"], "fifteen seconds"),
        ("KafkaTopic", ["spec", "partitions"], "twelve"),
        ("ScaledObject", ["spec", "unknownField"], True),
        ("PrometheusRule", ["spec", "groups", 0, "rules", 0, "for"], "ten minutes"),
    ],
)
def test_an_invalid_manifest_is_refused(kind: str, path: list[Any], value: Any) -> None:
    document = copy.deepcopy(next(doc for _, doc in RESOURCES if doc["kind"] == kind))
    node = document
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises((jsonschema.ValidationError, kubernetes_validate.ValidationError)):
        validate(document)


def test_kustomizations_list_every_file() -> None:
    for path in KUBERNETES.rglob("kustomization.yaml"):
        listed = set(yaml.safe_load(path.read_text())["resources"])
        present = {p.name for p in path.parent.glob("*.yaml") if p.name != "kustomization.yaml"}
        assert listed == present, path
        for name in listed:
            assert (path.parent / name).exists()


def _one(kind: str) -> dict[str, Any]:
    (document,) = [doc for _, doc in RESOURCES if doc["kind"] == kind]
    return document


def test_each_pod_has_its_own_stable_transactional_id() -> None:
    pod = _one("StatefulSet")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    env = {item["name"]: item for item in container["env"]}
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert "$(POD_NAME)" in env["LEAD_ROUTER_TRANSACTIONAL_ID"]["value"]
    assert "LEAD_ROUTER_TRANSACTIONAL_ID" not in _one("ConfigMap")["data"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert {ref for item in container["envFrom"] for ref in item} == {"configMapRef", "secretRef"}


def test_the_configmap_holds_only_real_settings() -> None:
    known = {f"LEAD_ROUTER_{name.upper()}" for name in FIELDS}
    config = set(_one("ConfigMap")["data"]) | set(_one("Secret")["stringData"])
    assert config - known == set()


def test_topics_are_the_configured_ones() -> None:
    topics = {doc["metadata"]["name"] for _, doc in RESOURCES if doc["kind"] == "KafkaTopic"}
    data = _one("ConfigMap")["data"]
    configured = {
        data[f"LEAD_ROUTER_{name}_TOPIC"]
        for name in (
            "INPUT",
            "CONFIG",
            "CONFIG_HISTORY",
            "AUDIT",
            "UNROUTABLE",
            "DLQ",
            "DECIDE",
            "STATE",
            "RETURNS",
            "RECEIPTS",
        )
    }
    assert topics == configured


def test_autoscaling_never_exceeds_the_input_partitions() -> None:
    scaled = _one("ScaledObject")["spec"]
    input_topic = _one("ConfigMap")["data"]["LEAD_ROUTER_INPUT_TOPIC"]
    (topic,) = [
        doc
        for _, doc in RESOURCES
        if doc["kind"] == "KafkaTopic" and doc["metadata"]["name"] == input_topic
    ]
    assert scaled["scaleTargetRef"]["kind"] == "StatefulSet"
    assert scaled["maxReplicaCount"] <= topic["spec"]["partitions"]
