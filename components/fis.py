"""The enabled FIS experiments as experiment templates, with the role FIS acts as and where it logs.

- One `aws.fis.ExperimentTemplate` per enabled entry, every one stopped by the steady-state alarms: the
  component refuses to declare any template without them. Targets are the lab's own resources, by ARN
  or by a tag only they carry (experiments/fis.py).
- The experiment role trusts `fis.amazonaws.com` for this account's experiments only (`aws:SourceAccount`,
  `aws:SourceArn`), and holds only the actions the enabled templates need, on the lab's resources
  (https://docs.aws.amazon.com/fis/latest/userguide/getting-started-iam-service-role.html and the
  permissions each action lists in fis-actions-reference.html).
- Chaos Mesh entries run through FIS (`engine: fis`) make FIS create chaos objects in the sandbox as the
  Kubernetes user `fis-experiment`: an EKS access entry maps the role to that user, and a Role in the
  sandbox lets it create exactly those kinds there. Chaos Mesh's `vauth` webhook checks the same grant
  in every namespace the object selects (chaos-mesh/chaos-mesh pkg/webhook auth.go at v2.8.3:
  SubjectAccessReview `create` on the kind's resource per selected namespace); the lab pins every
  selector to the sandbox, so the one Role suffices. The fence's admission policy judges these objects
  like anyone's.
- FIS logs every run to a CloudWatch Logs group kept for `LOG_RETENTION_DAYS`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from chaoslab.experiments import admission
from chaoslab.experiments.fis import (
    ENTRY_TAG,
    STACK_TAG,
    ChaosMeshThroughFis,
    FisExperiment,
    FisLab,
    LabRefs,
    NodeGroupLossParameters,
    SpotInterruptionParameters,
    ZoneOutageParameters,
)
from components.chaos_experiments import unless_halted
from components.fence import plural, policy_rule

# The Kubernetes user FIS acts as in the cluster (https://docs.aws.amazon.com/fis/latest/userguide/eks-pod-actions.html).
FIS_KUBERNETES_USER = "fis-experiment"
# Long enough to compare this game day's runs with last fortnight's; short enough not to pay to keep noise.
LOG_RETENTION_DAYS = 14
# FIS's current log format (monitoring-logging.html).
LOG_SCHEMA_VERSION = 2
# What FIS creates and then watches and removes; no patch or update: a running chaos object is never changed.
FIS_CHAOS_VERBS = ("get", "list", "watch", "create", "delete")
STEADY_STATE_KEY = "chaos-lab:steadyState"


@dataclass
class FisExperimentsArgs:
    experiments: Sequence[FisExperiment]
    # The steady-state CloudWatch alarms every template stops on; empty means no template may be declared.
    stop_condition_alarm_arns: Sequence[pulumi.Input[str]]
    stack: str
    lab: FisLab  # node group name, capacity and size, and the zones, for checks and the preview
    cluster_name: str
    cluster_arn: pulumi.Input[str]
    vpc_id: pulumi.Input[str]
    sandbox_namespace: pulumi.Input[str]
    price_per_action_minute: float
    # Stop-everything switch, as for the Chaos Mesh entries: no template at all, whatever is enabled.
    halted: bool
    # The cluster (for the access entry) and the fence (whose sandbox the Role lives in).
    depends_on: Sequence[pulumi.Resource]


def _pulumi_target(name: str, target: Mapping[str, Any]) -> aws.fis.ExperimentTemplateTargetArgs:
    return aws.fis.ExperimentTemplateTargetArgs(
        name=name,
        resource_type=target["resourceType"],
        selection_mode=target["selectionMode"],
        resource_arns=target.get("resourceArns"),
        resource_tags=[
            aws.fis.ExperimentTemplateTargetResourceTagArgs(key=key, value=value)
            for key, value in (target.get("resourceTags") or {}).items()
        ]
        or None,
        filters=[
            aws.fis.ExperimentTemplateTargetFilterArgs(path=item["path"], values=item["values"])
            for item in target.get("filters") or []
        ]
        or None,
    )


def _pulumi_action(name: str, action: Mapping[str, Any]) -> aws.fis.ExperimentTemplateActionArgs:
    ((key, target),) = action["targets"].items()
    return aws.fis.ExperimentTemplateActionArgs(
        name=name,
        action_id=action["actionId"],
        parameters=[
            aws.fis.ExperimentTemplateActionParameterArgs(key=key, value=value)
            for key, value in action["parameters"].items()
        ],
        target=aws.fis.ExperimentTemplateActionTargetArgs(key=key, value=target),
    )


def _log_configuration(log_group: aws.cloudwatch.LogGroup) -> aws.fis.ExperimentTemplateLogConfigurationArgs:
    return aws.fis.ExperimentTemplateLogConfigurationArgs(
        log_schema_version=LOG_SCHEMA_VERSION,
        cloudwatch_logs_configuration=aws.fis.ExperimentTemplateLogConfigurationCloudwatchLogsConfigurationArgs(
            log_group_arn=log_group.arn.apply(lambda arn: f"{arn}:*"),
        ),
    )


def stop_conditions_problem(
    experiments: Sequence[FisExperiment], alarm_arns: Sequence[pulumi.Input[str]]
) -> str | None:
    """Why these experiments may not be declared with these stop conditions, or None."""
    if not experiments or alarm_arns:
        return None
    names = ", ".join(experiment.name for experiment in experiments)
    return (
        f"{STEADY_STATE_KEY}: FIS experiments ({names}) need the steady-state CloudWatch alarms as stop conditions, "
        "and this stack has none; accepted: configure the steady-state alarms, or disable these entries"
    )


def check_inputs(args: FisExperimentsArgs) -> None:
    """Raise ValueError naming the config key when a template could not be declared safely."""
    problem = stop_conditions_problem(args.experiments, args.stop_condition_alarm_arns)
    if problem is not None:
        raise ValueError(problem)
    for experiment in args.experiments:
        plan = experiment.plan
        if isinstance(plan, ZoneOutageParameters) and plan.zone is not None and plan.zone not in args.lab.zones:
            raise ValueError(
                f"chaos-lab:experiments.{experiment.name}.zone: got {plan.zone!r}; accepted one of the lab's zones "
                f"({', '.join(args.lab.zones)}), or null for the first"
            )


class FisExperiments(pulumi.ComponentResource):
    summary: pulumi.Output[dict[str, Any]]
    template_ids: pulumi.Output[dict[str, str]]
    role_arn: pulumi.Output[str] | None
    log_group_name: pulumi.Output[str] | None

    def __init__(self, name: str, args: FisExperimentsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("chaos-lab:fis:FisExperiments", name, None, opts)
        declared: tuple[FisExperiment, ...] = unless_halted(
            self, args.halted, args.experiments, "FIS experiment template"
        )
        check_inputs(replace(args, experiments=declared))
        self.role_arn = None
        self.log_group_name = None
        templates: dict[str, pulumi.Output[str]] = {}
        if declared:
            templates = self._declare(name, args, declared)
        lab = args.lab
        self.summary = pulumi.Output.from_input(
            {
                experiment.name: {
                    **experiment.describe(lab, list(args.stop_condition_alarm_arns), args.price_per_action_minute),
                    "templateId": templates[experiment.name],
                }
                for experiment in declared
            }
        )
        self.template_ids = pulumi.Output.from_input(templates)  # type: ignore[arg-type]  # nested Outputs are unwrapped at run time; the stub types only the outer value
        self.register_outputs(
            {
                "summary": self.summary,
                "template_ids": self.template_ids,
                "role_arn": self.role_arn,
                "log_group_name": self.log_group_name,
            }
        )

    def _declare(
        self, name: str, args: FisExperimentsArgs, declared: Sequence[FisExperiment]
    ) -> dict[str, pulumi.Output[str]]:
        log_group = self._log_group(name, args.stack)
        role = self._role(name, args, declared)
        in_cluster = [experiment for experiment in declared if isinstance(experiment.plan, ChaosMeshThroughFis)]
        access = self._kubernetes_access(name, args, role, in_cluster) if in_cluster else []
        refs = LabRefs(
            stack=args.stack,
            cluster_name=args.cluster_name,
            cluster_arn=args.cluster_arn,
            zones=args.lab.zones,
        )
        templates = {}
        for experiment in declared:
            template = experiment.template(refs, list(args.stop_condition_alarm_arns))
            resource = aws.fis.ExperimentTemplate(
                f"{name}-{experiment.name}",
                description=template["description"],
                role_arn=role.arn,
                stop_conditions=[
                    aws.fis.ExperimentTemplateStopConditionArgs(**condition) for condition in template["stopConditions"]
                ],
                actions=[_pulumi_action(key, action) for key, action in template["actions"].items()],
                targets=[_pulumi_target(key, target) for key, target in template["targets"].items()],
                log_configuration=_log_configuration(log_group),
                experiment_options=aws.fis.ExperimentTemplateExperimentOptionsArgs(
                    account_targeting="single-account", empty_target_resolution_mode="fail"
                ),
                tags={STACK_TAG: args.stack, ENTRY_TAG: experiment.name},
                opts=pulumi.ResourceOptions(parent=self, depends_on=access),
            )
            templates[experiment.name] = resource.id
        self.role_arn = role.arn
        self.log_group_name = log_group.name
        return templates

    def _log_group(self, name: str, stack: str) -> aws.cloudwatch.LogGroup:
        return aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=f"/chaos-lab/{stack}/fis",
            retention_in_days=LOG_RETENTION_DAYS,
            tags={STACK_TAG: stack},
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _role(self, name: str, args: FisExperimentsArgs, declared: Sequence[FisExperiment]) -> aws.iam.Role:
        """The role FIS acts as, trusted by this account's experiments, allowed what `declared` needs."""
        invoke = pulumi.InvokeOptions(parent=self)
        scope = AwsScope(
            aws.get_partition_output(opts=invoke).partition,
            aws.get_region_output(opts=invoke).region,
            aws.get_caller_identity_output(opts=invoke).account_id,
        )
        role = aws.iam.Role(
            f"{name}-role",
            assume_role_policy=pulumi.Output.json_dumps(trust_policy(scope)),
            tags={STACK_TAG: args.stack},
            opts=pulumi.ResourceOptions(parent=self),
        )
        aws.iam.RolePolicy(
            f"{name}-permissions",
            role=role.id,
            policy=pulumi.Output.json_dumps(permissions_policy(declared, scope, args)),
            opts=pulumi.ResourceOptions(parent=self),
        )
        return role

    def _kubernetes_access(
        self, name: str, args: FisExperimentsArgs, role: aws.iam.Role, in_cluster: Sequence[FisExperiment]
    ) -> list[pulumi.Resource]:
        entry = aws.eks.AccessEntry(
            f"{name}-access",
            cluster_name=args.cluster_name,
            principal_arn=role.arn,
            user_name=FIS_KUBERNETES_USER,
            type="STANDARD",
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on)),
        )
        kubernetes = pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on))
        kinds = sorted(
            {
                experiment.plan.experiment.kind
                for experiment in in_cluster
                if isinstance(experiment.plan, ChaosMeshThroughFis)
            }
        )
        role_k8s = k8s.rbac.v1.Role(
            f"{name}-chaos",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=FIS_KUBERNETES_USER, namespace=args.sandbox_namespace),
            rules=[fis_chaos_rule(kinds)],
            opts=kubernetes,
        )
        binding = k8s.rbac.v1.RoleBinding(
            f"{name}-chaos",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=FIS_KUBERNETES_USER, namespace=args.sandbox_namespace),
            role_ref=k8s.rbac.v1.RoleRefArgs(
                api_group="rbac.authorization.k8s.io", kind="Role", name=role_k8s.metadata.name
            ),
            subjects=[
                k8s.rbac.v1.SubjectArgs(kind="User", name=FIS_KUBERNETES_USER, api_group="rbac.authorization.k8s.io")
            ],
            opts=kubernetes,
        )
        return [entry, role_k8s, binding]


