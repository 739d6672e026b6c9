"""Composition: the stack's config in, the lab's components and stack outputs out."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from chaoslab.config import topology
from chaoslab.config.aws_facts import PRICES
from chaoslab.config.model import NAMESPACE, TOP_LEVEL_KEYS, LabConfig, NatGateways, fis_lab, parse_config
from chaoslab.experiments.errors import ConfigError
from components.chaos_experiments import ChaosExperiments, ChaosExperimentsArgs
from components.chaos_mesh import CONTROLLER_USER, ChaosMesh, ChaosMeshArgs
from components.chaos_mesh_crds import ChaosMeshCrds, ChaosMeshCrdsArgs
from components.cluster import NODE_GROUP_NAME_PREFIX, EksCluster, EksClusterArgs
from components.demo_app.component import DemoApp, DemoAppArgs
from components.fence import SandboxFence, SandboxFenceArgs
from components.fis import FisExperiments, FisExperimentsArgs, check_inputs, stop_conditions_problem
from components.network import Network, NetworkArgs
from components.steady_state import CloudWatchArgs, SteadyState, SteadyStateArgs
from stacks.cost import cost_inputs, estimate_hourly_cost
from stacks.preflight import preflight

CONFIG_ENV = "PULUMI_CONFIG"


def _configured_keys() -> set[str]:
    """Every `chaos-lab:` key the stack sets, so a misspelt key is reported instead of silently ignored.

    pulumi.Config reads a key but cannot list them. The Python language host hands the program the stack's
    whole config as PULUMI_CONFIG, one JSON object keyed `<namespace>:<key>` (pulumi/pulumi
    sdk/python/cmd/pulumi-language-python/main.go, Run), which is what `pulumi up`, `preview` and the
    Automation API's local workspaces run through.
    """
    prefix = f"{NAMESPACE}:"
    everything = json.loads(os.environ.get(CONFIG_ENV) or "{}")
    return {key.removeprefix(prefix) for key in everything if key.startswith(prefix)}


def load_config(today: date | None = None) -> LabConfig:
    """Read every `chaos-lab:` key once.

    Raises pulumi.RunError carrying the ConfigError's list of every problem: Pulumi prints it as a
    plain error, without a traceback, and declares nothing.
    """
    stack_config = pulumi.Config(NAMESPACE)
    keys = _configured_keys() | set(TOP_LEVEL_KEYS)
    raw: dict[str, Any] = {key: value for key in keys if (value := stack_config.get(key)) is not None}
    try:
        return parse_config(raw, stack=pulumi.get_stack(), today=today or datetime.now(UTC).date())
    except ConfigError as error:
        raise pulumi.RunError(str(error)) from error


def cluster_name(config: LabConfig) -> str:
    return f"chaos-lab-{config.stack}"


@dataclass
class Lab:
    config: LabConfig
    kubernetes_provider: k8s.Provider
    fence: SandboxFence
    chaos_mesh: ChaosMesh
    demo_app: DemoApp
    experiments: ChaosExperiments
    steady_state: SteadyState | None
    fis: FisExperiments | None  # None when no FIS entry is enabled


@dataclass
class AwsLab:
    """What the in-cluster half needs from the AWS half: the provider, and what FIS targets."""

    kubernetes_provider: k8s.Provider
    cluster: EksCluster
    network: Network
    cloudwatch: CloudWatchArgs


def steady_state_alarms_declared(config: LabConfig) -> bool:
    """Whether the stack declares the steady-state alarms: FIS's only stop conditions."""
    return config.on_aws and config.steady_state.enabled


def _zone_names_and_ids(network: Network) -> tuple[str, ...]:
    """The lab's zones as FIS's zone-outage may name them: by zone ID first (the network chose by ID), then by name."""
    return tuple(zone.zone_id for zone in network.zones) + tuple(zone.name for zone in network.zones)


def _build_fis(
    config: LabConfig, aws_lab: AwsLab, fence: SandboxFence, alarm_arns: Sequence[pulumi.Input[str]]
) -> FisExperiments:
    cluster = aws_lab.cluster
    after_cluster = pulumi.InvokeOutputOptions(depends_on=[cluster])
    eks_cluster = aws.eks.get_cluster_output(name=cluster_name(config), opts=after_cluster)
    args = FisExperimentsArgs(
        experiments=config.fis_experiments,
        stop_condition_alarm_arns=alarm_arns,
        stack=config.stack,
        lab=replace(
            fis_lab(config.nodes),
            node_group=NODE_GROUP_NAME_PREFIX.rstrip("-"),
            zones=_zone_names_and_ids(aws_lab.network),
        ),
        cluster_name=cluster_name(config),
        cluster_arn=eks_cluster.arn,
        vpc_id=aws_lab.network.vpc_id,
        sandbox_namespace=fence.namespace,
        price_per_action_minute=PRICES.fis_per_action_minute,
        halted=config.halted,
        depends_on=[cluster, fence],
    )
    if not config.halted:
        try:
            check_inputs(args)
        except ValueError as error:
            # Printed as a plain error, like a config problem; the FIS component raises the same on its own.
            # Only a zone outside the lab's gets here: the zones are known once the network is declared.
            raise pulumi.RunError(str(error)) from error
    return FisExperiments("fis", args, opts=pulumi.ResourceOptions(providers=[aws_lab.kubernetes_provider]))


