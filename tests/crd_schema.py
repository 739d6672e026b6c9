"""Check objects against a CustomResourceDefinition's schema the way the Kubernetes API server does.

A CRD's `openAPIV3Schema` is a *structural* OpenAPI 3.0 schema, not JSON Schema; `to_json_schema`
translates it (Draft 2020-12):

- `nullable: true` adds "null" to the type; OpenAPI 3.0's boolean `exclusiveMinimum`/`exclusiveMaximum`
  become JSON Schema's numeric ones.
- `x-kubernetes-int-or-string: true` accepts an integer or a string.
- `x-kubernetes-list-type: set` requires unique items.
- Unknown fields: the API server prunes them, and rejects them under strict field validation (kubectl's
  default), so an object schema without `x-kubernetes-preserve-unknown-fields: true` gets
  `additionalProperties: false` unless it declares its own `additionalProperties`.
- `format: int32`/`int64` are range-checked.
- The root `metadata` (just `type: object` in every CRD, as the API server validates ObjectMeta itself)
  is replaced by the part of ObjectMeta a manifest sets: name (DNS-1123 subdomain, required), namespace,
  labels, annotations. `apiVersion` and `kind` must be the CRD's own.

Not checked: `x-kubernetes-list-type: map` key uniqueness, CEL `x-kubernetes-validations` (none in the
Chaos Mesh CRDs), label/annotation key syntax, and anything only an admission webhook enforces.

Loading a CRD (the Schedule and Workflow ones are ~850 KB and ~640 KB) is cached per file.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import jsonschema
import yaml

CHAOS_MESH_CRDS = Path(__file__).parent / "data" / "chaos-mesh-crds"
CHAOS_MESH_CRD_FILES = {
    "PodChaos": "chaos-mesh.org_podchaos.yaml",
    "NetworkChaos": "chaos-mesh.org_networkchaos.yaml",
    "StressChaos": "chaos-mesh.org_stresschaos.yaml",
    "HTTPChaos": "chaos-mesh.org_httpchaos.yaml",
    "Workflow": "chaos-mesh.org_workflows.yaml",
    "Schedule": "chaos-mesh.org_schedules.yaml",
}

_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml parses the big CRDs ~10x faster
_INT_RANGES = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}
_DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
_STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
_OBJECT_META = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "maxLength": 253, "pattern": _DNS_SUBDOMAIN},
        "namespace": {"type": "string", "maxLength": 63, "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"},
        "labels": _STRING_MAP,
        "annotations": _STRING_MAP,
    },
}
_SUBSCHEMA_MAPS = ("properties", "patternProperties")
_SUBSCHEMA_LISTS = ("anyOf", "allOf", "oneOf")
_SUBSCHEMA_ONE = ("items", "additionalProperties", "not")


def _format_checker() -> jsonschema.FormatChecker:
    checker = jsonschema.FormatChecker(formats=())
    for name, (low, high) in _INT_RANGES.items():
        checker.checks(name)(
            lambda instance, low=low, high=high: not isinstance(instance, int) or low <= instance <= high
        )
    return checker


def to_json_schema(node: dict[str, Any]) -> dict[str, Any]:
    """A structural CRD schema node, translated to JSON Schema (see the module docstring)."""
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _SUBSCHEMA_MAPS:
            out[key] = {name: to_json_schema(child) for name, child in value.items()}
        elif key in _SUBSCHEMA_LISTS:
            out[key] = [to_json_schema(child) for child in value]
        elif key in _SUBSCHEMA_ONE and isinstance(value, dict):
            out[key] = to_json_schema(value)
        elif key in ("exclusiveMinimum", "exclusiveMaximum"):
            bound = "minimum" if key == "exclusiveMinimum" else "maximum"
            if value is True:
                out[key] = node[bound]
        elif key.startswith("x-kubernetes-") or key in ("nullable", "description"):
            continue
        else:
            out[key] = value
    if node.get("exclusiveMinimum") is True:
        out.pop("minimum")
    if node.get("exclusiveMaximum") is True:
        out.pop("maximum")
    if node.get("x-kubernetes-int-or-string"):
        out["type"] = ["integer", "string"]
    if node.get("nullable") and "type" in out:
        out["type"] = [*([out["type"]] if isinstance(out["type"], str) else out["type"]), "null"]
    if node.get("x-kubernetes-list-type") == "set":
        out["uniqueItems"] = True
    if (
        node.get("type") == "object"
        and "additionalProperties" not in node
        and not node.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


@functools.cache
def validator_for_crd(path: Path, version: str = "v1alpha1") -> jsonschema.Draft202012Validator:
    """A validator for objects of the CRD in `path`, at the served `version`.

    Raises KeyError if the CRD does not serve `version`.
    """
    crd = yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER)
    spec = crd["spec"]
    by_name = {entry["name"]: entry for entry in spec["versions"]}
    schema = to_json_schema(by_name[version]["schema"]["openAPIV3Schema"])
    schema["properties"]["apiVersion"] = {"const": f"{spec['group']}/{version}"}
    schema["properties"]["kind"] = {"const": spec["names"]["kind"]}
    schema["properties"]["metadata"] = _OBJECT_META
    schema["required"] = sorted({*schema.get("required", ()), "apiVersion", "kind", "metadata"})
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=_format_checker())


def chaos_mesh_validator(kind: str) -> jsonschema.Draft202012Validator:
    """The validator for a Chaos Mesh kind (e.g. "NetworkChaos"), from the CRDs copied into tests/data."""
    return validator_for_crd(CHAOS_MESH_CRDS / CHAOS_MESH_CRD_FILES[kind])


def schema_errors(manifest: dict[str, Any]) -> list[str]:
    """Every way `manifest` breaks its Chaos Mesh CRD, as "path: message"; empty when it is accepted."""
    validator = chaos_mesh_validator(manifest["kind"])
    return sorted(f"{error.json_path}: {error.message}" for error in validator.iter_errors(manifest))
