"""What the preview role's Kubernetes access (EKS AmazonEKSViewPolicy) can and cannot read of the lab.

A refresh reads every declared object back from the cluster (pulumi/pulumi-kubernetes
provider/pkg/provider/provider.go, Read: any error but a 404 fails it). A helm.v3.Release is read
through Helm's storage, which keeps each release revision in a Secret of the release's namespace and
finds it by listing Secrets (helm/helm pkg/storage/driver/secrets.go; the provider's default driver is
"secret", provider.go `PULUMI_K8S_HELM_DRIVER`). docs/delivery.md lists what view access cannot read,
which is why pull-request previews do not refresh; this keeps that list true for what the program
declares, with every experiment and the long-lived dashboard token switched on.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from chaoslab.experiments import CATALOG
from pulumi_harness import PROJECT_DIR, run_lab

DATA = Path(__file__).resolve().parent / "data"
VIEW_POLICY = json.loads((DATA / "eks-access-policies" / "AmazonEKSViewPolicy.json").read_text())
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
# Helm finds a release's revisions by listing the Secrets of its namespace.
HELM_STORAGE = ("", "secrets", "list")
DOCUMENTED = re.compile(r"^\s*Not readable with `AmazonEKSViewPolicy`: (.*)$", re.MULTILINE)


def crd_plurals() -> dict[str, str]:
    plurals = {}
    for path in (DATA / "chaos-mesh-crds").glob("*.yaml"):
        names = yaml.safe_load(path.read_text())["spec"]["names"]
        plurals[names["kind"]] = names["plural"]
    return plurals


def guessed_plural(kind: str) -> str:
    """The resource name Kubernetes derives from a kind, as kubernetes/apimachinery
    pkg/api/meta/restmapper.go UnsafeGuessKindToResource does: "-s" -> "-ses", consonant + "y" -> "-ies"."""
    singular = kind.lower()
    if singular.endswith("s"):
        return singular + "es"
    if singular.endswith("y") and singular[-2:-1] not in ("a", "e", "i", "o", "u"):
        return singular[:-1] + "ies"
    return singular + "s"


def reads_needed(type_token: str) -> tuple[str, str, str]:
    """(API group, resource, verb) a refresh of one declared resource needs."""
    if type_token == HELM_RELEASE:
        return HELM_STORAGE
    group_version, kind = type_token.removeprefix("kubernetes:").rsplit(":", 1)
    group = group_version.rsplit("/", 1)[0]
    # Built-in kinds' resources are the guessed plural; Chaos Mesh's come from its CRDs.
    resource = crd_plurals().get(kind, guessed_plural(kind)) if group == "chaos-mesh.org" else guessed_plural(kind)
    return ("" if group == "core" else group, resource, "get")


def view_allows(group: str, resource: str, verb: str) -> bool:
    return any(
        group in rule["apiGroups"] and resource in rule["resources"] and verb in rule["verbs"]
        for rule in VIEW_POLICY["rules"]
    )


@pytest.fixture(scope="module")
def declared_kubernetes_types() -> set[str]:
    everything = {f"experiments.{name}.enabled": True for name in CATALOG}
    deployment = run_lab("dev", {**everything, "chaosMesh.longLivedDashboardToken": True})
    return {item.type for item in deployment.registrations if item.custom and item.type.startswith("kubernetes:")}


def documented_unreadable() -> set[str]:
    (line,) = DOCUMENTED.findall((PROJECT_DIR / "docs" / "delivery.md").read_text())
    return set(re.findall(r"`([^`]+)`", line))


def test_the_docs_name_every_resource_view_access_cannot_refresh(declared_kubernetes_types: set[str]) -> None:
    unreadable = {
        reads_needed(type_token)[1]
        for type_token in declared_kubernetes_types
        if not view_allows(*reads_needed(type_token))
    }
    assert unreadable <= documented_unreadable()


def test_the_docs_name_nothing_view_access_can_read() -> None:
    granted = {resource for rule in VIEW_POLICY["rules"] for resource in rule["resources"]}
    assert documented_unreadable() and not documented_unreadable() & granted


def test_the_release_is_among_what_view_access_cannot_refresh(declared_kubernetes_types: set[str]) -> None:
    """Chaos Mesh is always installed, so a refresh with view access always fails."""
    assert HELM_RELEASE in declared_kubernetes_types and not view_allows(*HELM_STORAGE)


def test_a_plain_workload_is_readable() -> None:
    assert view_allows(*reads_needed("kubernetes:apps/v1:Deployment"))
    assert not view_allows(*reads_needed("kubernetes:core/v1:Secret"))
