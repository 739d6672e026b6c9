"""The dev stack's AWS side under mocks: VPC, spot EKS, IRSA, outputs. Config is loaded as the CLI loads it.

Not covered here (mocks cannot show it): what AWS does with these inputs, the inside of the remote
eks.Cluster and ManagedNodeGroup components, and real provider outputs (the mocks invent ARNs).
"""

from __future__ import annotations

import base64
import email
import json

import pytest

from chaoslab.config.model import DEFAULT_INSTANCE_TYPES, DEFAULT_KUBERNETES_VERSION
from chaoslab.config.zones import ZONE_COUNT
from components.cluster import (
    CLUSTER_ADMIN_POLICY_ARN,
    CNI_POLICY_ARN,
    IMDS_HOP_LIMIT,
    NETEM_USER_DATA,
    NODE_AMI_TYPE,
    NODE_GROUP_NAME_PREFIX,
    NODE_MANAGED_POLICY_ARNS,
)
from components.irsa import ROLE_ARN_ANNOTATION, STS_AUDIENCE, IrsaRole, IrsaRoleArgs
from components.network import ANYWHERE, INTERNAL_ELB_TAG, PUBLIC_ELB_TAG
from pulumi_harness import (
    FAKE_ACCOUNT,
    FAKE_OIDC_ISSUER,
    RARE_INSTANCE_TYPE,
    Deployment,
    FakeCluster,
    ProgramFailed,
    fake_addon_version,
    run_lab,
)


@pytest.fixture(scope="module")
def dev() -> Deployment:
    return run_lab("dev")


@pytest.fixture(scope="module")
def private_nodes() -> Deployment:
    return run_lab("dev", {"network.natGateways": "single"})


def test_components_have_typed_tokens_and_children_are_parented(dev: Deployment):
    components = {item.type for item in dev.registrations if not item.custom}
    assert {
        "chaos-lab:network:Network",
        "chaos-lab:cluster:EksCluster",
        "chaos-lab:irsa:IrsaRole",
    } <= components
    network = dev.one("chaos-lab:network:Network")
    cluster = dev.one("chaos-lab:cluster:EksCluster")
    for item in dev.of_type("aws:ec2/subnet:Subnet") + dev.of_type("aws:ec2/vpc:Vpc"):
        assert item.parent == network.urn, item.name
    for type_token in (
        "eks:index:Cluster",
        "eks:index:ManagedNodeGroup",
        "aws:eks/addon:Addon",
        "aws:ec2/launchTemplate:LaunchTemplate",
    ):
        assert dev.one(type_token).parent == cluster.urn, type_token
    for component in (network, cluster, *dev.of_type("chaos-lab:irsa:IrsaRole")):
        assert component.urn in dev.registered_outputs, f"{component.name} never called register_outputs"


def test_vpc_spans_two_zones_with_public_node_subnets_and_no_nat_by_default(dev: Deployment):
    subnets = dev.of_type("aws:ec2/subnet:Subnet")
    assert len({subnet.inputs["availabilityZoneId"] for subnet in subnets}) == ZONE_COUNT
    for subnet in subnets:
        assert subnet.inputs["mapPublicIpOnLaunch"] is True
        assert subnet.inputs["tags"][PUBLIC_ELB_TAG] == "1"
        assert subnet.inputs["tags"]["kubernetes.io/cluster/chaos-lab-dev"] == "shared"
    assert dev.of_type("aws:ec2/natGateway:NatGateway") == []
    assert dev.of_type("aws:ec2/eip:Eip") == []


def test_nothing_admits_traffic_from_the_internet(dev: Deployment):
    default_group = dev.one("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")
    assert default_group.inputs.get("ingress", []) == [] and default_group.inputs.get("egress", []) == []
    for rule in dev.of_type("aws:ec2/securityGroupRule:SecurityGroupRule") + dev.of_type(
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
    ):
        assert ANYWHERE not in json.dumps(rule.inputs), f"{rule.name} admits the internet"
    assert dev.of_type("aws:ec2/securityGroup:SecurityGroup") == []


