"""The change matrix: what each config change docs/configuration.md offers does to a running lab, and whether it applies.

For every key in docs/configuration.md's table, the program runs under mocks twice: with the
default (or the base a change needs) and with the changed value, against a fake account that already
runs the lab's cluster. The declared inputs are compared by URN. A changed input that forces
replacement (`replacement_rules.py`, each rule citing the provider's source) makes the resource
replaced; a replaced resource whose physical name stays the same is created beside the old one
first (Pulumi's default) and collides, unless the resource or its provider deletes first.

`venv/bin/python tests/change_matrix.py --write` regenerates docs/changes.md; a test keeps it current.
What mocks cannot show is listed in that file's header and in each row's note.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

if __name__ == "__main__":  # run as a script: import the project and the test helpers like pytest does
    sys.path[:0] = [str(Path(__file__).resolve().parent.parent), str(Path(__file__).resolve().parent)]

from pulumi_harness import PROJECT_DIR, Deployment, FakeCluster, Registration, run_lab
from replacement_rules import rule_for

CONFIGURATION_DOC = PROJECT_DIR / "docs" / "configuration.md"
DOC = PROJECT_DIR / "docs" / "changes.md"
CONFIG_TABLE_HEADER = "| key | default | accepted |"
SUBNET = "aws:ec2/subnet:Subnet"
# A chart version the lab does not carry, stood in for by the carried CRD files (see `simulated_chart_version`).
SIMULATED_CHART_VERSION = "2.8.4"
EXPERIMENT = {"basic-pod-kill": {"enabled": True}}


@dataclass(frozen=True)
class Change:
    to: Mapping[str, Any]
    # Overrides both runs share, for a change that only means something on top of them.
    base: Mapping[str, Any] = field(default_factory=dict)
    stack: str = "dev"
    # What happens after apply that the mocks cannot show (values only AWS computes).
    note: str = ""


CHANGES: dict[str, Change] = {
    "clusterProvider": Change(to={"clusterProvider": "existing"}),
    "kubernetesVersion": Change(
        base={"kubernetesVersion": "1.34"},
        to={"kubernetesVersion": "1.35"},
        note="control plane, then the vpc-cni add-on (EKS's default version for 1.35), then a rolling node update",
    ),
    "clusterAdminArns": Change(to={"clusterAdminArns": ["arn:aws:iam::123456789012:role/ops"]}),
    "kubeconfigContext": Change(stack="kind", to={"kubeconfigContext": "kind-chaos"}),
    "cluster.endpointPublicAccessCidrs": Change(
        to={"cluster.endpointPublicAccessCidrs": ["203.0.113.0/24"], "cluster.endpointPrivateAccess": True},
        note="a narrowed list needs endpointPrivateAccess true; EKS updates the endpoint in place",
    ),
    "cluster.endpointPrivateAccess": Change(to={"cluster.endpointPrivateAccess": True}),
    "nodes.capacityType": Change(to={"nodes.capacityType": "ON_DEMAND"}),
    "nodes.instanceTypes": Change(to={"nodes.instanceTypes": ["t3.medium", "t3a.medium"]}),
    "nodes.desiredSize": Change(to={"nodes.desiredSize": 4}),
    "nodes.minSize": Change(to={"nodes.minSize": 3}),
    "nodes.maxSize": Change(to={"nodes.maxSize": 5}),
    "nodes.diskSizeGiB": Change(
        to={"nodes.diskSizeGiB": 40},
        note="the template's new version (known after apply) then rolls the node group in place",
    ),
    "network.natGateways": Change(to={"network.natGateways": "single"}),
    "sandboxNamespace": Change(to={"sandboxNamespace": "game-day"}),
    "chaosMesh.version": Change(
        to={"chaosMesh.version": SIMULATED_CHART_VERSION},
        note=f"simulated: {SIMULATED_CHART_VERSION} with the carried CRD files; CRDs whose schema changed are updated in place",
    ),
    "chaosMesh.runtime": Change(to={"chaosMesh.runtime": "crio"}),
    "chaosMesh.socketPath": Change(to={"chaosMesh.socketPath": "/run/k3s/containerd/containerd.sock"}),
    "chaosMesh.controllerReplicas": Change(to={"chaosMesh.controllerReplicas": 2}),
    "chaosMesh.longLivedDashboardToken": Change(to={"chaosMesh.longLivedDashboardToken": True}),
    "app.frontendReplicas": Change(to={"app.frontendReplicas": 3}),
    "app.backendReplicas": Change(to={"app.backendReplicas": 4}),
    "app.proxyConnectTimeout": Change(to={"app.proxyConnectTimeout": "500ms"}),
    "app.proxyReadTimeout": Change(to={"app.proxyReadTimeout": "3s"}),
    "app.redisTimeout": Change(to={"app.redisTimeout": "1500ms"}),
    "experiments": Change(to={"experiments": EXPERIMENT}),
    "maxExperimentDuration": Change(base={"experiments": EXPERIMENT}, to={"maxExperimentDuration": "5m"}),
    "halted": Change(base={"experiments": EXPERIMENT}, to={"halted": True}),
    "steadyState.enabled": Change(to={"steadyState.enabled": False}),
    "steadyState.rate": Change(to={"steadyState.rate": 20}),
    "steadyState.timeout": Change(to={"steadyState.timeout": "3s"}),
    "steadyState.path": Change(to={"steadyState.path": "/healthz"}),
    "steadyState.minSuccessRate": Change(to={"steadyState.minSuccessRate": "95%"}),
    "steadyState.maxP95Latency": Change(to={"steadyState.maxP95Latency": "800ms"}),
    "steadyState.evaluationPeriods": Change(to={"steadyState.evaluationPeriods": 5}),
    "steadyState.datapointsToAlarm": Change(to={"steadyState.datapointsToAlarm": 2}),
}


def documented_keys(configuration_doc: str) -> list[str]:
    """The keys of docs/configuration.md's table, `a.b` / `c` shorthand expanded to `a.b`, `a.c`."""
    lines = configuration_doc.splitlines()
    start = lines.index(CONFIG_TABLE_HEADER) + 2
    keys: list[str] = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        first_cell = line.split("|")[1]
        names = re.findall(r"`([^`]+)`", first_cell)
        parent = names[0].rpartition(".")[0]
        keys += [name if "." in name or not parent else f"{parent}.{name}" for name in names]
    return keys


