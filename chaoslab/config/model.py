"""The one typed model of the stack's `chaos-lab:` configuration.

Every key, its default and its checks live here. `parse_config` turns the raw values (strings, as
the Pulumi CLI hands them to the program; objects as JSON) into a frozen `LabConfig`, or raises ONE
`ConfigError` that lists every problem, each naming the key and what is accepted, before any
resource is declared.
"""

from __future__ import annotations

import ipaddress
import json
import posixpath
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import date
from enum import Enum, StrEnum
from typing import Any, TypeVar

from chaoslab.config.aws_facts import (
    EKS_VERSIONS,
    FACTS_AS_OF,
    MIN_STANDARD_SUPPORT_LEFT_DAYS,
    OLDEST_ACCEPTED_VERSION,
    PRICES,
    SupportTier,
    recommended_version,
    support_tier,
    version_key,
)
from chaoslab.config.topology import Timeouts, frontend_url, workloads
from chaoslab.experiments import Experiment, Fence
from chaoslab.experiments.config import parse_all_experiments
from chaoslab.experiments.durations import format_duration, parse_duration
from chaoslab.experiments.errors import ConfigError
from chaoslab.experiments.fis import FisExperiment, FisLab
from chaoslab.experiments.values import is_dns_label

NAMESPACE = "chaos-lab"


class ClusterProvider(StrEnum):
    EKS = "eks"
    EXISTING = "existing"


class CapacityType(StrEnum):
    SPOT = "SPOT"
    ON_DEMAND = "ON_DEMAND"


class NatGateways(StrEnum):
    NONE = "none"
    SINGLE = "single"


class ContainerRuntime(StrEnum):
    CONTAINERD = "containerd"
    DOCKER = "docker"
    CRIO = "crio"


# Several 2 vCPU / 4 GiB types so spot capacity can come from more than one pool.
DEFAULT_INSTANCE_TYPES = ("t3.medium", "t3a.medium", "t2.medium")
# Chosen from the dated support table as of the day it was read, so the default never moves on its own:
# Pulumi.yaml declares the same value, and a warning says when its support is running out.
DEFAULT_KUBERNETES_VERSION = recommended_version(FACTS_AS_OF)
DEFAULT_SANDBOX_NAMESPACE = "chaos-sandbox"
# Namespaces chaos must never be fenced into: the control planes, the catch-all default, and the
# in-cluster prober's (components/steady_state.py), which must keep watching while chaos runs.
# The lab's own namespaces outside the sandbox: Chaos Mesh's control plane, and the in-cluster prober,
# which must stay out of chaos's reach.
CHAOS_MESH_NAMESPACE = "chaos-mesh"
STEADY_STATE_NAMESPACE = "steady-state"
RESERVED_NAMESPACES = (
    "kube-system",
    "kube-public",
    "kube-node-lease",
    "default",
    CHAOS_MESH_NAMESPACE,
    STEADY_STATE_NAMESPACE,
)
DEFAULT_MAX_EXPERIMENT_DURATION = "10m"
# A ceiling above an hour would defeat the point of a ceiling: game days are made of short runs.
LONGEST_MAX_EXPERIMENT_DURATION_S = 3600.0
# Chaos Mesh durations are whole seconds in practice; anything shorter cannot show an effect.
SHORTEST_MAX_EXPERIMENT_DURATION_S = 1.0
DEFAULT_CHAOS_MESH_VERSION = "2.8.3"
# Chart versions whose CRDs the program carries (components/crds/): the CRDs are applied by the stack, not by
# Helm, so a chart version is usable only with its own CRDs beside it. A test keeps this equal to the files.
CHAOS_MESH_CRD_VERSIONS = ("2.8.3",)
DEFAULT_CONTAINERD_SOCKET = "/run/containerd/containerd.sock"
# EKS's own default for a public endpoint: reachable from anywhere, guarded only by IAM authentication.
EVERYWHERE = ("0.0.0.0/0",)

_INSTANCE_TYPE = re.compile(r"^[a-z][a-z0-9-]*\.[a-z0-9]+$")
_MINOR_VERSION = re.compile(r"^\d+\.\d+$")
_IAM_PRINCIPAL_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:(role|user)/[\w+=,.@/-]+$")


@dataclass(frozen=True)
class NodesConfig:
    capacity_type: CapacityType = CapacityType.SPOT
    instance_types: tuple[str, ...] = DEFAULT_INSTANCE_TYPES
    # The write-up's eksctl numbers: --nodes 3 --nodes-min 2 --nodes-max 4.
    desired_size: int = 3
    min_size: int = 2
    max_size: int = 4
    disk_size_gib: int = 20