def test_single_nat_gateway_puts_nodes_in_private_subnets(private_nodes: Deployment):
    assert len(private_nodes.of_type("aws:ec2/natGateway:NatGateway")) == 1
    private = [
        item for item in private_nodes.of_type("aws:ec2/subnet:Subnet") if INTERNAL_ELB_TAG in item.inputs["tags"]
    ]
    public = [item for item in private_nodes.of_type("aws:ec2/subnet:Subnet") if PUBLIC_ELB_TAG in item.inputs["tags"]]
    assert len(private) == len(public) == ZONE_COUNT
    assert all(item.inputs["mapPublicIpOnLaunch"] is False for item in private + public)
    node_group = private_nodes.one("eks:index:ManagedNodeGroup")
    assert sorted(node_group.inputs["subnetIds"]) == sorted(f"{item.name}-id" for item in private)
    routes = private_nodes.one("aws:ec2/routeTable:RouteTable", "lab-private").inputs["routes"]
    assert routes == [{"cidrBlock": ANYWHERE, "natGatewayId": "lab-nat-id"}]


def test_cluster_is_current_with_oidc_api_auth_and_no_default_node_group(dev: Deployment):
    cluster = dev.one("eks:index:Cluster").inputs
    assert cluster["name"] == "chaos-lab-dev"
    assert cluster["version"] == DEFAULT_KUBERNETES_VERSION
    assert cluster["createOidcProvider"] is True
    assert cluster["authenticationMode"] == "API"
    assert cluster["skipDefaultNodeGroup"] is True
    assert cluster["vpcId"] == "lab-vpc-id"
    # The deploying identity's cluster-admin comes from pulumi-eks's bootstrap; an explicit access entry
    # for it would be rejected as a duplicate (pulumi-eks#2373).
    assert cluster.get("accessEntries", {}) == {}
    # EKS's own CNI, adopted by the lab's add-on, rather than a second vpc-cni add-on from pulumi-eks.
    assert cluster["useDefaultVpcCni"] is True


def test_more_cluster_admins_get_access_entries_keyed_by_principal():
    admins = ["arn:aws:iam::123456789012:role/ops", "arn:aws:iam::123456789012:user/alice"]
    entries = run_lab("dev", {"clusterAdminArns": admins}).one("eks:index:Cluster").inputs["accessEntries"]
    assert sorted(entries) == ["role-ops", "user-alice"]
    for entry, arn in zip((entries["role-ops"], entries["user-alice"]), admins, strict=True):
        assert entry["principalArn"] == arn
        assert entry["accessPolicies"] == {
            "cluster-admin": {"policyArn": CLUSTER_ADMIN_POLICY_ARN, "accessScope": {"type": "cluster"}}
        }


def test_kubernetes_version_comes_from_config_for_the_control_plane_the_add_on_and_the_nodes():
    deployment = run_lab("dev", {"kubernetesVersion": "1.34"})
    assert deployment.one("eks:index:Cluster").inputs["version"] == "1.34"
    assert deployment.one("eks:index:ManagedNodeGroup").inputs["version"] == "1.34"
    assert deployment.one("aws:eks/addon:Addon").inputs["addonVersion"] == fake_addon_version("vpc-cni", "1.34")


def test_one_spot_node_group_on_al2023_with_the_write_ups_scaling(dev: Deployment):
    node_group = dev.one("eks:index:ManagedNodeGroup").inputs
    # A prefix, never a fixed name: a replacement group is created beside the old one (create-before-delete).
    assert "nodeGroupName" not in node_group
    assert node_group["nodeGroupNamePrefix"] == NODE_GROUP_NAME_PREFIX == "chaos-workers-"
    assert node_group["version"] == DEFAULT_KUBERNETES_VERSION
    assert node_group["capacityType"] == "SPOT"
    assert node_group["instanceTypes"] == list(DEFAULT_INSTANCE_TYPES)
    assert node_group["amiType"] == NODE_AMI_TYPE == "AL2023_x86_64_STANDARD"
    assert node_group["scalingConfig"] == {"desiredSize": 3, "minSize": 2, "maxSize": 4}
    assert node_group["launchTemplate"] == {"id": "lab-nodes-id", "version": "1"}


