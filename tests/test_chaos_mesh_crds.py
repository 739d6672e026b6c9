"""Chaos Mesh's CRDs as stack resources: exactly upstream's, applied before the release and every chaos
object, removed after them, and following `chaosMesh.version`.

What mocks cannot show: the API server accepting these schemas through server-side apply, and how long
a CRD's deletion waits on objects that still carry finalizers.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
import yaml

from chaoslab.config import model
from components import chaos_mesh_crds
from components.chaos_mesh_crds import CRD_DIR, crd_file, crd_manifests
from pulumi_harness import CRD_TYPE, PROJECT_DIR, Deployment, ProgramFailed, run_lab

RELEASE = "kubernetes:helm.sh/v3:Release"
ADMISSION_POLICY = "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy"
TEST_DATA_CRDS = PROJECT_DIR / "tests" / "data" / "chaos-mesh-crds"
ENABLED = {"experiments": {"basic-pod-kill": {"enabled": True}, "api-high-latency": {"enabled": True}}}


@pytest.fixture(scope="module")
def dev() -> Deployment:
    return run_lab("dev", ENABLED)


def test_the_vendored_files_are_the_versions_the_config_accepts_with_their_recorded_sha256():
    source = (CRD_DIR / "SOURCE.md").read_text()
    files = sorted(CRD_DIR.glob("chaos-mesh-*.yaml"))
    assert [path.name.removeprefix("chaos-mesh-").removesuffix(".yaml") for path in files] == list(
        model.CHAOS_MESH_CRD_VERSIONS
    )
    for path in files:
        row = next(line for line in source.splitlines() if line.startswith(f"| `{path.name}`"))
        recorded = re.findall(r"`([0-9a-f]{64})`", row)
        assert recorded == [hashlib.sha256(path.read_bytes()).hexdigest()], (
            f"{path.name} differs from what SOURCE.md records"
        )
        # The git blob id recorded beside it: what upstream's tree holds at the tag.
        blob = re.findall(r"`([0-9a-f]{40})`", row)[-1]
        data = path.read_bytes()
        assert hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest() == blob


def test_the_vendored_crds_are_the_charts_own_crds():
    """The experiment tests validate against the chart's crds/ copies; the stack applies the same objects."""
    vendored = {manifest["metadata"]["name"]: manifest for manifest in crd_manifests(model.DEFAULT_CHAOS_MESH_VERSION)}
    assert all(
        manifest["kind"] == "CustomResourceDefinition" and manifest["spec"]["group"] == "chaos-mesh.org"
        for manifest in vendored.values()
    )
    copies = sorted(TEST_DATA_CRDS.glob("chaos-mesh.org_*.yaml"))
    assert copies
    for path in copies:
        chart_copy = yaml.safe_load(path.read_text())
        assert vendored[chart_copy["metadata"]["name"]] == chart_copy, path.name


def test_every_crd_is_its_own_resource_declared_exactly_as_upstream_wrote_it(dev: Deployment):
    declared = {item.inputs["metadata"]["name"]: item for item in dev.of_type(CRD_TYPE)}
    manifests = crd_manifests(model.DEFAULT_CHAOS_MESH_VERSION)
    assert sorted(declared) == sorted(manifest["metadata"]["name"] for manifest in manifests)
    component = dev.one("chaos-lab:chaosmesh:ChaosMeshCrds")
    for manifest in manifests:
        item = declared[manifest["metadata"]["name"]]
        # No key renamed on the way (openAPIV3Schema, x-kubernetes-*): the API server gets upstream's schema.
        assert item.inputs["spec"] == manifest["spec"] and item.inputs["metadata"] == manifest["metadata"]
        assert item.parent == component.urn
        assert item.custom_timeouts["delete"] == chaos_mesh_crds.DELETE_TIMEOUT
    assert component.urn in dev.registered_outputs


def test_crds_come_before_the_release_and_every_chaos_object_and_go_after_them(dev: Deployment):
    """Pulumi creates a resource after its dependencies and deletes it before them."""
    crd_urns = {item.urn for item in dev.of_type(CRD_TYPE)}
    release = dev.one(RELEASE)
    assert crd_urns <= set(release.dependencies)
    assert release.inputs["skipCrds"] is True, "Helm would install its own copies on the first install"
    chaos_objects = [item for item in dev.registrations if item.type.startswith("kubernetes:chaos-mesh.org/")]
    assert len(chaos_objects) == len(ENABLED["experiments"])
    for item in chaos_objects:
        assert crd_urns <= set(item.dependencies) and release.urn in item.dependencies, item.name


def test_crds_wait_for_the_admission_policy_that_judges_chaos_objects(dev: Deployment):
    admission = {
        item.urn for type_token in (ADMISSION_POLICY, f"{ADMISSION_POLICY}Binding") for item in dev.of_type(type_token)
    }
    assert admission
    for item in dev.of_type(CRD_TYPE):
        assert admission <= set(item.dependencies), item.name


def test_crds_and_release_follow_the_chart_version(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    newer = "2.8.4"
    manifests = [dict(manifest) for manifest in crd_manifests(model.DEFAULT_CHAOS_MESH_VERSION)]
    manifests[0] = {**manifests[0], "metadata": {**manifests[0]["metadata"], "annotations": {"changed": "in 2.8.4"}}}
    monkeypatch.setattr(chaos_mesh_crds, "CRD_DIR", tmp_path)
    monkeypatch.setattr(model, "CHAOS_MESH_CRD_VERSIONS", (*model.CHAOS_MESH_CRD_VERSIONS, newer))
    crd_file(newer).write_text(yaml.safe_dump_all(manifests))
    deployment = run_lab("dev", {"chaosMesh.version": newer})
    assert deployment.one(RELEASE).inputs["version"] == newer
    changed = [
        item
        for item in deployment.of_type(CRD_TYPE)
        if item.inputs["metadata"].get("annotations") == {"changed": "in 2.8.4"}
    ]
    assert [item.inputs["metadata"]["name"] for item in changed] == [manifests[0]["metadata"]["name"]]


def test_a_chart_version_without_its_crds_is_refused_naming_the_key():
    with pytest.raises(ProgramFailed) as failed:
        run_lab("dev", {"chaosMesh.version": "2.7.2"})
    assert (
        "chaos-lab:chaosMesh.version: got '2.7.2'; accepted a chart version whose CRDs the lab carries: 2.8.3"
        in str(failed.value)
    )
    assert failed.value.deployment.registrations == []