@dataclass(frozen=True)
class ClusterAccessConfig:
    # Who may reach the public API endpoint; EKS still authenticates every request with IAM.
    endpoint_public_access_cidrs: tuple[str, ...] = EVERYWHERE
    # The private endpoint lets nodes and pods reach the API inside the VPC, whatever the CIDRs say.
    endpoint_private_access: bool = False


@dataclass(frozen=True)
class NetworkConfig:
    nat_gateways: NatGateways = NatGateways.NONE


@dataclass(frozen=True)
class ChaosMeshConfig:
    version: str = DEFAULT_CHAOS_MESH_VERSION
    runtime: ContainerRuntime = ContainerRuntime.CONTAINERD
    socket_path: str = DEFAULT_CONTAINERD_SOCKET
    # One replica is plenty for a lab; the chart's three would take a third of a t3.medium's pods.
    controller_replicas: int = 1
    long_lived_dashboard_token: bool = False


@dataclass(frozen=True)
class AppConfig:
    # The write-up's replica counts: two frontends to watch load move, three backends to lose one of.
    frontend_replicas: int = 2
    backend_replicas: int = 3
    timeouts: Timeouts = Timeouts()


# The in-cluster prober. Its pod's CPU request (components/steady_state.py) is sized and benchmarked
# (benchmarks/prober_bench.py) for this rate at most.
MAX_STEADY_STATE_RATE = 50.0
# One request per 10-second interval at least, so every interval has a success rate.
MIN_STEADY_STATE_RATE = 0.1
# The write-up's curl loop gives each request 5 s (curl --max-time 5), and the demo app ends even its
# worst request (nginx read + connect + read) within 5 s; longer would only delay each interval's figures.
MAX_STEADY_STATE_TIMEOUT_S = 5.0
MIN_STEADY_STATE_TIMEOUT_S = 0.1
MAX_ALARM_EVALUATION_PERIODS = 30
_URL_PATH = re.compile(r"^/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$")
_PERCENT = re.compile(r"^(\d+(?:\.\d+)?)%$")


@dataclass(frozen=True)
class SteadyStateConfig:
    """The in-cluster prober and the alarms that say, from its figures, when the app is broken."""

    # On EKS by default; on an existing cluster off by default, and when on it only serves Prometheus.
    enabled: bool = True
    rate: float = 10.0  # requests per second
    timeout_s: float = 5.0  # per request
    path: str = "/api/"  # on the frontend Service; /api/ goes through nginx and the backend to Redis
    # The hypotheses' own bounds (chaoslab/hypotheses.py): at most one request in a hundred may fail,
    # and a p95 above a second is an app users call broken.
    min_success_percent: float = 99.0
    max_p95_ms: float = 1000.0
    # "M out of N" 10-second periods: three in a row, so one slow interval is not an outage.
    evaluation_periods: int = 3
    datapoints_to_alarm: int = 3


@dataclass(frozen=True)
class LabConfig:
    stack: str
    cluster_provider: ClusterProvider = ClusterProvider.EKS
    kubernetes_version: str = DEFAULT_KUBERNETES_VERSION
    kubeconfig_context: str | None = None
    # Cluster-admin for these IAM roles or users too, not only for the identity that deploys (e.g. CI).
    cluster_admin_arns: tuple[str, ...] = ()
    cluster: ClusterAccessConfig = ClusterAccessConfig()
    nodes: NodesConfig = NodesConfig()
    network: NetworkConfig = NetworkConfig()
    sandbox_namespace: str = DEFAULT_SANDBOX_NAMESPACE
    chaos_mesh: ChaosMeshConfig = ChaosMeshConfig()
    app: AppConfig = AppConfig()
    # The enabled experiments, checked against the fence; empty when none is enabled.
    experiments: tuple[Experiment, ...] = ()
    # The enabled experiments AWS FIS runs: its own entries, and Chaos Mesh entries with `engine: fis`.
    fis_experiments: tuple[FisExperiment, ...] = ()
    halted: bool = False
    max_experiment_duration_s: float = parse_duration(DEFAULT_MAX_EXPERIMENT_DURATION)
    steady_state: SteadyStateConfig = SteadyStateConfig()
    # Things worth saying at `pulumi up` that are not errors (a version nearing the end of its support).
    warnings: tuple[str, ...] = ()

    @property
    def on_aws(self) -> bool:
        return self.cluster_provider is ClusterProvider.EKS