def test_capacity_type_and_scaling_come_from_config():
    node_group = run_lab(
        "dev", {"nodes.capacityType": "ON_DEMAND", "nodes.instanceTypes": ["t3a.medium"], "nodes.desiredSize": 2}
    ).one("eks:index:ManagedNodeGroup")
    assert node_group.inputs["capacityType"] == "ON_DEMAND"
    assert node_group.inputs["instanceTypes"] == ["t3a.medium"]
    assert node_group.inputs["scalingConfig"]["desiredSize"] == 2


def test_node_metadata_is_imdsv2_only_and_unreachable_from_pods(dev: Deployment):
    template = dev.one("aws:ec2/launchTemplate:LaunchTemplate").inputs
    assert template["metadataOptions"] == {
        "httpEndpoint": "enabled",
        "httpTokens": "required",
        "httpPutResponseHopLimit": IMDS_HOP_LIMIT,
    }
    assert IMDS_HOP_LIMIT == 1
    volume = template["blockDeviceMappings"][0]["ebs"]
    assert (volume["volumeSize"], volume["volumeType"], volume["encrypted"]) == (20, "gp3", "true")


def test_nodes_load_netem_for_network_chaos(dev: Deployment):
    user_data = base64.b64decode(dev.one("aws:ec2/launchTemplate:LaunchTemplate").inputs["userData"]).decode()
    assert user_data == NETEM_USER_DATA
    # EKS merges launch-template user data with its own only when it is MIME multipart.
    message = email.message_from_string(user_data)
    assert message.is_multipart()
    [script] = message.get_payload()
    assert script.get_content_type() == "text/x-shellscript"
    assert "modprobe sch_netem" in script.get_payload()


def test_node_role_holds_only_what_nodes_need_and_not_the_cni_policy(dev: Deployment):
    cluster = dev.one("chaos-lab:cluster:EksCluster")
    node_role = dev.one("aws:iam/role:Role", "lab-node-role")
    trust = json.loads(node_role.inputs["assumeRolePolicy"])
    assert trust["Statement"] == [
        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ]
    node_policies = [
        item.inputs["policyArn"]
        for item in dev.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
        if item.inputs["role"] == "lab-node-role" and item.parent == cluster.urn
    ]
    assert sorted(node_policies) == sorted(NODE_MANAGED_POLICY_ARNS)
    assert CNI_POLICY_ARN not in node_policies
    node_group = dev.one("eks:index:ManagedNodeGroup")
    # Without resource references (see pulumi_harness) a custom resource travels as its mock ID.
    assert node_group.inputs["nodeRole"] == f"{node_role.name}-id"


def test_vpc_cni_runs_under_its_own_irsa_role_before_nodes_join(dev: Deployment):
    cni_role = dev.one("chaos-lab:irsa:IrsaRole", "lab-vpc-cni")
    role = dev.one("aws:iam/role:Role", "lab-vpc-cni-role")
    assert role.parent == cni_role.urn
    addon = dev.one("aws:eks/addon:Addon")
    assert addon.inputs["addonName"] == "vpc-cni"
    assert addon.inputs["serviceAccountRoleArn"] == f"arn:aws:iam::{FAKE_ACCOUNT}:role/lab-vpc-cni-role"
    attachment = dev.one("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "lab-vpc-cni-AmazonEKS_CNI_Policy")
    assert attachment.inputs["policyArn"] == CNI_POLICY_ARN
    condition = json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]["Condition"]["StringEquals"]
    assert condition[f"{FAKE_OIDC_ISSUER}:sub"] == "system:serviceaccount:kube-system:aws-node"
    assert dev.one("eks:index:ManagedNodeGroup").dependencies.count(addon.urn) == 1


def test_kubernetes_provider_is_built_from_the_clusters_kubeconfig(dev: Deployment):
    provider = dev.one("pulumi:providers:kubernetes")
    assert json.loads(provider.inputs["kubeconfig"])["kind"] == "Config"
    # Every in-cluster resource goes through the provider, so this orders them all after the nodes on up
    # and before the nodes on destroy.
    assert dev.one("eks:index:ManagedNodeGroup").urn in provider.dependencies
    for resource in dev.registrations:
        if resource.type.startswith("kubernetes:") and resource.custom:
            assert resource.provider.startswith(provider.urn), f"{resource.name} does not use the cluster's provider"