def fis_chaos_rule(kinds: Sequence[str]) -> k8s.rbac.v1.PolicyRuleArgs:
    """The sandbox Role's one rule: the chaos kinds FIS creates, by name, never `*`."""
    return policy_rule(admission.CHAOS_GROUP, [plural(kind) for kind in kinds], FIS_CHAOS_VERBS)


@dataclass(frozen=True)
class AwsScope:
    """The partition, region and account the lab lives in, as outputs."""

    partition: pulumi.Input[str]
    region: pulumi.Input[str]
    account: pulumi.Input[str]

    def arn(self, service: str, resource: pulumi.Input[str]) -> pulumi.Output[str]:
        return pulumi.Output.concat(
            "arn:", self.partition, f":{service}:", self.region, ":", self.account, ":", resource
        )


def trust_policy(scope: AwsScope) -> dict[str, Any]:
    """FIS may assume the role only for this account's experiments in this region (confused-deputy guard)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "fis.amazonaws.com"},
                "Action": "sts:AssumeRole",
                "Condition": {
                    "StringEquals": {"aws:SourceAccount": scope.account},
                    "ArnLike": {"aws:SourceArn": scope.arn("fis", "experiment/*")},
                },
            }
        ],
    }


@dataclass(frozen=True)
class LabTargets:
    """What the experiment role may change: the lab's instances, node group and VPC, as ARNs and conditions."""

    scope: AwsScope
    cluster_name: str
    vpc_id: pulumi.Input[str]

    def instances(self) -> pulumi.Output[str]:
        return self.scope.arn("ec2", "instance/*")

    def vpc(self) -> pulumi.Output[str]:
        return self.scope.arn("ec2", pulumi.Output.concat("vpc/", self.vpc_id))

    def network_acls(self) -> pulumi.Output[str]:
        return self.scope.arn("ec2", "network-acl/*")

    def only_lab_instances(self) -> dict[str, Any]:
        """EKS tags every node it launches with its cluster's name."""
        return {"StringEquals": {"aws:ResourceTag/eks:cluster-name": self.cluster_name}}

    def only_in_lab_vpc(self) -> dict[str, Any]:
        return {"StringEquals": {"ec2:Vpc": self.vpc()}}