# Every top-level key the program reads; Pulumi.yaml declares exactly these.
TOP_LEVEL_KEYS = (
    "clusterProvider",
    "kubernetesVersion",
    "kubeconfigContext",
    "clusterAdminArns",
    "cluster",
    "nodes",
    "network",
    "sandboxNamespace",
    "chaosMesh",
    "app",
    "experiments",
    "halted",
    "maxExperimentDuration",
    "steadyState",
)

_E = TypeVar("_E", bound=Enum)
_T = TypeVar("_T")


class _Problems:
    """Collects every problem so the user fixes them all in one round."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, key: str, got: Any, accepted: str) -> None:
        self.items.append(f"chaos-lab:{key}: got {got!r}; accepted {accepted}")

    def unknown(self, key: str, known: tuple[str, ...]) -> None:
        self.items.append(f"chaos-lab:{key}: unknown key; known keys are {', '.join(known)}")


def _enum(problems: _Problems, key: str, raw: Any, enum: type[_E], default: _E) -> _E:
    if raw is None:
        return default
    for member in enum:
        if raw == member.value:
            return member
    problems.add(key, raw, "one of " + ", ".join(member.value for member in enum))
    return default


def _int(problems: _Problems, key: str, raw: Any, default: int, minimum: int, maximum: int) -> int:
    if raw is None:
        return default
    value: int | None = None
    if isinstance(raw, int) and not isinstance(raw, bool):
        value = raw
    elif isinstance(raw, str) and raw.strip().lstrip("-").isdigit():
        value = int(raw)
    if value is None or not minimum <= value <= maximum:
        problems.add(key, raw, f"a whole number from {minimum} to {maximum}")
        return default
    return value


def _bool(problems: _Problems, key: str, raw: Any, default: bool) -> bool:
    if raw is None:
        return default
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    problems.add(key, raw, "true or false")
    return default


def _string(problems: _Problems, key: str, raw: Any, default: _T, check: Callable[[str], str | None]) -> str | _T:
    """`check` returns None when the value is fine, else the sentence of what is accepted."""
    if raw is None:
        return default
    if not isinstance(raw, str):
        problems.add(key, raw, "a string")
        return default
    accepted = check(raw)
    if accepted is not None:
        problems.add(key, raw, accepted)
        return default
    return raw


def decode_value(raw: Any) -> Any:
    """Object-valued keys reach the program as JSON text; anything that is not JSON stays as it came."""
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            return raw
    return raw


def _object(problems: _Problems, key: str, raw: Any, fields: tuple[str, ...]) -> dict[str, Any]:
    """Decode an object-valued key; unknown fields are problems, not silently ignored."""
    if raw is None:
        return {}
    value = decode_value(raw)
    if not isinstance(value, dict):
        problems.add(key, raw, f"an object with keys {', '.join(fields)}")
        return {}
    for unknown in sorted(set(value) - set(fields)):
        problems.unknown(f"{key}.{unknown}", fields)
    return value


def _check_kubernetes_version(raw: str) -> str | None:
    if not _MINOR_VERSION.fullmatch(raw):
        return f"a Kubernetes minor version such as {DEFAULT_KUBERNETES_VERSION} ({OLDEST_ACCEPTED_VERSION} or newer)"
    if version_key(raw) >= version_key(OLDEST_ACCEPTED_VERSION):
        return None
    known = {version.minor: version for version in EKS_VERSIONS}.get(raw)
    why = (
        f"its EKS extended support ends on {known.extended_support_ends} and costs "
        f"${PRICES.control_plane_per_hour[SupportTier.EXTENDED]:.2f}/h instead of "
        f"${PRICES.control_plane_per_hour[SupportTier.STANDARD]:.2f}/h"
        if known and known.tier_on(PRICES.as_of) is SupportTier.EXTENDED
        else "it is past the end of EKS extended support, so EKS no longer creates or runs it"
    )
    return f"{OLDEST_ACCEPTED_VERSION} or newer: {why}"


def _check_sandbox_namespace(raw: str) -> str | None:
    if not is_dns_label(raw):
        return "a DNS label (lowercase letters, digits and '-', at most 63 characters)"
    if raw in RESERVED_NAMESPACES:
        return "a namespace of its own, not one of " + ", ".join(RESERVED_NAMESPACES)
    return None


def _check_chart_version(raw: str) -> str | None:
    if raw in CHAOS_MESH_CRD_VERSIONS:
        return None
    return (
        f"a chart version whose CRDs the lab carries: {', '.join(CHAOS_MESH_CRD_VERSIONS)} "
        "(add another one's CRDs to components/crds/ first, as components/crds/SOURCE.md says)"
    )


def _check_socket_path(raw: str) -> str | None:
    """The chart mounts this host path into the privileged chaos-daemon: only a plain, normalised one."""
    clean = raw.startswith("/") and posixpath.normpath(raw) == raw and raw != "/" and not raw.startswith("//")
    printable = raw.isprintable() and not any(character.isspace() for character in raw)
    if clean and printable:
        return None
    return (
        "a clean absolute path (no '..', '.', '//', spaces or a trailing '/') such as /run/containerd/containerd.sock"
    )


def _parse_cluster_admins(problems: _Problems, raw: Any, cluster_provider: ClusterProvider) -> tuple[str, ...]:
    if raw is None:
        return ()
    arns = decode_value(raw)
    if not isinstance(arns, list) or not all(
        isinstance(arn, str) and _IAM_PRINCIPAL_ARN.fullmatch(arn) for arn in arns
    ):
        problems.add(
            "clusterAdminArns", raw, 'a list of IAM role or user ARNs such as ["arn:aws:iam::123456789012:role/ops"]'
        )
        return ()
    if arns and cluster_provider is not ClusterProvider.EKS:
        problems.add(
            "clusterAdminArns", arns, "only with clusterProvider: eks (an existing cluster manages its own access)"
        )
    repeated = sorted({arn for arn in arns if arns.count(arn) > 1})
    if repeated:
        problems.add("clusterAdminArns", repeated, "each ARN once")
        return ()
    by_key: dict[str, list[str]] = {}
    for arn in arns:
        by_key.setdefault(access_entry_key(arn), []).append(arn)
    for key, clashing in by_key.items():
        if len(clashing) > 1:
            problems.add(
                "clusterAdminArns",
                clashing,
                f"ARNs with distinct role or user paths; these would share the access entry {key!r} and one would be lost",
            )
            return ()
    return tuple(arns)


def access_entry_key(principal_arn: str) -> str:
    """The name of a principal's EKS access entry in the stack: its role or user path, '/' as '-'.

    Stable across reordering and across adding or removing other admins, so none of them is replaced.
    """
    return principal_arn.split(":", 5)[5].replace("/", "-")


def _parse_nodes(problems: _Problems, raw: Any) -> NodesConfig:
    defaults = NodesConfig()
    fields = ("capacityType", "instanceTypes", "desiredSize", "minSize", "maxSize", "diskSizeGiB")
    values = _object(problems, "nodes", raw, fields)
    instance_types = values.get("instanceTypes", list(defaults.instance_types))
    if (
        not isinstance(instance_types, list)
        or not instance_types
        or not all(isinstance(name, str) and _INSTANCE_TYPE.fullmatch(name) for name in instance_types)
        or len(set(instance_types)) != len(instance_types)
    ):
        problems.add(
            "nodes.instanceTypes",
            instance_types,
            'a non-empty list of distinct EC2 instance types such as ["t3.medium", "t3a.medium"]',
        )
        instance_types = list(defaults.instance_types)
    min_size = _int(problems, "nodes.minSize", values.get("minSize"), defaults.min_size, 0, 100)
    max_size = _int(problems, "nodes.maxSize", values.get("maxSize"), defaults.max_size, 1, 100)
    desired_size = _int(problems, "nodes.desiredSize", values.get("desiredSize"), defaults.desired_size, 0, 100)
    if min_size > max_size:
        problems.add("nodes.minSize", min_size, f"at most nodes.maxSize ({max_size})")
    elif not min_size <= desired_size <= max_size:
        problems.add(
            "nodes.desiredSize", desired_size, f"between nodes.minSize ({min_size}) and nodes.maxSize ({max_size})"
        )
    return NodesConfig(
        capacity_type=_enum(
            problems, "nodes.capacityType", values.get("capacityType"), CapacityType, defaults.capacity_type
        ),
        instance_types=tuple(instance_types),
        desired_size=desired_size,
        min_size=min_size,
        max_size=max_size,
        disk_size_gib=_int(problems, "nodes.diskSizeGiB", values.get("diskSizeGiB"), defaults.disk_size_gib, 20, 200),
    )


def _parse_cluster_access(problems: _Problems, raw: Any, cluster_provider: ClusterProvider) -> ClusterAccessConfig:
    defaults = ClusterAccessConfig()
    values = _object(problems, "cluster", raw, ("endpointPublicAccessCidrs", "endpointPrivateAccess"))
    private_access = _bool(
        problems, "cluster.endpointPrivateAccess", values.get("endpointPrivateAccess"), defaults.endpoint_private_access
    )
    cidrs = values.get("endpointPublicAccessCidrs", list(defaults.endpoint_public_access_cidrs))
    key = "cluster.endpointPublicAccessCidrs"
    if (
        not isinstance(cidrs, list)
        or not cidrs
        or not all(isinstance(cidr, str) and _is_network_cidr(cidr) for cidr in cidrs)
    ):
        problems.add(key, cidrs, 'a non-empty list of network CIDRs with no host bits set, such as ["203.0.113.0/24"]')
        return ClusterAccessConfig(endpoint_private_access=private_access)
    if len(set(cidrs)) != len(cidrs):
        problems.add(key, cidrs, "each CIDR once")
    elif tuple(cidrs) != EVERYWHERE and not private_access:
        # Nodes reach the API from addresses the stack creates (public IPs, the NAT gateway's), which no
        # list written beforehand can name: without the private endpoint they could not join the cluster.
        problems.add(
            key,
            cidrs,
            "a restricted list only with cluster.endpointPrivateAccess: true, so the nodes reach the API inside the VPC",
        )
    access = ClusterAccessConfig(endpoint_public_access_cidrs=tuple(cidrs), endpoint_private_access=private_access)
    # Pulumi.yaml declares the defaults for every stack, so only a changed value is a mistake here.
    if access != defaults and cluster_provider is not ClusterProvider.EKS:
        problems.add("cluster", values, "only with clusterProvider: eks (an existing cluster manages its own endpoint)")
    return access


def _is_network_cidr(text: str) -> bool:
    try:
        ipaddress.ip_network(text, strict=True)
    except ValueError:
        return False
    return "/" in text


def kubernetes_version_step_problem(deployed: str | None, requested: str) -> str | None:
    """Why EKS would refuse going from the running control plane's version to `requested`, if it would.

    EKS upgrades one minor version at a time and never downgrades. `deployed` is None before the
    cluster exists, when any accepted version can be created.
    """
    if deployed is None or deployed == requested:
        return None
    major, minor = version_key(deployed)
    next_minor = f"{major}.{minor + 1}"
    if version_key(requested) < version_key(deployed):
        why = f"the cluster runs {deployed} and EKS cannot downgrade a control plane"
    elif requested != next_minor:
        why = f"the cluster runs {deployed} and EKS upgrades one minor version at a time"
    else:
        return None
    return f"chaos-lab:kubernetesVersion: got {requested!r}; accepted {deployed} (no change) or {next_minor}: {why}"


def _parse_network(problems: _Problems, raw: Any) -> NetworkConfig:
    values = _object(problems, "network", raw, ("natGateways",))
    return NetworkConfig(
        nat_gateways=_enum(
            problems, "network.natGateways", values.get("natGateways"), NatGateways, NetworkConfig().nat_gateways
        )
    )


def _parse_chaos_mesh(problems: _Problems, raw: Any) -> ChaosMeshConfig:
    defaults = ChaosMeshConfig()
    fields = ("version", "runtime", "socketPath", "controllerReplicas", "longLivedDashboardToken")
    values = _object(problems, "chaosMesh", raw, fields)
    return ChaosMeshConfig(
        version=_string(problems, "chaosMesh.version", values.get("version"), defaults.version, _check_chart_version),
        runtime=_enum(problems, "chaosMesh.runtime", values.get("runtime"), ContainerRuntime, defaults.runtime),
        socket_path=_string(
            problems, "chaosMesh.socketPath", values.get("socketPath"), defaults.socket_path, _check_socket_path
        ),
        controller_replicas=_int(
            problems,
            "chaosMesh.controllerReplicas",
            values.get("controllerReplicas"),
            defaults.controller_replicas,
            1,
            5,
        ),
        long_lived_dashboard_token=_bool(
            problems,
            "chaosMesh.longLivedDashboardToken",
            values.get("longLivedDashboardToken"),
            defaults.long_lived_dashboard_token,
        ),
    )


def _milliseconds(problems: _Problems, key: str, raw: Any, default_ms: int) -> int:
    if raw is None:
        return default_ms
    try:
        milliseconds = round(parse_duration(raw) * 1000)
    except ValueError:
        milliseconds = 0
    if not 1 <= milliseconds <= 60_000:
        problems.add(key, raw, "a duration from 1ms to 60s, such as 500ms or 2s")
        return default_ms
    return milliseconds


def _parse_app(problems: _Problems, raw: Any) -> AppConfig:
    defaults = AppConfig()
    fields = ("frontendReplicas", "backendReplicas", "proxyConnectTimeout", "proxyReadTimeout", "redisTimeout")
    values = _object(problems, "app", raw, fields)
    connect_ms = _milliseconds(
        problems, "app.proxyConnectTimeout", values.get("proxyConnectTimeout"), defaults.timeouts.proxy_connect_ms
    )
    read_ms = _milliseconds(
        problems, "app.proxyReadTimeout", values.get("proxyReadTimeout"), defaults.timeouts.proxy_read_ms
    )
    redis_ms = _milliseconds(problems, "app.redisTimeout", values.get("redisTimeout"), defaults.timeouts.redis_ms)
    if read_ms <= redis_ms:
        problems.add(
            "app.proxyReadTimeout",
            values.get("proxyReadTimeout", format_duration(read_ms / 1000)),
            f"longer than app.redisTimeout ({format_duration(redis_ms / 1000)}), or nginx answers 504 before the backend's 503",
        )
        read_ms, redis_ms = defaults.timeouts.proxy_read_ms, defaults.timeouts.redis_ms
    return AppConfig(
        frontend_replicas=_int(
            problems, "app.frontendReplicas", values.get("frontendReplicas"), defaults.frontend_replicas, 1, 10
        ),
        backend_replicas=_int(
            problems, "app.backendReplicas", values.get("backendReplicas"), defaults.backend_replicas, 1, 10
        ),
        timeouts=Timeouts(proxy_connect_ms=connect_ms, proxy_read_ms=read_ms, redis_ms=redis_ms),
    )


def _number(
    problems: _Problems, key: str, raw: Any, default: float, minimum: float, maximum: float, unit: str
) -> float:
    if raw is None:
        return default
    value: float | None = None
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        value = float(raw)
    elif isinstance(raw, str):
        try:
            value = float(raw)
        except ValueError:
            value = None
    if value is None or not minimum <= value <= maximum:
        problems.add(key, raw, f"a number from {minimum:g} to {maximum:g}{unit}")
        return default
    return value


def _seconds(problems: _Problems, key: str, raw: Any, default_s: float, minimum_s: float, maximum_s: float) -> float:
    if raw is None:
        return default_s
    try:
        seconds = parse_duration(raw)
    except (TypeError, ValueError):
        seconds = 0.0
    if not minimum_s <= seconds <= maximum_s:
        problems.add(
            key,
            raw,
            f"a duration from {format_duration(minimum_s)} to {format_duration(maximum_s)}, such as 2s or 500ms",
        )
        return default_s
    return seconds


def _percent(problems: _Problems, key: str, raw: Any, default: float) -> float:
    if raw is None:
        return default
    match = _PERCENT.fullmatch(raw) if isinstance(raw, str) else None
    if match is None or not 0 < float(match[1]) <= 100:
        problems.add(key, raw, "a percent above 0 and at most 100, such as 99%")
        return default
    return float(match[1])


def _check_url_path(raw: str) -> str | None:
    return None if _URL_PATH.fullmatch(raw) else "an absolute URL path without spaces, query or fragment, such as /api/"


_STEADY_STATE_FIELDS = (
    "enabled",
    "rate",
    "timeout",
    "path",
    "minSuccessRate",
    "maxP95Latency",
    "evaluationPeriods",
    "datapointsToAlarm",
)


def _parse_steady_state(problems: _Problems, raw: Any, cluster_provider: ClusterProvider) -> SteadyStateConfig:
    defaults = SteadyStateConfig()
    values = _object(problems, "steadyState", raw, _STEADY_STATE_FIELDS)
    timeout_s, max_p95_s = _steady_state_latency(problems, values, defaults)
    periods, datapoints = _alarm_evaluation(problems, values, defaults)
    return SteadyStateConfig(
        enabled=_bool(problems, "steadyState.enabled", values.get("enabled"), cluster_provider is ClusterProvider.EKS),
        rate=_number(
            problems,
            "steadyState.rate",
            values.get("rate"),
            defaults.rate,
            MIN_STEADY_STATE_RATE,
            MAX_STEADY_STATE_RATE,
            " per second",
        ),
        timeout_s=timeout_s,
        path=_string(problems, "steadyState.path", values.get("path"), defaults.path, _check_url_path),
        min_success_percent=_percent(
            problems, "steadyState.minSuccessRate", values.get("minSuccessRate"), defaults.min_success_percent
        ),
        max_p95_ms=max_p95_s * 1000,
        evaluation_periods=periods,
        datapoints_to_alarm=datapoints,
    )


def _steady_state_latency(
    problems: _Problems, values: Mapping[str, Any], defaults: SteadyStateConfig
) -> tuple[float, float]:
    """The prober's request timeout and the p95 alarm's threshold, in seconds: the threshold below the timeout."""
    timeout_s = _seconds(
        problems,
        "steadyState.timeout",
        values.get("timeout"),
        defaults.timeout_s,
        MIN_STEADY_STATE_TIMEOUT_S,
        MAX_STEADY_STATE_TIMEOUT_S,
    )
    max_p95_s = _seconds(
        problems, "steadyState.maxP95Latency", values.get("maxP95Latency"), defaults.max_p95_ms / 1000, 0.001, 60.0
    )
    if max_p95_s >= timeout_s:
        problems.add(
            "steadyState.maxP95Latency",
            values.get("maxP95Latency", format_duration(max_p95_s)),
            f"shorter than steadyState.timeout ({format_duration(timeout_s)}): no request's latency exceeds its timeout, so the alarm could never fire",
        )
    return timeout_s, max_p95_s


def _alarm_evaluation(problems: _Problems, values: Mapping[str, Any], defaults: SteadyStateConfig) -> tuple[int, int]:
    """The alarms' evaluation periods, and the datapoints among them that must breach: at most that many."""
    periods = _int(
        problems,
        "steadyState.evaluationPeriods",
        values.get("evaluationPeriods"),
        defaults.evaluation_periods,
        1,
        MAX_ALARM_EVALUATION_PERIODS,
    )
    datapoints = _int(
        problems,
        "steadyState.datapointsToAlarm",
        values.get("datapointsToAlarm"),
        min(defaults.datapoints_to_alarm, periods),
        1,
        periods,
    )
    return periods, datapoints