@dataclass(frozen=True)
class Effect:
    label: str
    action: str  # updated | replaced | created | deleted
    fields: tuple[str, ...] = ()
    # Why applying it would fail, when it would.
    collision: str | None = None
    # The provider deletes the old object before creating its replacement: briefly absent.
    gap: bool = False


@dataclass(frozen=True)
class Row:
    key: str
    change: str
    effects: tuple[Effect, ...]
    note: str

    @property
    def collisions(self) -> list[str]:
        return [effect.collision for effect in self.effects if effect.collision]


def _label(item: Registration) -> str:
    return f"{item.name} ({item.type.rsplit(':', 1)[-1]})"


def changed_paths(before: Any, after: Any, prefix: str = "") -> list[str]:
    """Dotted input paths whose values differ; lists compare whole."""
    if isinstance(before, dict) and isinstance(after, dict):
        paths: list[str] = []
        for key in sorted(set(before) | set(after)):
            paths += changed_paths(before.get(key), after.get(key), f"{prefix}.{key}" if prefix else key)
        return paths
    return [] if before == after else [prefix]


def _hits(path: str, field_path: str) -> bool:
    return path == field_path or path.startswith(field_path + ".") or field_path.startswith(path + ".")


def _value(inputs: Mapping[str, Any], path: str) -> Any:
    node: Any = inputs
    for part in path.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def _identity(item: Registration) -> tuple[Any, ...] | None:
    """The physical name the inputs give the object; None when the provider names it."""
    rule = rule_for(item.type)
    if rule is None or not rule.identity:
        return None
    values = tuple(_value(item.inputs, path) for path in rule.identity)
    return None if any(value is None for value in values) else values


