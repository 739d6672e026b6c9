"""Composition: the stack's config in, the lab's components and stack outputs out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
from pulumi.runtime import config as runtime_config

from components.cluster import EksCluster, EksClusterArgs
from components.network import Network, NetworkArgs
from stacks.aws_facts import support_tier
from stacks.config import NAMESPACE, TOP_LEVEL_KEYS, CapacityType, LabConfig, NatGateways, parse_config
from experiments.errors import ConfigError
from stacks.cost import CostInputs, CostEstimate, estimate_hourly_cost

# With no NAT gateway the lab has no private subnets; with `single` exactly one gateway serves both zones.
NAT_GATEWAY_COUNT = {NatGateways.NONE: 0, NatGateways.SINGLE: 1}


def _configured_keys() -> set[str]:
    """Every `chaos-lab:` key the stack sets, so a misspelt key is reported instead of silently ignored.

    The language host hands config over either as the runtime's config map or as PULUMI_CONFIG.
    """
    prefix = f"{NAMESPACE}:"
    everything = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
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
        return parse_config(raw, stack=pulumi.get_stack(), today=today or date.today())
    except ConfigError as error:
        raise pulumi.RunError(str(error)) from error


def cluster_name(config: LabConfig) -> str:
    return f"chaos-lab-{config.stack}"


def estimate_cost(config: LabConfig, today: date) -> CostEstimate:
    nat_gateways = NAT_GATEWAY_COUNT[config.network.nat_gateways]
    return estimate_hourly_cost(
        CostInputs(
            support_tier=support_tier(config.kubernetes_version, today),
            spot=config.nodes.capacity_type is CapacityType.SPOT,
            instance_types=config.nodes.instance_types,
            node_count=config.nodes.desired_size,
            disk_size_gib=config.nodes.disk_size_gib,
            nat_gateway_count=nat_gateways,
            nodes_have_public_ips=nat_gateways == 0,
        )
    )


@dataclass
class Lab:
    """What later components build on: the Kubernetes provider of the cluster the lab runs in."""

    config: LabConfig
    kubernetes_provider: k8s.Provider


def _build_eks(config: LabConfig, today: date) -> k8s.Provider:
    name = cluster_name(config)
    network = Network("lab", NetworkArgs(cluster_name=name, private_nodes=config.network.nat_gateways is NatGateways.SINGLE))
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
        ),
    )
    pulumi.export("clusterName", cluster.cluster_name)
    pulumi.export("kubeconfig", cluster.kubeconfig)
    pulumi.export("region", pulumi.Config("aws").require("region"))
    pulumi.export("capacityType", config.nodes.capacity_type.value)
    pulumi.export("kubernetesVersion", config.kubernetes_version)
    pulumi.export("estimatedHourlyCost", estimate_cost(config, today).as_output())
    return cluster.kubernetes_provider


def _build_existing(config: LabConfig) -> k8s.Provider:
    # No kubeconfig argument: the provider reads the ambient kubeconfig (KUBECONFIG or ~/.kube/config).
    provider = k8s.Provider("existing-cluster", context=config.kubeconfig_context)
    pulumi.export("clusterName", config.kubeconfig_context or "current kubeconfig context")
    pulumi.export("estimatedHourlyCost", {"totalUsdPerHour": 0, "breakdownUsdPerHour": {}, "notes": ["existing cluster: the lab declares no AWS resources"]})
    return provider


def build_lab(config: LabConfig, today: date | None = None) -> Lab:
    for warning in config.warnings:
        pulumi.log.warn(warning)
    provider = _build_eks(config, today or date.today()) if config.on_aws else _build_existing(config)
    return Lab(config=config, kubernetes_provider=provider)
