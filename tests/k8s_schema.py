"""Registered Kubernetes resources as manifests, checked against the Kubernetes OpenAPI schema.

The mock harness records each resource's inputs as the SDK sent them to the engine: camelCase objects
with `apiVersion` and `kind` filled in by pulumi-kubernetes. `to_manifest` turns one registration into
the manifest the provider would send to the API server, and `schema_errors` validates it with the
`kubernetes-validate` package in strict mode (an unknown field is an error, as with kubectl's default
strict field validation), against the newest schema the package ships that is not newer than 1.35.

What the conversion has to do, and why it is honest:
- Numbers: the engine protocol carries every number as a protobuf double, so `replicas: 3` arrives as
  3.0. The provider converts them back by the schema; an integral float becomes an int here too. A
  non-integral float is left alone, and an integer field then rejects it, as the API server would.
- Secrets: a secret input arrives wrapped; it is unwrapped to its plain value.
- None: an input that is an Output of another resource resolves under mocks to that resource's echoed
  inputs, so it is a real value; but an unknown (a preview, or an output the mock did not invent)
  deserializes to None. The schema cannot judge a value nobody knows, so None keys and list items are
  dropped. That can only hide a wrong value in that field, never invent an error; a dropped REQUIRED
  field still fails as "required".

Not checked here: helm Releases (what the chart renders is invisible to mocks), Chaos Mesh custom
resources (validated against the Chaos Mesh CRDs in tests/crd_schema.py), providers; anything only the
API server or an admission webhook enforces (name uniqueness, RBAC escalation checks, quota, defaults);
and all errors but the first of each manifest, since `kubernetes_validate.validate` raises on the first.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import kubernetes_validate
from kubernetes_validate.utils import all_versions, major_minor
from packaging.version import Version
from pulumi.runtime import rpc

# The newest Kubernetes minor the lab is allowed to assume (EKS 1.35 is the default version).
NEWEST_ALLOWED_MINOR = Version("1.35")

# Every Kubernetes type the lab declares that the core OpenAPI schema covers.
SCHEMA_CHECKED_TYPES = frozenset(
    {
        "kubernetes:core/v1:Namespace",
        "kubernetes:core/v1:ServiceAccount",
        "kubernetes:core/v1:ConfigMap",
        "kubernetes:core/v1:Secret",
        "kubernetes:core/v1:Service",
        "kubernetes:rbac.authorization.k8s.io/v1:Role",
        "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole",
        "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding",
        "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding",
        "kubernetes:apps/v1:Deployment",
        "kubernetes:policy/v1:PodDisruptionBudget",
        "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy",
        "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicyBinding",
        "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition",
    }
)
# Kubernetes-provider types with no core schema, skipped on purpose (see the module docstring).
SKIPPED_TYPES = frozenset({"kubernetes:helm.sh/v3:Release", "pulumi:providers:kubernetes"})
CHAOS_MESH_GROUP = "chaos-mesh.org"

_TYPE_TOKEN = re.compile(r"^kubernetes:(?P<group>[^/:]+)/(?P<version>[^/:]+):(?P<kind>[A-Za-z0-9]+)$")


def schema_version() -> str:
    """The newest schema version kubernetes-validate ships that is not newer than NEWEST_ALLOWED_MINOR."""
    shipped = sorted({Version(version) for version in all_versions()})
    chosen = [version for version in shipped if Version(f"{version.major}.{version.minor}") <= NEWEST_ALLOWED_MINOR]
    if not chosen:
        raise LookupError(f"kubernetes-validate ships no schema at or below {NEWEST_ALLOWED_MINOR}: {shipped}")
    return str(chosen[-1])


def api_version_and_kind(type_token: str) -> tuple[str, str]:
    """`kubernetes:<group>/<version>:<Kind>` -> (apiVersion, kind); the core group is written `core`."""
    match = _TYPE_TOKEN.fullmatch(type_token)
    if match is None:
        raise ValueError(f"{type_token!r} is not a kubernetes:<group>/<version>:<Kind> type token")
    group, version, kind = match["group"], match["version"], match["kind"]
    return (version if group == "core" else f"{group}/{version}"), kind


def is_chaos_mesh_resource(type_token: str) -> bool:
    return type_token.startswith(f"kubernetes:{CHAOS_MESH_GROUP}/")


def _plain(value: Any) -> Any:
    """Unwrap secrets, drop None (unknown) keys and items, and turn integral floats into ints."""
    if rpc.is_rpc_secret(value):
        value = rpc.unwrap_rpc_secret(value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_plain(item) for item in value if item is not None]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def to_manifest(type_token: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """The manifest a registration's inputs describe; apiVersion and kind come from the type token.

    Raises ValueError if the inputs carry an apiVersion or kind that disagrees with the token.
    """
    api_version, kind = api_version_and_kind(type_token)
    manifest = _plain(inputs)
    for field, expected in (("apiVersion", api_version), ("kind", kind)):
        sent = manifest.setdefault(field, expected)
        if sent != expected:
            raise ValueError(f"{type_token}: inputs say {field}={sent!r}, the type token says {expected!r}")
    return manifest


def schema_errors(manifest: dict[str, Any], version: str | None = None) -> list[str]:
    """The manifest's first schema violation as ["path: message"], or [] when it validates (strict)."""
    wanted = version or schema_version()
    try:
        used = kubernetes_validate.validate(manifest, wanted, strict=True)
    except kubernetes_validate.ValidationError as error:
        path = ".".join(str(part) for part in error.absolute_path) or "<root>"
        return [f"{path}: {error.message}"]
    # validate() silently falls back to an older schema it has; make sure it used the one we chose.
    if used != major_minor(wanted):
        raise LookupError(f"kubernetes-validate validated against {used}, not {wanted}")
    return []


def check_registrations(registrations: Iterable[Any]) -> tuple[list[str], list[str]]:
    """Validate every schema-checked registration; returns (checked types, "name (type): error" list).

    Raises LookupError for a Kubernetes type that is neither checked nor knowingly skipped, so a new
    kind cannot slip past the schema check unnoticed.
    """
    checked: list[str] = []
    errors: list[str] = []
    for registration in registrations:
        if registration.type in SCHEMA_CHECKED_TYPES:
            manifest = to_manifest(registration.type, registration.inputs)
            checked.append(registration.type)
            errors += [f"{registration.name} ({registration.type}): {error}" for error in schema_errors(manifest)]
        elif (
            registration.type.startswith(("kubernetes:", "pulumi:providers:kubernetes"))
            and registration.type not in SKIPPED_TYPES
            and not is_chaos_mesh_resource(registration.type)
        ):
            raise LookupError(
                f"{registration.name}: {registration.type} is neither schema-checked nor knowingly skipped"
            )
    return checked, errors