def _parse_experiments(
    problems: _Problems,
    raw: Any,
    *,
    sandbox_namespace: str,
    max_duration_s: float,
    app: AppConfig,
    fis_lab: FisLab | None,
) -> tuple[tuple[Experiment, ...], tuple[FisExperiment, ...]]:
    fence = Fence(
        namespace=sandbox_namespace,
        max_duration_s=max_duration_s,
        workloads=workloads(app.frontend_replicas, app.backend_replicas),
        probe_url=frontend_url(sandbox_namespace),
    )
    parsed = parse_all_experiments({} if raw is None else decode_value(raw), fence, fis_lab)
    problems.items.extend(f"chaos-lab:{problem}" for problem in parsed.problems)
    return tuple(parsed.chaos_mesh), tuple(parsed.fis)


def fis_lab(nodes: NodesConfig) -> FisLab:
    """What FIS entries act on in an EKS stack: its one managed node group, named once it is declared."""
    return FisLab(node_group="the node group", spot=nodes.capacity_type is CapacityType.SPOT, nodes=nodes.desired_size)


def _parse_max_duration(problems: _Problems, raw: Any) -> float:
    text = DEFAULT_MAX_EXPERIMENT_DURATION if raw is None else raw
    try:
        seconds = parse_duration(text)
    except ValueError:
        seconds = 0.0
    if not SHORTEST_MAX_EXPERIMENT_DURATION_S <= seconds <= LONGEST_MAX_EXPERIMENT_DURATION_S:
        problems.add("maxExperimentDuration", raw, "a duration from 1s to 1h, such as 10m or 90s")
        return parse_duration(DEFAULT_MAX_EXPERIMENT_DURATION)
    return seconds


