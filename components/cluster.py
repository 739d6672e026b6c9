"""The EKS cluster: control plane, one managed spot node group, and the VPC CNI under its own IRSA role."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_eks as eks
import pulumi_kubernetes as k8s

from chaoslab.config.model import access_entry_key
from chaoslab.experiments.fis import LAB_NODE_GROUP_TAG
from components.irsa import IrsaRole, IrsaRoleArgs

# A prefix, not a name: EKS adds a unique suffix, so a replacement group (new instance types, capacity
# type or subnets all force one) is created beside the old one before the old one is deleted.
NODE_GROUP_NAME_PREFIX = "chaos-workers-"
# Amazon Linux 2023 runs containerd, which Chaos Mesh's daemon must be pointed at.
NODE_AMI_TYPE = "AL2023_x86_64_STANDARD"
# Only what a node itself needs; the CNI policy goes to the CNI's own role below.
NODE_MANAGED_POLICY_ARNS = (
    "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
    "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryPullOnly",
)
CNI_POLICY_ARN = "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy"
CNI_ADDON = "vpc-cni"
CNI_NAMESPACE = "kube-system"
CNI_SERVICE_ACCOUNT = "aws-node"
# Hop limit 1: a metadata response cannot cross the extra network hop into a pod's namespace, so pods
# cannot borrow the node role; IRSA is then the only way a pod gets AWS credentials.
IMDS_HOP_LIMIT = 1
ROOT_DEVICE_NAME = "/dev/xvda"
CLUSTER_ADMIN_POLICY_ARN = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
# NetworkChaos needs the kernel's netem qdisc ("Specified qdisc not found" otherwise). AL2023 ships it in the
# running kernel's modules-extra package, whose name follows the kernel package's: `kernel` on the 6.1 images,
# `kernel6.12` on those for Kubernetes 1.33-1.35, `kernel6.18` after them (awslabs/amazon-eks-ami at 81fec2e:
# templates/al2023/variables-*.json pick the kernel; provisioners/install-worker.sh names its package, and
# install-nvidia-driver.sh installs `${KERNEL_PACKAGE}-modules-extra` from that name). So the script asks rpm
# which package the running kernel came from, falls back to the AMI build's naming rule when rpm cannot tell,
# and installs that package's modules-extra at exactly the running kernel's release.
# Sourcing the script defines its functions without running it, so tests can call them with stubbed commands.
NETEM_SCRIPT = r"""#!/bin/bash
set -euo pipefail

# The package that installed the running kernel, e.g. kernel6.12.
running_kernel_package() {
  local release owner major minor
  release="$(uname -r)"
  if owner="$(rpm -qf --queryformat '%{NAME}\n' "/boot/vmlinuz-${release}" 2>/dev/null)"; then
    echo "${owner}"
    return
  fi
  # AL2023's default 6.1 kernel is plain `kernel`; every other line is `kernel<major>.<minor>`.
  IFS=. read -r major minor _ <<<"${release}"
  if [[ "${major}.${minor}" == 6.1 ]]; then
    echo kernel
  else
    echo "kernel${major}.${minor}"
  fi
}

# The modules-extra build for the running kernel, e.g. kernel6.12-modules-extra-6.12.40-63.114.amzn2023.x86_64.
netem_modules_package() {
  echo "$(running_kernel_package)-modules-extra-$(uname -r)"
}

