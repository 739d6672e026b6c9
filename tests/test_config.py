"""The one typed config model: defaults, every check, one error listing every problem."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
import yaml

from chaoslab.config import aws_facts
from chaoslab.config.aws_facts import (
    EKS_VERSIONS,
    FACTS_AS_OF,
    MIN_STANDARD_SUPPORT_LEFT_DAYS,
    SupportTier,
    recommended_version,
)
from chaoslab.config.model import (
    DEFAULT_INSTANCE_TYPES,
    DEFAULT_KUBERNETES_VERSION,
    RESERVED_NAMESPACES,
    TOP_LEVEL_KEYS,
    AppConfig,
    CapacityType,
    ChaosMeshConfig,
    ClusterAccessConfig,
    ClusterProvider,
    LabConfig,
    NatGateways,
    NetworkConfig,
    NodesConfig,
    access_entry_key,
    kubernetes_version_step_problem,
    parse_config,
)
from chaoslab.config.zones import Zone, choose_zones
from chaoslab.experiments.errors import ConfigError
from pulumi_harness import PROJECT_DIR, ProgramFailed, cli_config, run_lab

NARROW_ENDPOINT = {"endpointPublicAccessCidrs": ["203.0.113.0/24"], "endpointPrivateAccess": True}


def parse(raw: dict, today: date = FACTS_AS_OF) -> LabConfig:
    return parse_config(raw, stack="test", today=today)


def problems_of(raw: dict) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        parse(raw)
    return raised.value.problems


def stack_raw(stack: str, overrides: dict | None = None) -> dict:
    """What the program reads for `stack`: the CLI's config map, chaos-lab keys only."""
    prefix = "chaos-lab:"
    return {
        key.removeprefix(prefix): value for key, value in cli_config(stack, overrides).items() if key.startswith(prefix)
    }


def test_defaults_are_the_write_ups_lab_made_current_and_cheap():
    config = parse({})
    assert config.cluster_provider is ClusterProvider.EKS
    assert config.nodes.capacity_type is CapacityType.SPOT
    assert "t3.medium" in config.nodes.instance_types and len(config.nodes.instance_types) > 1
    assert (config.nodes.desired_size, config.nodes.min_size, config.nodes.max_size) == (3, 2, 4)
    assert config.network.nat_gateways is NatGateways.NONE
    assert config.sandbox_namespace == "chaos-sandbox"
    assert config.experiments == () and config.halted is False
    assert config.max_experiment_duration_s == 600


def test_default_kubernetes_version_is_newest_with_three_months_of_standard_support():
    chosen = next(version for version in EKS_VERSIONS if version.minor == parse({}).kubernetes_version)
    assert (chosen.standard_support_ends - FACTS_AS_OF).days >= MIN_STANDARD_SUPPORT_LEFT_DAYS
    newer = [
        version
        for version in EKS_VERSIONS
        if aws_facts.version_key(version.minor) > aws_facts.version_key(chosen.minor)
    ]
    assert newer == [], "a newer version in the table should have been chosen"
    # 1.34 is the newest in standard support, but leaves it within days: not a version to build a lab on.
    assert aws_facts.support_tier("1.34", FACTS_AS_OF) is SupportTier.STANDARD
    assert chosen.minor != "1.34"


def test_recommended_version_moves_on_as_support_runs_out():
    last_good_day = next(v for v in EKS_VERSIONS if v.minor == "1.35").standard_support_ends - timedelta(
        days=MIN_STANDARD_SUPPORT_LEFT_DAYS
    )
    assert recommended_version(last_good_day) == "1.35"
    with pytest.raises(LookupError, match="refresh the table"):
        recommended_version(last_good_day + timedelta(days=1))


def test_pulumi_yaml_declares_every_key_with_the_models_defaults():
    declared = yaml.safe_load((PROJECT_DIR / "Pulumi.yaml").read_text())["config"]
    assert {key.removeprefix("chaos-lab:") for key in declared} == set(TOP_LEVEL_KEYS)
    for key, entry in declared.items():
        if "type" in entry:
            assert entry.get("description") and "default" in entry, f"{key} needs a description and a default"
    # Pulumi.yaml's defaults, read as the program reads them, give exactly the model's defaults.
    from_project_file = parse(stack_raw("kind", {"clusterProvider": "eks"}))
    assert from_project_file == parse({})