def _version_warnings(version: str, today: date) -> tuple[str, ...]:
    tier = support_tier(version, today)
    known = {item.minor: item for item in EKS_VERSIONS}.get(version)
    if tier is SupportTier.ENDED:
        return (f"Kubernetes {version} is past the end of EKS extended support: upgrade it",)
    if tier is SupportTier.EXTENDED:
        return (f"Kubernetes {version} is in EKS extended support: the control plane costs 6x the standard rate",)
    if known and (known.standard_support_ends - today).days < MIN_STANDARD_SUPPORT_LEFT_DAYS:
        return (f"Kubernetes {version} leaves EKS standard support on {known.standard_support_ends}: plan the upgrade",)
    return ()


def _eks_warnings(version: str, access: ClusterAccessConfig, today: date) -> tuple[str, ...]:
    endpoint = (
        (
            "the cluster's public API endpoint accepts connections from anywhere (0.0.0.0/0); IAM still authenticates "
            "every request. Narrow it with chaos-lab:cluster.endpointPublicAccessCidrs and cluster.endpointPrivateAccess",
        )
        if EVERYWHERE[0] in access.endpoint_public_access_cidrs
        else ()
    )
    return _version_warnings(version, today) + endpoint


def lab_keys(stack_config: Mapping[str, Any]) -> dict[str, Any]:
    """The `chaos-lab:` values of a whole stack config (as `pulumi config --json` keys it), unprefixed.

    Other namespaces (`aws:region`, ...) belong to providers and are left out.
    """
    prefix = f"{NAMESPACE}:"
    return {key.removeprefix(prefix): value for key, value in stack_config.items() if key.startswith(prefix)}