def test_stack_outputs(dev: Deployment):
    assert dev.exports["clusterName"] == "chaos-lab-dev"
    assert dev.exports["region"] == "us-east-1"
    assert dev.exports["capacityType"] == "SPOT"
    assert "kubeconfig" in dev.secret_exports and json.loads(dev.exports["kubeconfig"])["kind"] == "Config"
    cost = dev.exports["estimatedHourlyCost"]
    assert cost["totalUsdPerHour"] == pytest.approx(sum(cost["breakdownUsdPerHour"].values()), abs=1e-3)
    assert {item.split(" ")[0] for item in cost["breakdownUsdPerHour"]} == {
        "controlPlane",
        "nodes",
        "natGateways",
        "publicIpv4",
        "nodeVolumes",
        "steadyState",
    }


def _irsa(statements=(), managed=()) -> Deployment:
    import pulumi

    from pulumi_harness import LabMocks, RecordingMonitor

    mocks = LabMocks()
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project="chaos-lab", stack="unit", preview=False, monitor=monitor)

    @pulumi.runtime.test
    def build():
        role = IrsaRole(
            "reader",
            IrsaRoleArgs(
                oidc_provider_arn="arn:aws:iam::1:oidc-provider/issuer.example/id/X",
                oidc_issuer="issuer.example/id/X",
                namespace="chaos-sandbox",
                service_account="metrics-reader",
                managed_policy_arns=managed,
                policy_statements=statements,
            ),
        )
        return pulumi.Output.all(role.role_arn, role.service_account_annotations)

    build()
    return Deployment(monitor.registrations, monitor.registered_outputs)


def test_irsa_trust_allows_only_one_service_account_of_this_cluster_for_sts():
    deployment = _irsa(statements=[{"Effect": "Allow", "Action": "cloudwatch:GetMetricData", "Resource": "*"}])
    statement = json.loads(deployment.one("aws:iam/role:Role").inputs["assumeRolePolicy"])["Statement"]
    assert statement == [
        {
            "Effect": "Allow",
            "Principal": {"Federated": "arn:aws:iam::1:oidc-provider/issuer.example/id/X"},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {
                "StringEquals": {
                    "issuer.example/id/X:sub": "system:serviceaccount:chaos-sandbox:metrics-reader",
                    "issuer.example/id/X:aud": STS_AUDIENCE,
                }
            },
        }
    ]
    inline = json.loads(deployment.one("aws:iam/rolePolicy:RolePolicy").inputs["policy"])
    assert inline["Statement"][0]["Action"] == "cloudwatch:GetMetricData"
    outputs = deployment.registered_outputs[deployment.one("chaos-lab:irsa:IrsaRole").urn]
    assert outputs["service_account_annotations"] == {ROLE_ARN_ANNOTATION: outputs["role_arn"]}


def test_irsa_with_managed_policies_attaches_each():
    deployment = _irsa(managed=("arn:aws:iam::aws:policy/CloudWatchReadOnlyAccess",))
    assert [
        item.inputs["policyArn"] for item in deployment.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    ] == ["arn:aws:iam::aws:policy/CloudWatchReadOnlyAccess"]
    assert deployment.of_type("aws:iam/rolePolicy:RolePolicy") == []


def test_irsa_without_any_policy_is_refused():
    with pytest.raises(Exception, match="needs managed policy ARNs or policy statements"):
        _irsa()


def test_an_upgrade_runs_control_plane_then_add_on_then_nodes(dev: Deployment):
    """Pulumi updates a resource only after everything it depends on: this chain is the upgrade order."""
    cluster = dev.one("eks:index:Cluster")
    addon = dev.one("aws:eks/addon:Addon")
    node_group = dev.one("eks:index:ManagedNodeGroup")
    assert cluster.urn in addon.dependencies
    assert addon.urn in node_group.dependencies
    assert cluster.urn not in {*dev.one("aws:ec2/vpc:Vpc").dependencies}


