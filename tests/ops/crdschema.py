"""JSON schemas for custom resources, made from their CustomResourceDefinitions.

The Kubernetes manifests in ``deploy/kubernetes/`` use four custom resources (ServiceMonitor,
PrometheusRule, KafkaTopic, ScaledObject). Their schemas live in ``deploy/schemas/`` as data, so the
check runs offline; this module wrote them and writes them again when an operator is upgraded:

    .venv/bin/python tests/ops/crdschema.py CRD.yaml... --out deploy/schemas

Each schema is the CRD version's ``openAPIV3Schema`` with the descriptions removed, every object
that lists its ``properties`` closed (``additionalProperties: false``, as the API server prunes
unknown fields and ``kubectl --validate=strict`` refuses them), and ``apiVersion`` and ``kind``
pinned.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import yaml

_DROPPED = frozenset({"description", "example", "x-kubernetes-list-map-keys"})


def schema_file_name(group: str, version: str, kind: str) -> str:
    """``kafkatopic_kafka.strimzi.io_v1.json``: where the schema of one kind and version lives."""
    return f"{kind.lower()}_{group}_{version}.json"


def _close(node: Any) -> Any:
    """A schema node without documentation, closed where it lists its properties."""
    if isinstance(node, list):
        return [_close(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROPPED:
            continue
        if key == "properties":  # field names, each with a schema: no field name is dropped
            out[key] = {name: _close(field) for name, field in value.items()}
        elif key == "pattern" and "(?i)" in value:  # Go allows the flag anywhere, Python first
            out[key] = "(?i)" + value.replace("(?i)", "")
        else:
            out[key] = _close(value)
    open_ended = node.get("x-kubernetes-preserve-unknown-fields") is True
    if "properties" in node and "additionalProperties" not in node and not open_ended:
        out["additionalProperties"] = False
    return out


def crd_schemas(crd: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The JSON schema of every served version of a CRD, by file name."""
    spec = crd["spec"]
    group, kind = spec["group"], spec["names"]["kind"]
    schemas: dict[str, dict[str, Any]] = {}
    for version in spec["versions"]:
        if not version.get("served", False):
            continue
        schema = _close(version["schema"]["openAPIV3Schema"])
        properties = schema.setdefault("properties", {})
        properties["apiVersion"] = {"const": f"{group}/{version['name']}"}
        properties["kind"] = {"const": kind}
        string_map = {"type": "object", "additionalProperties": {"type": "string"}}
        properties["metadata"] = {
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": {"type": "string", "minLength": 1},
                "namespace": {"type": "string"},
                "labels": string_map,
                "annotations": string_map,
            },
        }
        schema["required"] = sorted({*schema.get("required", []), "apiVersion", "kind", "metadata"})
        schema["$schema"] = "http://json-schema.org/draft-07/schema#"
        schemas[schema_file_name(group, version["name"], kind)] = schema
    return schemas


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("crds", nargs="+", type=Path, help="CustomResourceDefinition YAML files")
    parser.add_argument("--out", type=Path, required=True, help="folder of the schemas")
    args = parser.parse_args()
    for path in args.crds:
        for document in yaml.safe_load_all(path.read_text()):
            if not document or document.get("kind") != "CustomResourceDefinition":
                continue
            for name, schema in crd_schemas(document).items():
                target = args.out / name
                target.write_text(json.dumps(schema, indent=1, sort_keys=True) + "\n")
                print(target)


if __name__ == "__main__":
    main()