LOGS_STATEMENT = {
    "Sid": "Logs",
    "Effect": "Allow",
    "Action": [
        "logs:CreateLogDelivery",
        "logs:PutResourcePolicy",
        "logs:DescribeResourcePolicies",
        "logs:DescribeLogGroups",
    ],
    "Resource": "*",
}


def spot_interruption_statements(lab: LabTargets) -> list[dict[str, Any]]:
    return [
        {
            "Sid": "SpotInterruptions",
            "Effect": "Allow",
            "Action": ["ec2:SendSpotInstanceInterruptions"],
            "Resource": lab.instances(),
            "Condition": lab.only_lab_instances(),
        }
    ]


def node_group_loss_statements(lab: LabTargets) -> list[dict[str, Any]]:
    return [
        {
            "Sid": "NodeGroup",
            "Effect": "Allow",
            "Action": ["eks:DescribeNodegroup"],
            "Resource": lab.scope.arn("eks", pulumi.Output.concat("nodegroup/", lab.cluster_name, "/*")),
        },
        {
            "Sid": "NodeGroupInstances",
            "Effect": "Allow",
            "Action": ["ec2:TerminateInstances"],
            "Resource": lab.instances(),
            "Condition": lab.only_lab_instances(),
        },
    ]


def zone_outage_statements(lab: LabTargets) -> list[dict[str, Any]]:
    """FIS clones the subnets' network ACL in the VPC, adds deny entries, swaps the clone in and back at the end."""
    return [
        {
            "Sid": "CloneNetworkAcl",
            "Effect": "Allow",
            "Action": ["ec2:CreateNetworkAcl"],
            "Resource": [lab.vpc(), lab.network_acls()],
        },
        {
            "Sid": "LabNetworkAcls",
            "Effect": "Allow",
            "Action": ["ec2:CreateNetworkAclEntry", "ec2:DeleteNetworkAcl", "ec2:CreateTags"],
            "Resource": lab.network_acls(),
            "Condition": lab.only_in_lab_vpc(),
        },
        {
            "Sid": "LabSubnets",
            "Effect": "Allow",
            "Action": ["ec2:ReplaceNetworkAclAssociation"],
            "Resource": [lab.network_acls(), lab.scope.arn("ec2", "subnet/*")],
            "Condition": lab.only_in_lab_vpc(),
        },
    ]


