"""Which inputs force a resource's replacement, and which inputs name it physically, per resource type.

Each rule is read from the provider's own source, named beside it. The Pulumi AWS provider is bridged
from hashicorp/terraform-provider-aws, so a `ForceNew: true` there is a replacement here; pulumi-eks's
components pass their arguments through to those resources. Field paths are the input names as the
program registers them (camelCase, dots into objects).

`identity` lists the inputs that make up the physical name: two live objects with the same values
collide. An empty identity means the provider names the object itself (auto-naming, a name prefix),
so a replacement can be created beside the old one.
"""

from __future__ import annotations

from dataclasses import dataclass

TF_AWS = "hashicorp/terraform-provider-aws"
PULUMI_K8S = "pulumi/pulumi-kubernetes"


@dataclass(frozen=True)
class ReplacementRule:
    force_new: tuple[str, ...]
    identity: tuple[str, ...]
    source: str
    # The provider itself deletes the old object first when a replacement keeps its name.
    provider_deletes_first: bool = False


RULES: dict[str, ReplacementRule] = {
    # pulumi-eks passes these to aws.eks.Cluster (nodejs/eks/cluster/cluster.ts); the cluster's name,
    # role and network family are ForceNew, its version, subnets and endpoint access are updated in place.
    "eks:index:Cluster": ReplacementRule(
        force_new=("name", "serviceRole", "ipFamily", "kubernetesServiceIpAddressRange", "bootstrapSelfManagedAddons"),
        identity=("name",),
        source=f"{TF_AWS} internal/service/eks/cluster.go (name, role_arn, kubernetes_network_config.ip_family/service_ipv4_cidr, bootstrap_self_managed_addons)",
    ),
    # pulumi-eks spreads its arguments onto aws.eks.NodeGroup (nodejs/eks/nodes/nodegroup.ts, createManagedNodeGroup).
    "eks:index:ManagedNodeGroup": ReplacementRule(
        force_new=(
            "amiType",
            "capacityType",
            "cluster",
            "clusterName",
            "diskSize",
            "instanceTypes",
            "nodeGroupName",
            "nodeGroupNamePrefix",
            "nodeRole",
            "nodeRoleArn",
            "remoteAccess",
            "subnetIds",
            "launchTemplate.id",
            "launchTemplate.name",
        ),
        identity=("clusterName", "nodeGroupName"),
        source=f"{TF_AWS} internal/service/eks/node_group.go (version, release_version and launch_template.version are updated in place)",
    ),
    "aws:eks/addon:Addon": ReplacementRule(
        force_new=("addonName", "clusterName"),
        identity=("clusterName", "addonName"),
        source=f"{TF_AWS} internal/service/eks/addon.go (addon_version is updated in place)",
    ),
    "aws:ec2/vpc:Vpc": ReplacementRule(
        force_new=("cidrBlock",),
        identity=(),
        source=f"{TF_AWS} internal/service/ec2/vpc_.go (instance_tenancy is updated in place)",
    ),
    # A subnet's physical identity is its CIDR inside the VPC: a second subnet with the same CIDR is refused.
    "aws:ec2/subnet:Subnet": ReplacementRule(
        force_new=("vpcId", "availabilityZone", "availabilityZoneId", "cidrBlock", "outpostArn", "ipv6Native"),
        identity=("vpcId", "cidrBlock"),
        source=f"{TF_AWS} internal/service/ec2/vpc_subnet.go",
    ),
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": ReplacementRule(
        force_new=("vpcId",), identity=("vpcId",), source=f"{TF_AWS} internal/service/ec2/vpc_default_security_group.go"
    ),
    "aws:ec2/internetGateway:InternetGateway": ReplacementRule(
        force_new=(),
        identity=(),
        source=f"{TF_AWS} internal/service/ec2/vpc_internet_gateway.go (vpc_id is updated in place)",
    ),
    "aws:ec2/routeTable:RouteTable": ReplacementRule(
        force_new=("vpcId",), identity=(), source=f"{TF_AWS} internal/service/ec2/vpc_route_table.go"
    ),
    # A subnet has one route table association.
    "aws:ec2/routeTableAssociation:RouteTableAssociation": ReplacementRule(
        force_new=("subnetId", "gatewayId"),
        identity=("subnetId",),
        source=f"{TF_AWS} internal/service/ec2/vpc_route_table_association.go (route_table_id is updated in place)",
    ),
    "aws:ec2/eip:Eip": ReplacementRule(
        force_new=("domain",), identity=(), source=f"{TF_AWS} internal/service/ec2/ec2_eip.go"
    ),
    "aws:ec2/natGateway:NatGateway": ReplacementRule(
        force_new=("allocationId", "subnetId", "connectivityType"),
        identity=(),
        source=f"{TF_AWS} internal/service/ec2/vpc_nat_gateway.go",
    ),
    "aws:ec2/launchTemplate:LaunchTemplate": ReplacementRule(
        force_new=("name", "namePrefix"),
        identity=("name",),
        source=f"{TF_AWS} internal/service/ec2/ec2_launch_template.go (every other change adds a version)",
    ),
    "aws:iam/role:Role": ReplacementRule(
        force_new=("name", "namePrefix", "path"), identity=("name",), source=f"{TF_AWS} internal/service/iam/role.go"
    ),
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": ReplacementRule(
        force_new=("role", "policyArn"),
        identity=("role", "policyArn"),
        source=f"{TF_AWS} internal/service/iam/role_policy_attachment.go",
    ),
    # An inline policy the program leaves unnamed gets a unique generated name, so it never collides.
    "aws:iam/rolePolicy:RolePolicy": ReplacementRule(
        force_new=("name", "namePrefix", "role"), identity=(), source=f"{TF_AWS} internal/service/iam/role_policy.go"
    ),
    "aws:cloudwatch/metricAlarm:MetricAlarm": ReplacementRule(
        force_new=("name",),
        identity=("name",),
        source=f"{TF_AWS} internal/service/cloudwatch/metric_alarm.go (alarm_name)",
    ),
    "aws:cloudwatch/compositeAlarm:CompositeAlarm": ReplacementRule(
        force_new=("alarmName",),
        identity=("alarmName",),
        source=f"{TF_AWS} internal/service/cloudwatch/composite_alarm.go",
    ),
    "aws:cloudwatch/dashboard:Dashboard": ReplacementRule(
        force_new=("dashboardName",),
        identity=("dashboardName",),
        source=f"{TF_AWS} internal/service/cloudwatch/dashboard.go",
    ),
    # DiffConfig: a provider pointed at another cluster is replaced, and so is everything it manages.
    "pulumi:providers:kubernetes": ReplacementRule(
        force_new=("kubeconfig", "context", "cluster"),
        identity=(),
        source=f"{PULUMI_K8S} provider/pkg/provider/provider.go (DiffConfig)",
    ),
    # Release names are unique per namespace; the provider does NOT delete first (DeleteBeforeReplace: false).
    "kubernetes:helm.sh/v3:Release": ReplacementRule(
        force_new=("name", "namespace"),
        identity=("name", "namespace"),
        source=f"{PULUMI_K8S} provider/pkg/provider/helm_release.go (Diff)",
    ),
}