def test_dev_stack_file_gives_the_default_lab_in_us_east_1():
    assert cli_config("dev")["aws:region"] == "us-east-1"
    assert parse(stack_raw("dev")) == parse({})


def test_kind_stack_targets_an_existing_cluster_with_the_current_context():
    config = parse(stack_raw("kind"))
    assert config.cluster_provider is ClusterProvider.EXISTING and not config.on_aws
    assert config.kubeconfig_context is None
    assert parse(stack_raw("kind", {"kubeconfigContext": "kind-chaos"})).kubeconfig_context == "kind-chaos"


def test_object_keys_set_by_path_keep_the_defaults_of_the_fields_they_leave_out():
    config = parse(stack_raw("dev", {"nodes.capacityType": "ON_DEMAND", "network.natGateways": "single"}))
    assert config.nodes == NodesConfig(capacity_type=CapacityType.ON_DEMAND)
    assert config.network == NetworkConfig(nat_gateways=NatGateways.SINGLE)


def test_values_arrive_as_the_cli_sends_them():
    config = parse(
        {"halted": "true", "nodes": '{"desiredSize": "4", "maxSize": 4}', "chaosMesh": '{"controllerReplicas": 2}'}
    )
    assert config.halted is True
    assert config.nodes.desired_size == 4
    assert config.chaos_mesh == ChaosMeshConfig(controller_replicas=2)


def test_app_timeouts_and_replicas():
    config = parse({"app": {"backendReplicas": 5, "proxyReadTimeout": "3s", "redisTimeout": "750ms"}})
    assert config.app.backend_replicas == 5
    assert (config.app.timeouts.proxy_read_ms, config.app.timeouts.redis_ms) == (3000, 750)
    assert config.app.frontend_replicas == AppConfig().frontend_replicas


def test_experiments_are_parsed_against_the_fence():
    config = parse({"experiments": '{"basic-pod-kill": {"enabled": true}, "api-high-latency": {"enabled": false}}'})
    assert [experiment.name for experiment in config.experiments] == ["basic-pod-kill"]
    assert config.experiments[0].manifest()["metadata"]["namespace"] == "chaos-sandbox"


def test_replica_rule_follows_the_configured_app():
    # With one backend replica, killing a backend pod is an outage: the same rule as for Redis.
    problems = problems_of({"app": {"backendReplicas": 1}, "experiments": {"basic-pod-kill": {"enabled": True}}})
    assert (
        len(problems) == 1 and "experiments.basic-pod-kill.app" in problems[0] and "allowSingleReplica" in problems[0]
    )


@pytest.mark.parametrize(
    ("raw", "key", "accepted"),
    [
        ({"nodes": {"minSize": 5, "maxSize": 4}}, "nodes.minSize", "at most nodes.maxSize (4)"),
        ({"nodes": {"desiredSize": 1}}, "nodes.desiredSize", "between nodes.minSize (2) and nodes.maxSize (4)"),
        ({"nodes": {"desiredSize": 5}}, "nodes.desiredSize", "between nodes.minSize (2) and nodes.maxSize (4)"),
        ({"nodes": {"capacityType": "CHEAP"}}, "nodes.capacityType", "one of SPOT, ON_DEMAND"),
        ({"nodes": {"instanceTypes": []}}, "nodes.instanceTypes", "a non-empty list"),
        ({"kubernetesVersion": "1.29"}, "kubernetesVersion", "past the end of EKS extended support"),
        ({"kubernetesVersion": "1.32"}, "kubernetesVersion", "extended support ends on 2027-03-23"),
        ({"kubernetesVersion": "latest"}, "kubernetesVersion", "a Kubernetes minor version such as 1.35"),
        ({"sandboxNamespace": "kube-system"}, "sandboxNamespace", "a namespace of its own"),
        ({"sandboxNamespace": "default"}, "sandboxNamespace", "a namespace of its own"),
        ({"sandboxNamespace": "chaos-mesh"}, "sandboxNamespace", "a namespace of its own"),
        ({"sandboxNamespace": "Chaos_Sandbox"}, "sandboxNamespace", "a DNS label"),
        ({"clusterProvider": "gke"}, "clusterProvider", "one of eks, existing"),
        ({"nodes": {"spotPrice": "0.01"}}, "nodes.spotPrice", "unknown key; known keys are capacityType"),
        ({"network": {"natGateways": "per-az"}}, "network.natGateways", "one of none, single"),
        ({"halted": "yes"}, "halted", "true or false"),
        ({"maxExperimentDuration": "forever"}, "maxExperimentDuration", "a duration from 1s to 1h"),
        ({"maxExperimentDuration": "2h"}, "maxExperimentDuration", "a duration from 1s to 1h"),
        ({"maxExperimentDuration": "500ms"}, "maxExperimentDuration", "a duration from 1s to 1h"),
        ({"clusterAdminArns": ["ops"]}, "clusterAdminArns", "a list of IAM role or user ARNs"),
        (
            {"clusterProvider": "existing", "clusterAdminArns": ["arn:aws:iam::123456789012:role/ops"]},
            "clusterAdminArns",
            "only with clusterProvider: eks",
        ),
        ({"app": {"proxyReadTimeout": "1s"}}, "app.proxyReadTimeout", "longer than app.redisTimeout (1s)"),
        ({"kubeconfigContext": "kind-chaos"}, "kubeconfigContext", "only with clusterProvider: existing"),
        ({"halt": "true"}, "halt", "unknown key; known keys are clusterProvider"),
    ],
)
def test_bad_input_names_the_key_and_what_is_accepted(raw, key, accepted):
    problems = problems_of(raw)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"chaos-lab:{key}: ") and accepted in problems[0], problems[0]