def _rule(item: Registration):
    rule = rule_for(item.type)
    if rule is None:
        raise LookupError(
            f"{item.name}: no replacement rule for {item.type}; add one to replacement_rules.py with its source"
        )
    return rule


def _compared(deployment: Deployment) -> dict[str, Registration]:
    """Resources with their own provider-side state: custom ones and pulumi-eks's remote components."""
    return {item.urn: item for item in deployment.registrations if item.custom or rule_for(item.type) is not None}


def _forcing(was: Registration, now: Registration) -> tuple[list[str], list[str]]:
    """(changed input paths, the force-new fields among them)."""
    paths = changed_paths(was.inputs, now.inputs)
    fields = (*_rule(now).force_new, *now.replace_on_changes)
    return paths, sorted({field_path for path in paths for field_path in fields if _hits(path, field_path)})


def _provider_urn(item: Registration) -> str:
    # A provider reference is "<provider URN>::<provider ID>".
    return item.provider.rsplit("::", 1)[0]


def diff(before: Deployment, after: Deployment) -> tuple[Effect, ...]:
    old, new = _compared(before), _compared(after)
    kept = sorted(old.keys() & new.keys())
    # Pulumi replaces everything a replaced provider manages: it now lives in another cluster or account.
    replaced_providers = {
        urn for urn in kept if new[urn].type.startswith("pulumi:providers:") and _forcing(old[urn], new[urn])[1]
    }
    effects: list[Effect] = []
    for urn in kept:
        was, now = old[urn], new[urn]
        rule = _rule(now)
        paths, forcing = _forcing(was, now)
        if _provider_urn(was) != _provider_urn(now) or _provider_urn(now) in replaced_providers:
            effects.append(Effect(_label(now), "replaced", ("<provider>",)))
        elif forcing:
            deletes_first = now.delete_before_replace or rule.provider_deletes_first
            same_name = _identity(now) is not None and _identity(now) == _identity(was)
            collision = (
                f"{_label(now)}: {', '.join(forcing)} force a replacement that keeps its name "
                f"({', '.join(rule.identity)}), created before the old one is deleted"
                if same_name and not deletes_first
                else None
            )
            effects.append(Effect(_label(now), "replaced", tuple(forcing), collision, gap=same_name and deletes_first))
        elif paths:
            effects.append(Effect(_label(now), "updated", tuple(paths)))
    deleted = {urn: old[urn] for urn in old.keys() - new.keys()}
    for urn in sorted(new.keys() - old.keys()):
        item = new[urn]
        _rule(item)
        # A new URN with the physical name of one being deleted: created first, so it collides.
        twin = next(
            (
                gone
                for gone in deleted.values()
                if gone.type == item.type and _identity(gone) is not None and _identity(gone) == _identity(item)
            ),
            None,
        )
        deletes_first = item.delete_before_replace
        collision = (
            f"{_label(item)}: created with the name {_label(twin)} still holds" if twin and not deletes_first else None
        )
        effects.append(Effect(_label(item), "created", collision=collision))
    effects += [Effect(_label(deleted[urn]), "deleted") for urn in sorted(deleted)]
    return tuple(effects)


@contextmanager
def simulated_chart_version(version: str, crd_dir: Path) -> Iterator[None]:
    """Let the program accept `version`, with the carried CRD files standing in for its own."""
    from chaoslab.config import model
    from components import chaos_mesh_crds

    source = chaos_mesh_crds.crd_file(model.DEFAULT_CHAOS_MESH_VERSION)
    (crd_dir / source.name.replace(model.DEFAULT_CHAOS_MESH_VERSION, version)).write_bytes(source.read_bytes())
    with (
        mock.patch.object(model, "CHAOS_MESH_CRD_VERSIONS", (*model.CHAOS_MESH_CRD_VERSIONS, version)),
        mock.patch.object(chaos_mesh_crds, "CRD_DIR", crd_dir),
    ):
        yield