load_netem() {
  if modprobe sch_netem; then
    return
  fi
  dnf install -y "$(netem_modules_package)"
  modprobe sch_netem
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  load_netem
  echo sch_netem >/etc/modules-load.d/chaos-lab-netem.conf
fi
"""
# EKS merges this MIME part with its own node configuration; cloud-init runs it at first boot.
NETEM_USER_DATA = (
    "MIME-Version: 1.0\n"
    'Content-Type: multipart/mixed; boundary="==chaos-lab=="\n'
    "\n"
    "--==chaos-lab==\n"
    'Content-Type: text/x-shellscript; charset="us-ascii"\n'
    "\n"
    f"{NETEM_SCRIPT}\n"
    "--==chaos-lab==--\n"
)


@dataclass
class EksClusterArgs:
    cluster_name: str
    kubernetes_version: str
    vpc_id: pulumi.Input[str]
    public_subnet_ids: pulumi.Input[Sequence[str]]
    private_subnet_ids: pulumi.Input[Sequence[str]]
    node_subnet_ids: pulumi.Input[Sequence[str]]
    capacity_type: str
    instance_types: Sequence[str]
    desired_size: int
    min_size: int
    max_size: int
    disk_size_gib: int
    # IAM principals (roles or users) given cluster-admin besides the identity that deploys.
    admin_principal_arns: Sequence[str] = ()
    endpoint_public_access_cidrs: Sequence[str] = ("0.0.0.0/0",)
    endpoint_private_access: bool = False


class EksCluster(pulumi.ComponentResource):
    cluster_name: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]
    oidc_provider_arn: pulumi.Output[str]
    oidc_issuer: pulumi.Output[str]
    # For later components: pulumi-eks's own `cluster.core.provider` does not work from Python (pulumi-eks#662).
    kubernetes_provider: k8s.Provider

    def __init__(self, name: str, args: EksClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("chaos-lab:cluster:EksCluster", name, None, opts)
        self._name = name
        self._args = args
        self._child = pulumi.ResourceOptions(parent=self)

        cluster = self._control_plane()
        cni_addon = self._vpc_cni_addon(cluster)
        node_role, node_policies = self._node_role()
        node_group = self._node_group(
            cluster,
            node_role,
            self._launch_template(),
            # Nodes that join before the CNI has its role would run it on credentials they no longer hold.
            depends_on=[cni_addon, *node_policies],
        )

        self.cluster_name = pulumi.Output.from_input(args.cluster_name)
        self.kubeconfig = pulumi.Output.secret(cluster.kubeconfig_json)
        self.oidc_provider_arn = cluster.oidc_provider_arn
        self.oidc_issuer = cluster.oidc_issuer
        # Everything in the cluster goes through this provider, so waiting for the nodes here orders it all:
        # Helm's atomic install starts once there are nodes to schedule on, and `destroy` removes the
        # experiments, Chaos Mesh and the app while the nodes that serve their finalizers still run.
        self.kubernetes_provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=cluster.kubeconfig_json,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[node_group]),
        )
        self.register_outputs(
            {
                "cluster_name": self.cluster_name,
                "kubeconfig": self.kubeconfig,
                "oidc_provider_arn": self.oidc_provider_arn,
                "oidc_issuer": self.oidc_issuer,
            }
        )

    def _control_plane(self) -> eks.Cluster:
        args = self._args
        # pulumi-eks always bootstraps cluster-admin for the identity that creates the cluster, so that
        # identity needs no access entry of its own (declaring one fails as a duplicate: pulumi-eks#2373).
        return eks.Cluster(
            f"{self._name}-eks",
            name=args.cluster_name,
            version=args.kubernetes_version,
            vpc_id=args.vpc_id,
            public_subnet_ids=args.public_subnet_ids,
            private_subnet_ids=args.private_subnet_ids,
            authentication_mode=eks.AuthenticationMode.API,
            endpoint_public_access=True,
            public_access_cidrs=list(args.endpoint_public_access_cidrs),
            endpoint_private_access=args.endpoint_private_access,
            access_entries=_cluster_admin_entries(args.admin_principal_arns),
            create_oidc_provider=True,
            skip_default_node_group=True,
            # EKS's own self-managed CNI, which the add-on below adopts; without this pulumi-eks may
            # create a vpc-cni add-on of its own and the second one would be refused.
            use_default_vpc_cni=True,
            opts=self._child,
        )

    def _vpc_cni_addon(self, cluster: eks.Cluster) -> aws.eks.Addon:
        """The VPC CNI as an EKS add-on, under its own IRSA role instead of the node role."""
        args = self._args
        cni_role = IrsaRole(
            f"{self._name}-vpc-cni",
            IrsaRoleArgs(
                oidc_provider_arn=cluster.oidc_provider_arn,
                oidc_issuer=cluster.oidc_issuer,
                namespace=CNI_NAMESPACE,
                service_account=CNI_SERVICE_ACCOUNT,
                managed_policy_arns=(CNI_POLICY_ARN,),
            ),
            opts=self._child,
        )
        # Adopts the CNI EKS bootstraps and points its service account at the CNI's own role. Its version
        # is EKS's default for the control plane's version, so a version bump upgrades the control plane,
        # then (depending on it) the add-on, then (depending on the add-on) the nodes.
        return aws.eks.Addon(
            f"{self._name}-vpc-cni",
            cluster_name=args.cluster_name,
            addon_name=CNI_ADDON,
            addon_version=aws.eks.get_addon_version(
                addon_name=CNI_ADDON, kubernetes_version=args.kubernetes_version
            ).version,
            service_account_role_arn=cni_role.role_arn,
            resolve_conflicts_on_create="OVERWRITE",
            resolve_conflicts_on_update="OVERWRITE",
            opts=pulumi.ResourceOptions(parent=self, depends_on=[cluster]),
        )

    def _node_role(self) -> tuple[aws.iam.Role, list[aws.iam.RolePolicyAttachment]]:
        """The role the nodes run as, with only the managed policies a node itself needs."""
        role = aws.iam.Role(
            f"{self._name}-node-role",
            assume_role_policy=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
                    ],
                }
            ),
            opts=self._child,
        )
        policies = [
            aws.iam.RolePolicyAttachment(
                f"{self._name}-node-{policy_arn.rsplit('/', 1)[-1]}",
                role=role.name,
                policy_arn=policy_arn,
                opts=self._child,
            )
            for policy_arn in NODE_MANAGED_POLICY_ARNS
        ]
        return role, policies

    def _launch_template(self) -> aws.ec2.LaunchTemplate:
        """IMDSv2 out of pods' reach, an encrypted gp3 root volume, and netem loaded at first boot."""
        return aws.ec2.LaunchTemplate(
            f"{self._name}-nodes",
            metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
                http_endpoint="enabled",
                http_tokens="required",
                http_put_response_hop_limit=IMDS_HOP_LIMIT,
            ),
            block_device_mappings=[
                aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                    device_name=ROOT_DEVICE_NAME,
                    ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                        volume_size=self._args.disk_size_gib,
                        volume_type="gp3",
                        encrypted="true",
                        delete_on_termination="true",
                    ),
                )
            ],
            user_data=base64.b64encode(NETEM_USER_DATA.encode()).decode(),
            opts=self._child,
        )

    def _node_group(
        self,
        cluster: eks.Cluster,
        node_role: aws.iam.Role,
        launch_template: aws.ec2.LaunchTemplate,
        *,
        depends_on: Sequence[pulumi.Resource],
    ) -> eks.ManagedNodeGroup:
        args = self._args
        return eks.ManagedNodeGroup(
            f"{self._name}-workers",
            cluster=cluster,
            node_group_name_prefix=NODE_GROUP_NAME_PREFIX,
            # What FIS's node-group-loss finds the group by: its generated name changes on every replacement.
            tags={LAB_NODE_GROUP_TAG: args.cluster_name},
            # pulumi-eks takes the group's version from this argument only, never from the cluster
            # (pulumi/pulumi-eks nodejs/eks/nodes/nodegroup.ts, createManagedNodeGroup): without it EKS keeps
            # the nodes on the version they were created with. The launch template names no AMI, so EKS
            # accepts a version with it and rolls the nodes onto that version's AMI in place.
            version=args.kubernetes_version,
            node_role=node_role,
            ami_type=NODE_AMI_TYPE,
            capacity_type=args.capacity_type,
            instance_types=list(args.instance_types),
            scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                desired_size=args.desired_size, min_size=args.min_size, max_size=args.max_size
            ),
            subnet_ids=args.node_subnet_ids,
            launch_template=aws.eks.NodeGroupLaunchTemplateArgs(
                id=launch_template.id, version=launch_template.latest_version.apply(str)
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(depends_on)),
        )


def _cluster_admin_entries(principal_arns: Sequence[str]) -> dict[str, eks.AccessEntryArgs]:
    """An access entry granting cluster-admin to each principal, keyed by a name derived from its ARN."""
    return {
        access_entry_key(arn): eks.AccessEntryArgs(
            principal_arn=arn,
            access_policies={
                "cluster-admin": eks.AccessPolicyAssociationArgs(
                    policy_arn=CLUSTER_ADMIN_POLICY_ARN,
                    access_scope=aws.eks.AccessPolicyAssociationAccessScopeArgs(type="cluster"),
                )
            },
        )
        for arn in principal_arns
    }