def test_every_problem_is_reported_at_once():
    raw = {
        "nodes": {"minSize": 5, "maxSize": 4, "capacityType": "CHEAP", "instanceTypes": [], "bogus": 1},
        "kubernetesVersion": "latest",
        "sandboxNamespace": "kube-system",
        "clusterProvider": "gke",
        "experiments": {"no-such-experiment": {"enabled": True}},
    }
    problems = problems_of(raw)
    keys = [problem.split(": ", 1)[0].removeprefix("chaos-lab:") for problem in problems]
    assert sorted(keys) == sorted(
        [
            "nodes.minSize",
            "nodes.capacityType",
            "nodes.instanceTypes",
            "nodes.bogus",
            "kubernetesVersion",
            "sandboxNamespace",
            "clusterProvider",
            "experiments.no-such-experiment",
        ]
    )
    message = str(ConfigError(problems))
    assert message.startswith(f"invalid chaos-lab configuration ({len(problems)} problem(s))")


def test_reserved_namespaces_include_the_control_planes():
    assert {"kube-system", "default", "chaos-mesh"} <= set(RESERVED_NAMESPACES)


def test_version_warnings_are_not_errors():
    assert parse({"kubernetesVersion": "1.34", "cluster": NARROW_ENDPOINT}).warnings == (
        "Kubernetes 1.34 leaves EKS standard support on 2026-12-02: plan the upgrade",
    )
    assert "extended support" in parse({"kubernetesVersion": "1.33"}).warnings[0]
    assert parse({"clusterProvider": "existing", "kubernetesVersion": "1.33"}).warnings == ()


def test_default_instance_types_have_prices_on_file():
    assert set(DEFAULT_INSTANCE_TYPES) <= set(aws_facts.PRICES.on_demand_per_hour)


def test_cluster_admins_are_read_in_order():
    arns = ["arn:aws:iam::123456789012:role/ops", "arn:aws:iam::123456789012:user/alice"]
    assert parse({"clusterAdminArns": json.dumps(arns)}).cluster_admin_arns == tuple(arns)
    assert [access_entry_key(arn) for arn in arns] == ["role-ops", "user-alice"]


def test_an_admin_listed_twice_is_refused_not_silently_dropped():
    arn = "arn:aws:iam::123456789012:role/ops"
    [problem] = problems_of({"clusterAdminArns": json.dumps([arn, arn])})
    assert problem == f"chaos-lab:clusterAdminArns: got {[arn]!r}; accepted each ARN once"


@pytest.mark.parametrize(
    "arns",
    [
        ["arn:aws:iam::123456789012:role/ops", "arn:aws:iam::210987654321:role/ops"],  # same role, two accounts
        ["arn:aws:iam::123456789012:role/team/ops", "arn:aws:iam::123456789012:role/team-ops"],  # path vs name
    ],
)
def test_distinct_admins_that_would_share_an_access_entry_are_refused(arns):
    """Two ARNs mapping to one access-entry key would merge into one entry and lose an admin."""
    [problem] = problems_of({"clusterAdminArns": json.dumps(arns)})
    assert problem.startswith(
        f"chaos-lab:clusterAdminArns: got {arns!r}; accepted ARNs with distinct role or user paths"
    )
    assert repr(access_entry_key(arns[0])) in problem