def parse_config(raw: Mapping[str, Any], *, stack: str, today: date) -> LabConfig:
    """Build the typed config from raw `chaos-lab:` values keyed without the namespace.

    Raises ConfigError listing every problem at once.
    """
    problems = _Problems()
    for unknown in sorted(set(raw) - set(TOP_LEVEL_KEYS)):
        problems.unknown(unknown, TOP_LEVEL_KEYS)
    config = _parse_lab(problems, raw, _parse_cluster_choice(problems, raw, stack), today)
    if problems.items:
        raise ConfigError(problems.items)
    return config


def _parse_cluster_choice(problems: _Problems, raw: Mapping[str, Any], stack: str) -> LabConfig:
    """Which cluster the lab runs on, its Kubernetes version, and who reaches its API: what the rest depends on."""
    defaults = LabConfig(stack=stack)
    cluster_provider = _enum(
        problems, "clusterProvider", raw.get("clusterProvider"), ClusterProvider, defaults.cluster_provider
    )
    kubernetes_version = _string(
        problems,
        "kubernetesVersion",
        raw.get("kubernetesVersion"),
        defaults.kubernetes_version,
        _check_kubernetes_version,
    )
    return LabConfig(
        stack=stack,
        cluster_provider=cluster_provider,
        kubernetes_version=kubernetes_version,
        kubeconfig_context=_parse_kubeconfig_context(problems, raw.get("kubeconfigContext"), cluster_provider),
        cluster_admin_arns=_parse_cluster_admins(problems, raw.get("clusterAdminArns"), cluster_provider),
        cluster=_parse_cluster_access(problems, raw.get("cluster"), cluster_provider),
    )


