"""Chaos Mesh's CustomResourceDefinitions as stack resources, pinned to the chart version.

Helm installs a chart's `crds/` directory on the first install only and never upgrades or deletes
those CRDs (Helm documentation, "Custom Resource Definitions": "There is no support at this time for
upgrading or deleting CRDs using Helm"). Raising `chaosMesh.version` would then leave the old schemas in
place under a new controller. So the stack owns them: each CRD of the chart's version (vendored
unmodified in `components/crds/`, see its SOURCE.md) is a resource of its own, updated in place when the
version changes, and the release is installed with `skip_crds`. The release and every chaos object
depend on these, so an `up` applies the CRDs first and a `destroy` removes them last.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import yaml

CRD_DIR = Path(__file__).resolve().parent / "crds"
# A CRD's deletion waits until every object of its kind is gone; objects made outside the stack (from
# the dashboard) keep finalizers nobody serves once the controller is removed. Bound the wait so
# `destroy` fails with a message instead of hanging; docs/upgrading.md says how to clear them.
DELETE_TIMEOUT = "5m"


def crd_file(chart_version: str) -> Path:
    return CRD_DIR / f"chaos-mesh-{chart_version}.yaml"


def crd_manifests(chart_version: str) -> tuple[dict[str, Any], ...]:
    """The chart version's CRDs, as upstream publishes them, in file order."""
    return _load(crd_file(chart_version))


@cache
def _load(path: Path) -> tuple[dict[str, Any], ...]:
    """Read once per file: 3 MB of YAML. libyaml when PyYAML has it; the pure-Python loader takes seconds."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return tuple(document for document in yaml.load_all(path.read_text(), Loader=loader) if document)


@dataclass
class ChaosMeshCrdsArgs:
    chart_version: str
    # Applied after these: the fence's admission layers, so no chaos object can exist before the policy judging it.
    depends_on: Sequence[pulumi.Resource] = ()


class ChaosMeshCrds(pulumi.ComponentResource):
    definitions: list[k8s.apiextensions.v1.CustomResourceDefinition]

    def __init__(self, name: str, args: ChaosMeshCrdsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("chaos-lab:chaosmesh:ChaosMeshCrds", name, None, opts)
        self.definitions = [
            k8s.apiextensions.v1.CustomResourceDefinition(
                f"{name}-{manifest['metadata']['name']}",
                metadata=manifest["metadata"],
                spec=manifest["spec"],
                opts=pulumi.ResourceOptions(
                    parent=self,
                    depends_on=list(args.depends_on),
                    custom_timeouts=pulumi.CustomTimeouts(delete=DELETE_TIMEOUT),
                ),
            )
            for manifest in crd_manifests(args.chart_version)
        ]
        self.register_outputs(
            {"names": [manifest["metadata"]["name"] for manifest in crd_manifests(args.chart_version)]}
        )