@pytest.mark.parametrize(
    "path",
    [
        "run/containerd/containerd.sock",
        "/run/../etc/shadow",
        "/run/./containerd.sock",
        "//run/containerd.sock",
        "/run/containerd/",
        "/run/container d.sock",
        "/run/containerd.sock\n",
        "/",
    ],
)
def test_the_socket_path_must_be_a_clean_absolute_path(path):
    [problem] = problems_of({"chaosMesh": json.dumps({"socketPath": path})})
    assert problem.startswith(f"chaos-lab:chaosMesh.socketPath: got {path!r}; accepted a clean absolute path")


@pytest.mark.parametrize(
    "path", ["/run/containerd/containerd.sock", "/run/k3s/containerd/containerd.sock", "/var/run/crio/crio.sock"]
)
def test_real_runtime_sockets_are_accepted(path):
    assert parse({"chaosMesh": json.dumps({"socketPath": path})}).chaos_mesh.socket_path == path


@pytest.mark.parametrize("stack", ["dev", "kind"])
def test_a_later_day_never_breaks_the_program(stack):
    """The program passes today's date; the default must not depend on it, only the warnings."""
    long_after = aws_facts.EKS_VERSIONS[-1].extended_support_ends + timedelta(days=1)
    config = parse_config(stack_raw(stack), stack=stack, today=long_after)
    assert config.kubernetes_version == DEFAULT_KUBERNETES_VERSION
    version_warnings = [warning for warning in config.warnings if warning.startswith("Kubernetes")]
    assert version_warnings == (
        []
        if stack == "kind"
        else [f"Kubernetes {DEFAULT_KUBERNETES_VERSION} is past the end of EKS extended support: upgrade it"]
    )


def test_the_public_endpoint_stays_open_by_default_with_a_warning():
    config = parse({})
    assert config.cluster == ClusterAccessConfig(
        endpoint_public_access_cidrs=("0.0.0.0/0",), endpoint_private_access=False
    )
    assert any("chaos-lab:cluster.endpointPublicAccessCidrs" in warning for warning in config.warnings)
    narrowed = parse({"cluster": json.dumps(NARROW_ENDPOINT)})
    assert narrowed.cluster == ClusterAccessConfig(("203.0.113.0/24",), True)
    assert not any("endpointPublicAccessCidrs" in warning for warning in narrowed.warnings)
    assert parse({"clusterProvider": "existing"}).warnings == ()


@pytest.mark.parametrize(
    ("cluster", "key", "accepted"),
    [
        (
            {"endpointPublicAccessCidrs": ["203.0.113.0/33"], "endpointPrivateAccess": True},
            "cluster.endpointPublicAccessCidrs",
            "network CIDRs",
        ),
        (
            {"endpointPublicAccessCidrs": ["203.0.113.7/24"], "endpointPrivateAccess": True},
            "cluster.endpointPublicAccessCidrs",
            "no host bits",
        ),
        (
            {"endpointPublicAccessCidrs": ["203.0.113.7"], "endpointPrivateAccess": True},
            "cluster.endpointPublicAccessCidrs",
            "network CIDRs",
        ),
        (
            {"endpointPublicAccessCidrs": [], "endpointPrivateAccess": True},
            "cluster.endpointPublicAccessCidrs",
            "a non-empty list",
        ),
        (
            {"endpointPublicAccessCidrs": "203.0.113.0/24", "endpointPrivateAccess": True},
            "cluster.endpointPublicAccessCidrs",
            "a non-empty list",
        ),
        (
            {"endpointPublicAccessCidrs": ["203.0.113.0/24", "203.0.113.0/24"], "endpointPrivateAccess": True},
            "cluster.endpointPublicAccessCidrs",
            "each CIDR once",
        ),
        (
            {"endpointPublicAccessCidrs": ["203.0.113.0/24"]},
            "cluster.endpointPublicAccessCidrs",
            "only with cluster.endpointPrivateAccess: true",
        ),
        ({"endpointPrivateAccess": "sometimes"}, "cluster.endpointPrivateAccess", "true or false"),
        ({"publicAccess": False}, "cluster.publicAccess", "unknown key"),
    ],
)
def test_bad_endpoint_access_names_the_key(cluster, key, accepted):
    [problem] = problems_of({"cluster": json.dumps(cluster)})
    assert problem.startswith(f"chaos-lab:{key}: ") and accepted in problem, problem