def test_subnets_sit_in_the_lowest_usable_zone_ids_with_a_cidr_per_zone(dev: Deployment):
    # use1-az1 lacks t2.medium in the fake account and EKS refuses use1-az3: az2 and az4 remain lowest.
    subnets = {
        item.inputs["availabilityZoneId"]: item.inputs["cidrBlock"] for item in dev.of_type("aws:ec2/subnet:Subnet")
    }
    assert subnets == {"use1-az2": "10.42.16.0/20", "use1-az4": "10.42.48.0/20"}
    assert all("availabilityZone" not in item.inputs for item in dev.of_type("aws:ec2/subnet:Subnet"))
    one_type = run_lab("dev", {"nodes.instanceTypes": ["t3.medium"]})
    assert sorted(item.inputs["availabilityZoneId"] for item in one_type.of_type("aws:ec2/subnet:Subnet")) == [
        "use1-az1",
        "use1-az2",
    ]


def test_private_subnets_take_the_same_zone_slot_in_the_upper_half(private_nodes: Deployment):
    private = {
        item.inputs["availabilityZoneId"]: item.inputs["cidrBlock"]
        for item in private_nodes.of_type("aws:ec2/subnet:Subnet")
        if INTERNAL_ELB_TAG in item.inputs["tags"]
    }
    assert private == {"use1-az2": "10.42.144.0/20", "use1-az4": "10.42.176.0/20"}


def test_a_running_cluster_keeps_its_zones():
    running = FakeCluster("chaos-lab-dev", DEFAULT_KUBERNETES_VERSION, ("use1-az4", "use1-az5"))
    deployment = run_lab("dev", running=running)
    assert sorted(item.inputs["availabilityZoneId"] for item in deployment.of_type("aws:ec2/subnet:Subnet")) == [
        "use1-az4",
        "use1-az5",
    ]


def test_instance_types_the_running_clusters_zones_lack_are_refused_before_anything_is_declared():
    running = FakeCluster("chaos-lab-dev", DEFAULT_KUBERNETES_VERSION, ("use1-az1", "use1-az2"))
    with pytest.raises(ProgramFailed) as failed:
        run_lab("dev", running=running)
    message = str(failed.value)
    assert "chaos-lab:nodes.instanceTypes: got ['t3.medium', 't3a.medium', 't2.medium']" in message
    assert "use1-az1: no t2.medium offered" in message and "EKS fixes when it creates a cluster" in message
    assert failed.value.deployment.registrations == []


def test_too_few_usable_zones_is_one_clear_error_before_anything_is_declared():
    with pytest.raises(ProgramFailed) as failed:
        run_lab("dev", {"nodes.instanceTypes": ["t3.medium", RARE_INSTANCE_TYPE]})
    problems = str(failed.value).splitlines()
    assert problems[0] == "invalid chaos-lab configuration (1 problem(s)):"
    assert problems[1].startswith(
        f"  - chaos-lab:nodes.instanceTypes: got ['t3.medium', '{RARE_INSTANCE_TYPE}']; accepted instance types"
    )
    assert (
        "Usable: use1-az4; excluded: " in problems[1] and "use1-az3: EKS refuses cluster subnets there" in problems[1]
    )
    assert failed.value.deployment.registrations == []


@pytest.mark.parametrize(("running", "requested"), [("1.33", "1.35"), ("1.35", "1.34")])
def test_an_unsafe_version_jump_is_refused_before_anything_is_declared(running, requested):
    cluster = FakeCluster("chaos-lab-dev", running, ("use1-az2", "use1-az4"))
    with pytest.raises(ProgramFailed) as failed:
        run_lab("dev", {"kubernetesVersion": requested}, running=cluster)
    assert f"chaos-lab:kubernetesVersion: got '{requested}'; accepted {running} (no change) or " in str(failed.value)
    assert failed.value.deployment.registrations == []


def test_the_public_endpoint_follows_the_access_keys(dev: Deployment):
    cluster = dev.one("eks:index:Cluster").inputs
    assert (cluster["endpointPublicAccess"], cluster["publicAccessCidrs"], cluster["endpointPrivateAccess"]) == (
        True,
        ["0.0.0.0/0"],
        False,
    )
    narrowed = run_lab(
        "dev", {"cluster.endpointPublicAccessCidrs": ["203.0.113.0/24"], "cluster.endpointPrivateAccess": True}
    )
    cluster = narrowed.one("eks:index:Cluster").inputs
    assert (cluster["publicAccessCidrs"], cluster["endpointPrivateAccess"]) == (["203.0.113.0/24"], True)