def _build_eks(config: LabConfig, today: date) -> AwsLab:
    name = cluster_name(config)
    zones = preflight(config, name)
    network = Network(
        "lab",
        NetworkArgs(cluster_name=name, private_nodes=config.network.nat_gateways is NatGateways.SINGLE, zones=zones),
    )
    cluster = EksCluster(
        "lab",
        EksClusterArgs(
            cluster_name=name,
            kubernetes_version=config.kubernetes_version,
            vpc_id=network.vpc_id,
            public_subnet_ids=network.public_subnet_ids,
            private_subnet_ids=network.private_subnet_ids,
            node_subnet_ids=network.node_subnet_ids,
            capacity_type=config.nodes.capacity_type.value,
            instance_types=config.nodes.instance_types,
            desired_size=config.nodes.desired_size,
            min_size=config.nodes.min_size,
            max_size=config.nodes.max_size,
            disk_size_gib=config.nodes.disk_size_gib,
            admin_principal_arns=config.cluster_admin_arns,
            endpoint_public_access_cidrs=config.cluster.endpoint_public_access_cidrs,
            endpoint_private_access=config.cluster.endpoint_private_access,
        ),
    )
    pulumi.export("clusterName", cluster.cluster_name)
    pulumi.export("kubeconfig", cluster.kubeconfig)
    region = pulumi.Config("aws").require("region")
    pulumi.export("region", region)
    pulumi.export("capacityType", config.nodes.capacity_type.value)
    pulumi.export("kubernetesVersion", config.kubernetes_version)
    pulumi.export("estimatedHourlyCost", estimate_hourly_cost(cost_inputs(config, today)).as_output())
    return AwsLab(
        cluster.kubernetes_provider,
        cluster,
        network,
        CloudWatchArgs(region, cluster.oidc_provider_arn, cluster.oidc_issuer),
    )


def _build_existing(config: LabConfig) -> k8s.Provider:
    # No kubeconfig argument: the provider reads the ambient kubeconfig (KUBECONFIG or ~/.kube/config).
    provider = k8s.Provider("existing-cluster", context=config.kubeconfig_context)
    pulumi.export("clusterName", config.kubeconfig_context or "current kubeconfig context")
    pulumi.export(
        "estimatedHourlyCost",
        {
            "totalUsdPerHour": 0,
            "breakdownUsdPerHour": {},
            "notes": ["existing cluster: the lab declares no AWS resources"],
        },
    )
    return provider


def build_lab(config: LabConfig, today: date | None = None) -> Lab:
    for warning in config.warnings:
        pulumi.log.warn(warning)
    # Before any resource: FIS experiments nothing could stop are never declared, nor anything around them.
    problem = (
        None
        if config.halted or steady_state_alarms_declared(config)
        else stop_conditions_problem(config.fis_experiments, ())
    )
    if problem is not None:
        raise pulumi.RunError(problem)
    aws_lab = _build_eks(config, today or datetime.now(UTC).date()) if config.on_aws else None
    provider = aws_lab.kubernetes_provider if aws_lab is not None else _build_existing(config)
    # Everything from here on is plain Kubernetes, the same on EKS and on an existing cluster.
    in_cluster = pulumi.ResourceOptions(providers=[provider])
    fence = _build_fence(config, in_cluster)
    crds, chaos_mesh = _build_chaos_mesh(config, fence, in_cluster)
    demo_app = _build_demo_app(config, fence, in_cluster)
    experiments = ChaosExperiments(
        "chaos",
        ChaosExperimentsArgs(
            experiments=config.experiments,
            workloads=topology.workloads(config.app.frontend_replicas, config.app.backend_replicas),
            halted=config.halted,
            # The fence layers too, explicitly: the release already waits for them, but a chaos object must
            # never be created without the policy that judges it, whatever the release's own ordering.
            depends_on=[*fence.admission, crds, chaos_mesh.release, demo_app],
        ),
        opts=in_cluster,
    )
    steady_state = _build_steady_state(config, provider, aws_lab, demo_app) if config.steady_state.enabled else None
    _export_access(fence, chaos_mesh, demo_app)
    fis = _build_fis_if_enabled(config, aws_lab, fence, steady_state)
    _export_experiments(experiments, fis)
    return Lab(
        config=config,
        kubernetes_provider=provider,
        fence=fence,
        chaos_mesh=chaos_mesh,
        demo_app=demo_app,
        experiments=experiments,
        steady_state=steady_state,
        fis=fis,
    )