def test_endpoint_access_is_an_eks_setting():
    [problem] = problems_of({"clusterProvider": "existing", "cluster": NARROW_ENDPOINT})
    assert problem.startswith("chaos-lab:cluster: ") and "only with clusterProvider: eks" in problem


@pytest.mark.parametrize(
    ("deployed", "requested", "problem"),
    [
        (None, "1.35", None),
        ("1.34", "1.34", None),
        ("1.34", "1.35", None),
        (
            "1.33",
            "1.35",
            "accepted 1.33 (no change) or 1.34: the cluster runs 1.33 and EKS upgrades one minor version at a time",
        ),
        (
            "1.35",
            "1.34",
            "accepted 1.35 (no change) or 1.36: the cluster runs 1.35 and EKS cannot downgrade a control plane",
        ),
    ],
)
def test_kubernetes_version_moves_one_minor_version_up_at_a_time(deployed, requested, problem):
    found = kubernetes_version_step_problem(deployed, requested)
    if problem is None:
        assert found is None
    else:
        assert found.startswith(f"chaos-lab:kubernetesVersion: got {requested!r}; ") and found.endswith(problem)


def test_zones_are_chosen_by_id_lowest_first_and_kept_once_the_cluster_runs():
    zones = [
        Zone("us-east-1a", "use1-az4"),
        Zone("us-east-1b", "use1-az2"),
        Zone("us-east-1c", "use1-az3"),
        Zone("us-east-1d", "use1-az1"),
    ]
    everything = {zone.zone_id: {"t3.medium"} for zone in zones}
    assert [zone.zone_id for zone in choose_zones("us-east-1", zones, everything, ["t3.medium"])] == [
        "use1-az1",
        "use1-az2",
    ]
    # The same IDs elsewhere are not excluded: the table is per region.
    assert [zone.zone_id for zone in choose_zones("eu-west-1", zones, everything, ["t3.medium"])] == [
        "use1-az1",
        "use1-az2",
    ]
    assert [
        zone.zone_id for zone in choose_zones("us-east-1", zones, everything, ["t3.medium"], ("use1-az2", "use1-az4"))
    ] == [
        "use1-az2",
        "use1-az4",
    ]


def test_every_excluded_zone_in_the_table_is_a_zone_id_of_its_region():
    prefixes = {"us-east-1": "use1", "us-west-1": "usw1", "ca-central-1": "cac1"}
    for region, zone_ids in aws_facts.EKS_UNSUPPORTED_ZONE_IDS.items():
        assert all(zone_id.startswith(prefixes[region] + "-az") for zone_id in zone_ids), region


def test_a_zone_shortage_names_the_instance_types_and_every_excluded_zone():
    zones = [Zone("us-east-1a", "use1-az3"), Zone("us-east-1b", "use1-az2"), Zone("us-east-1c", "use1-az1")]
    offered = {"use1-az1": {"t3.medium"}, "use1-az2": {"t3.medium", "m7i.large"}, "use1-az3": {"m7i.large"}}
    with pytest.raises(ConfigError) as raised:
        choose_zones("us-east-1", zones, offered, ["m7i.large"])
    [problem] = raised.value.problems
    assert problem.startswith(
        "chaos-lab:nodes.instanceTypes: got ['m7i.large']; accepted instance types that us-east-1 offers in at least 2"
    )
    assert "Usable: use1-az2" in problem
    assert "use1-az3: EKS refuses cluster subnets there" in problem and "use1-az1: no m7i.large offered" in problem


def test_the_configuration_doc_names_the_zone_table_as_it_stands():
    configuration_doc = " ".join((PROJECT_DIR / "docs" / "configuration.md").read_text().split())
    excluded = [f"`{zone_id}`" for zone_ids in aws_facts.EKS_UNSUPPORTED_ZONE_IDS.values() for zone_id in zone_ids]
    assert f"{', '.join(excluded)} as of {aws_facts.ZONES_AS_OF}" in configuration_doc


def test_a_misspelt_top_level_key_stops_the_program_naming_it():
    """The program lists the stack's keys from PULUMI_CONFIG, as the language host passes them, not from Pulumi internals."""
    with pytest.raises(ProgramFailed) as failed:
        run_lab("dev", {"halt": "true"})
    assert "chaos-lab:halt: unknown key; known keys are clusterProvider" in str(failed.value), str(failed.value)
    assert failed.value.deployment.registrations == []