# Per kind of template: the reads its action needs, which go on "*", and its statements that change something.
# A Chaos Mesh entry run through FIS needs neither: it acts in the cluster, through the access entry.
GRANTS_BY_PLAN: tuple[tuple[type, frozenset[str], Callable[[LabTargets], list[dict[str, Any]]]], ...] = (
    (SpotInterruptionParameters, frozenset({"ec2:DescribeInstances"}), spot_interruption_statements),
    (NodeGroupLossParameters, frozenset({"ec2:DescribeInstances", "tag:GetResources"}), node_group_loss_statements),
    (
        ZoneOutageParameters,
        # The reads AWS lists for aws:network:disrupt-connectivity, whatever its scope (FIS user guide, actions
        # reference: https://docs.aws.amazon.com/fis/latest/userguide/fis-actions-reference.html).
        frozenset(
            {
                "ec2:DescribeNetworkAcls",
                "ec2:DescribeSubnets",
                "ec2:DescribeVpcs",
                "ec2:DescribeManagedPrefixLists",
                "ec2:GetManagedPrefixListEntries",
                "tag:GetResources",
            }
        ),
        zone_outage_statements,
    ),
)


def permissions_policy(declared: Sequence[FisExperiment], scope: AwsScope, args: FisExperimentsArgs) -> dict[str, Any]:
    """Only what the declared templates' actions need (fis-actions-reference.html), on the lab's resources.

    Describe and tag reads cannot be narrowed to a resource in IAM, so they stay on `*`; every action
    that changes something is limited to the lab's instances (by the cluster tag EKS puts on them), its
    node group, or its VPC.
    """
    lab = LabTargets(scope, args.cluster_name, args.vpc_id)
    plans = [experiment.plan for experiment in declared]
    statements: list[dict[str, Any]] = [LOGS_STATEMENT]
    reads: set[str] = set()
    for plan_type, plan_reads, plan_statements in GRANTS_BY_PLAN:
        if any(isinstance(plan, plan_type) for plan in plans):
            reads |= plan_reads
            statements += plan_statements(lab)
    if reads:
        statements.append({"Sid": "Reads", "Effect": "Allow", "Action": sorted(reads), "Resource": "*"})
    return {"Version": "2012-10-17", "Statement": statements}