def _build_fence(config: LabConfig, in_cluster: pulumi.ResourceOptions) -> SandboxFence:
    return SandboxFence(
        "sandbox",
        SandboxFenceArgs(
            namespace=config.sandbox_namespace,
            max_experiment_duration_s=config.max_experiment_duration_s,
            pod_security_version=config.kubernetes_version,
            chaos_controller_user=CONTROLLER_USER,
            long_lived_manager_token=config.chaos_mesh.long_lived_dashboard_token,
        ),
        opts=in_cluster,
    )


def _build_chaos_mesh(
    config: LabConfig, fence: SandboxFence, in_cluster: pulumi.ResourceOptions
) -> tuple[ChaosMeshCrds, ChaosMesh]:
    """Chaos Mesh's CRDs, then its release; both only once the fence's admission policy is in place."""
    crds = ChaosMeshCrds(
        "chaos-mesh-crds",
        ChaosMeshCrdsArgs(chart_version=config.chaos_mesh.version, depends_on=fence.admission),
        opts=in_cluster,
    )
    chaos_mesh = ChaosMesh(
        "chaos-mesh",
        ChaosMeshArgs(
            chart_version=config.chaos_mesh.version,
            runtime=config.chaos_mesh.runtime.value,
            socket_path=config.chaos_mesh.socket_path,
            controller_replicas=config.chaos_mesh.controller_replicas,
            depends_on=[*fence.admission, crds],
        ),
        opts=in_cluster,
    )
    return crds, chaos_mesh


def _build_demo_app(config: LabConfig, fence: SandboxFence, in_cluster: pulumi.ResourceOptions) -> DemoApp:
    return DemoApp(
        "demo",
        DemoAppArgs(
            namespace=fence.namespace,
            frontend_replicas=config.app.frontend_replicas,
            backend_replicas=config.app.backend_replicas,
            timeouts=config.app.timeouts,
        ),
        opts=in_cluster,
    )


def _build_steady_state(
    config: LabConfig, provider: k8s.Provider, aws_lab: AwsLab | None, demo_app: DemoApp
) -> SteadyState:
    steady_state = SteadyState(
        "steady-state",
        SteadyStateArgs(
            stack=config.stack,
            sandbox_namespace=config.sandbox_namespace,
            settings=config.steady_state,
            kubernetes_version=config.kubernetes_version,
            cloudwatch=aws_lab.cloudwatch if aws_lab is not None else None,
        ),
        opts=pulumi.ResourceOptions(providers=[provider], depends_on=[demo_app]),
    )
    pulumi.export("steadyStateMetricsUrl", steady_state.metrics_url)
    if steady_state.alarm_arns is not None:
        pulumi.export("steadyStateAlarmArns", steady_state.alarm_arns)
        pulumi.export("steadyStateDashboardUrl", steady_state.dashboard_url)
    return steady_state


def _export_access(fence: SandboxFence, chaos_mesh: ChaosMesh, demo_app: DemoApp) -> None:
    """The outputs an operator reaches the lab by: the sandbox, the dashboard and its tokens, the app."""
    pulumi.export("sandboxNamespace", fence.namespace)
    pulumi.export("dashboardPortForwardCommand", chaos_mesh.dashboard_port_forward_command)
    pulumi.export("dashboardTokenCommand", fence.token_command)
    pulumi.export("viewerTokenCommand", fence.viewer_token_command)
    if fence.long_lived_token is not None:
        pulumi.export("dashboardLongLivedToken", fence.long_lived_token)
    pulumi.export("frontendPortForwardCommand", demo_app.port_forward_command)
    pulumi.export("probeUrl", demo_app.probe_url)


def _build_fis_if_enabled(
    config: LabConfig, aws_lab: AwsLab | None, fence: SandboxFence, steady_state: SteadyState | None
) -> FisExperiments | None:
    """FIS experiments, on AWS only and only with the steady-state alarms to stop them."""
    if aws_lab is None or not config.fis_experiments or steady_state is None or steady_state.alarm_arns is None:
        return None
    # The two metric alarms, not the composite: each names what broke in FIS's stop reason.
    alarm_arns = [steady_state.alarm_arns[key] for key in ("successRate", "p95Latency")]
    return _build_fis(config, aws_lab, fence, alarm_arns)


def _export_experiments(experiments: ChaosExperiments, fis: FisExperiments | None) -> None:
    if fis is None:
        pulumi.export("experiments", experiments.summary)
        return
    # One preview of everything enabled, whichever engine runs it; FIS entries carry their template IDs.
    pulumi.export(
        "experiments",
        pulumi.Output.all(experiments.summary, fis.summary).apply(
            lambda both: {**both[0], "enabled": {**both[0]["enabled"], **both[1]}}
        ),
    )
    pulumi.export("fisTemplateIds", fis.template_ids)