# Every other Kubernetes object: `.metadata.name`/`.metadata.namespace` plus per-kind immutable fields
# (provider/pkg/provider/diff.go, forceNewProperties). When a replacement keeps its name and namespace the
# provider deletes the old object first (provider.go, Diff: deleteBeforeReplace), so it cannot collide
# but is briefly absent. ConfigMap and Secret data are replaced, not patched, unless the provider enables
# enableConfigMapMutable/enableSecretMutable, which the lab does not.
KUBERNETES_SOURCE = f"{PULUMI_K8S} provider/pkg/provider/diff.go (forceNewProperties) and provider.go (Diff)"
KUBERNETES_METADATA = ("metadata.name", "metadata.namespace")
KUBERNETES_KIND_FIELDS: dict[str, tuple[str, ...]] = {
    "apps/v1:Deployment": ("spec.selector",),
    "rbac.authorization.k8s.io/v1:RoleBinding": ("roleRef",),
    "rbac.authorization.k8s.io/v1:ClusterRoleBinding": ("roleRef",),
    "core/v1:ConfigMap": ("data", "binaryData"),
    "core/v1:Secret": ("type", "data", "stringData"),
    "core/v1:Service": ("spec.clusterIP",),
}


def rule_for(type_token: str) -> ReplacementRule | None:
    """The rule for a resource type; None for a type no rule covers."""
    if type_token in RULES:
        return RULES[type_token]
    if type_token.startswith("kubernetes:"):
        kind = type_token.removeprefix("kubernetes:")
        return ReplacementRule(
            force_new=KUBERNETES_METADATA + KUBERNETES_KIND_FIELDS.get(kind, ()),
            identity=KUBERNETES_METADATA,
            source=KUBERNETES_SOURCE,
            provider_deletes_first=True,
        )
    return None