def _parse_kubeconfig_context(problems: _Problems, raw: Any, cluster_provider: ClusterProvider) -> str | None:
    # An empty context (the Pulumi.yaml default) means the kubeconfig's current context.
    kubeconfig_context = raw or None
    if kubeconfig_context is not None and not isinstance(kubeconfig_context, str):
        problems.add("kubeconfigContext", kubeconfig_context, "a kubeconfig context name")
        return None
    if kubeconfig_context is not None and cluster_provider is not ClusterProvider.EXISTING:
        problems.add(
            "kubeconfigContext",
            kubeconfig_context,
            "only with clusterProvider: existing (an EKS stack builds its own kubeconfig)",
        )
    return kubeconfig_context


def _parse_lab(problems: _Problems, raw: Mapping[str, Any], cluster: LabConfig, today: date) -> LabConfig:
    """What the lab declares in and around that cluster: nodes, network, namespaces, Chaos Mesh, the app,
    the experiments and the steady-state prober."""
    defaults = LabConfig(stack=cluster.stack)
    sandbox_namespace = _string(
        problems, "sandboxNamespace", raw.get("sandboxNamespace"), defaults.sandbox_namespace, _check_sandbox_namespace
    )
    max_experiment_duration_s = _parse_max_duration(problems, raw.get("maxExperimentDuration"))
    app = _parse_app(problems, raw.get("app"))
    nodes = _parse_nodes(problems, raw.get("nodes"))
    experiments, fis_experiments = _parse_experiments(
        problems,
        raw.get("experiments"),
        sandbox_namespace=sandbox_namespace,
        max_duration_s=max_experiment_duration_s,
        app=app,
        fis_lab=fis_lab(nodes) if cluster.on_aws else None,
    )
    return replace(
        cluster,
        nodes=nodes,
        network=_parse_network(problems, raw.get("network")),
        sandbox_namespace=sandbox_namespace,
        chaos_mesh=_parse_chaos_mesh(problems, raw.get("chaosMesh")),
        app=app,
        experiments=experiments,
        fis_experiments=fis_experiments,
        halted=_bool(problems, "halted", raw.get("halted"), defaults.halted),
        max_experiment_duration_s=max_experiment_duration_s,
        steady_state=_parse_steady_state(problems, raw.get("steadyState"), cluster.cluster_provider),
        warnings=_eks_warnings(cluster.kubernetes_version, cluster.cluster, today) if cluster.on_aws else (),
    )
