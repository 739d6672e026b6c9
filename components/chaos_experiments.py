"""The enabled experiments as Chaos Mesh objects: stack resources a preview shows and `destroy` removes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from chaoslab.experiments import Experiment

# Chaos Mesh refuses spec updates ("Cannot update chaos spec"), so any change to a spec is a delete
# (which recovers the fault) followed by a create.
REPLACE_ON_CHANGES = ["spec"]
# Deleting waits on the object's finalizer while Chaos Mesh recovers the fault. Bound it, so a
# `destroy` with a broken controller fails instead of hanging; docs/experiments.md says how to recover.
DELETE_TIMEOUT = "5m"


@dataclass
class ChaosExperimentsArgs:
    experiments: Sequence[Experiment]
    # The demo app's declared replicas by app label, to say in plain words what each experiment hits.
    workloads: Mapping[str, int]
    # Stop-everything switch: declare no chaos object at all, whatever is enabled.
    halted: bool
    # Created after these and deleted before them: the Chaos Mesh release, whose controller serves the
    # experiments' finalizers, and the demo app, so a first `up` does not start an experiment's clock
    # before there is anything for it to hit.
    depends_on: Sequence[pulumi.Resource]


def unless_halted(component: pulumi.Resource, halted: bool, enabled: Sequence[Any], what: str) -> tuple[Any, ...]:
    """The enabled experiments to declare: none when halted, which the log says, naming what was enabled."""
    if halted and enabled:
        pulumi.log.warn(
            f"chaos-lab:halted is true: no {what} is declared, whatever is enabled "
            f"({', '.join(experiment.name for experiment in enabled)})",
            resource=component,
        )
    return () if halted else tuple(enabled)


class ChaosExperiments(pulumi.ComponentResource):
    summary: pulumi.Output[dict[str, Any]]

    def __init__(self, name: str, args: ChaosExperimentsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("chaos-lab:experiments:ChaosExperiments", name, None, opts)
        declared = unless_halted(self, args.halted, args.experiments, "chaos object")
        summary: dict[str, Any] = {}
        for experiment in declared:
            manifest = experiment.manifest()
            k8s.apiextensions.CustomResource(
                f"{name}-{experiment.name}",
                api_version=manifest["apiVersion"],
                kind=manifest["kind"],
                metadata=manifest["metadata"],
                spec=manifest["spec"],
                opts=pulumi.ResourceOptions(
                    parent=self,
                    depends_on=list(args.depends_on),
                    delete_before_replace=True,
                    replace_on_changes=REPLACE_ON_CHANGES,
                    custom_timeouts=pulumi.CustomTimeouts(delete=DELETE_TIMEOUT),
                ),
            )
            description = experiment.describe(args.workloads)
            for warning in description.warnings:
                pulumi.log.warn(f"{experiment.name}: {warning}", resource=self)
            summary[experiment.name] = description.to_dict()
        self.summary = pulumi.Output.from_input({"halted": args.halted, "enabled": summary})
        self.register_outputs({"summary": self.summary})