def _running(before: Deployment) -> FakeCluster | None:
    """The cluster an account runs after a first `up` of `before`: its name, version and zones."""
    clusters = before.of_type("eks:index:Cluster")
    if not clusters:
        return None
    zones = tuple(sorted({item.inputs["availabilityZoneId"] for item in before.of_type(SUBNET)}))
    return FakeCluster(name=clusters[0].inputs["name"], version=clusters[0].inputs["version"], zone_ids=zones)


def run_change(key: str, change: Change, scratch: Path, before_runs: dict[str, Deployment]) -> Row:
    # A first `up` of the base declares what an `up` against its own running cluster declares (same
    # zones, same version), so it serves as the "before" of every change on that base.
    base_key = f"{change.stack}:{sorted(change.base.items())!r}"
    if base_key not in before_runs:
        before_runs[base_key] = run_lab(change.stack, change.base)
    before = before_runs[base_key]
    simulating = "chaosMesh.version" in change.to
    with simulated_chart_version(SIMULATED_CHART_VERSION, scratch) if simulating else nullcontext():
        after = run_lab(change.stack, {**change.base, **change.to}, running=_running(before))
    described = ", ".join(
        f"`{name}: {value if isinstance(value, str) else json.dumps(value)}`" for name, value in change.to.items()
    )
    return Row(key=key, change=described, effects=diff(before, after), note=change.note)


def matrix(keys: list[str], scratch: Path) -> list[Row]:
    missing = [key for key in keys if key not in CHANGES]
    if missing:
        raise LookupError(f"no change defined for documented keys {missing}: add them to CHANGES")
    before_runs: dict[str, Deployment] = {}
    return [run_change(key, CHANGES[key], scratch, before_runs) for key in keys]


def _cell(effects: list[Effect]) -> str:
    return (
        "<br>".join(
            f"{effect.label}" + (f" ({', '.join(effect.fields)})" if effect.fields else "") for effect in effects
        )
        or "–"
    )


def render(rows: list[Row]) -> str:
    lines = [
        "# What each config change does to a running lab",
        "",
        "Generated by `venv/bin/python tests/change_matrix.py --write` from the program itself; "
        "`tests/test_change_matrix.py` fails when this file is out of date. Do not edit by hand.",
        "",
        "Each row runs the program twice under mocks, before and after the change, against an account that already runs",
        "the lab, and compares what it declares by URN. **replaced** means a changed input forces a new object",
        "(`tests/replacement_rules.py` names the provider source of each such field). A replacement is **safe** when",
        "the new object gets a name of its own or the old one is deleted first; it **collides** when the new object",
        "would be created under the old one's name while that still exists. *gap*: the provider deletes the old",
        "object first, so it is briefly absent. Values only known after apply (IDs, launch template versions) are",
        "invented by the mocks; the note says what then follows.",
        "",
        "| config key | change | updated | replaced | created | deleted | safe? | note |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        by_action = {
            action: [effect for effect in row.effects if effect.action == action]
            for action in ("updated", "replaced", "created", "deleted")
        }
        gaps = [effect.label for effect in by_action["replaced"] if effect.gap]
        verdict = (
            "**no**: " + "; ".join(row.collisions)
            if row.collisions
            else "yes" + (f" (gap: {', '.join(gaps)})" if gaps else "")
        )
        lines.append(
            f"| `{row.key}` | {row.change} | {_cell(by_action['updated'])} | {_cell(by_action['replaced'])} | "
            f"{_cell(by_action['created'])} | {_cell(by_action['deleted'])} | {verdict} | {row.note or '–'} |"
        )
    return "\n".join(lines) + "\n"


def generate(scratch: Path) -> str:
    return render(matrix(documented_keys(CONFIGURATION_DOC.read_text()), scratch))


def main(argv: list[str]) -> int:
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        text = generate(Path(scratch))
    if argv == ["--write"]:
        DOC.write_text(text)
        return 0
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
