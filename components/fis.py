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

from collections.abc import Mapping, Sequence
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
        # from_input unwraps the nested Outputs at run time; its stub types only the outer value.
        self.template_ids = pulumi.Output.from_input(templates)  # type: ignore[arg-type]
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
        child = pulumi.ResourceOptions(parent=self)
        tags = {STACK_TAG: args.stack}
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=f"/chaos-lab/{args.stack}/fis",
            retention_in_days=LOG_RETENTION_DAYS,
            tags=tags,
            opts=child,
        )
        identity = aws.get_caller_identity_output(opts=pulumi.InvokeOptions(parent=self))
        region = aws.get_region_output(opts=pulumi.InvokeOptions(parent=self))
        partition = aws.get_partition_output(opts=pulumi.InvokeOptions(parent=self))
        scope = AwsScope(partition.partition, region.region, identity.account_id)
        role = aws.iam.Role(
            f"{name}-role",
            assume_role_policy=pulumi.Output.json_dumps(trust_policy(scope)),
            tags=tags,
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-permissions",
            role=role.id,
            policy=pulumi.Output.json_dumps(permissions_policy(declared, scope, args)),
            opts=child,
        )
        in_cluster = [experiment for experiment in declared if isinstance(experiment.plan, ChaosMeshThroughFis)]
        access: list[pulumi.Resource] = []
        if in_cluster:
            access = self._kubernetes_access(name, args, role, in_cluster)
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
                log_configuration=aws.fis.ExperimentTemplateLogConfigurationArgs(
                    log_schema_version=LOG_SCHEMA_VERSION,
                    cloudwatch_logs_configuration=aws.fis.ExperimentTemplateLogConfigurationCloudwatchLogsConfigurationArgs(
                        log_group_arn=log_group.arn.apply(lambda arn: f"{arn}:*"),
                    ),
                ),
                experiment_options=aws.fis.ExperimentTemplateExperimentOptionsArgs(
                    account_targeting="single-account", empty_target_resolution_mode="fail"
                ),
                tags={**tags, ENTRY_TAG: experiment.name},
                opts=pulumi.ResourceOptions(parent=self, depends_on=access),
            )
            templates[experiment.name] = resource.id
        self.role_arn = role.arn
        self.log_group_name = log_group.name
        return templates

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


def permissions_policy(declared: Sequence[FisExperiment], scope: AwsScope, args: FisExperimentsArgs) -> dict[str, Any]:
    """Only what the declared templates' actions need (fis-actions-reference.html), on the lab's resources.

    Describe and tag reads cannot be narrowed to a resource in IAM, so they stay on `*`; every action
    that changes something is limited to the lab's instances (by the cluster tag EKS puts on them), its
    node group, or its VPC.
    """
    lab_instances = {"StringEquals": {"aws:ResourceTag/eks:cluster-name": args.cluster_name}}
    in_lab_vpc = {"StringEquals": {"ec2:Vpc": scope.arn("ec2", pulumi.Output.concat("vpc/", args.vpc_id))}}
    instances = scope.arn("ec2", "instance/*")
    statements: list[dict[str, Any]] = [
        {
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
    ]
    plans = [experiment.plan for experiment in declared]
    reads: set[str] = set()
    if any(isinstance(plan, SpotInterruptionParameters) for plan in plans):
        reads.add("ec2:DescribeInstances")
        statements.append(
            {
                "Sid": "SpotInterruptions",
                "Effect": "Allow",
                "Action": ["ec2:SendSpotInstanceInterruptions"],
                "Resource": instances,
                "Condition": lab_instances,
            }
        )
    if any(isinstance(plan, NodeGroupLossParameters) for plan in plans):
        reads |= {"ec2:DescribeInstances", "tag:GetResources"}
        statements.append(
            {
                "Sid": "NodeGroup",
                "Effect": "Allow",
                "Action": ["eks:DescribeNodegroup"],
                "Resource": scope.arn("eks", pulumi.Output.concat("nodegroup/", args.cluster_name, "/*")),
            }
        )
        statements.append(
            {
                "Sid": "NodeGroupInstances",
                "Effect": "Allow",
                "Action": ["ec2:TerminateInstances"],
                "Resource": instances,
                "Condition": lab_instances,
            }
        )
    if any(isinstance(plan, ZoneOutageParameters) for plan in plans):
        reads |= {
            "ec2:DescribeNetworkAcls",
            "ec2:DescribeSubnets",
            "ec2:DescribeVpcs",
            "ec2:DescribeManagedPrefixLists",
            "tag:GetResources",
        }
        network_acls = scope.arn("ec2", "network-acl/*")
        statements.append(
            {
                "Sid": "CloneNetworkAcl",
                "Effect": "Allow",
                "Action": ["ec2:CreateNetworkAcl"],
                "Resource": [scope.arn("ec2", pulumi.Output.concat("vpc/", args.vpc_id)), network_acls],
            }
        )
        statements.append(
            {
                "Sid": "LabNetworkAcls",
                "Effect": "Allow",
                "Action": ["ec2:CreateNetworkAclEntry", "ec2:DeleteNetworkAcl", "ec2:CreateTags"],
                "Resource": network_acls,
                "Condition": in_lab_vpc,
            }
        )
        statements.append(
            {
                "Sid": "LabSubnets",
                "Effect": "Allow",
                "Action": ["ec2:ReplaceNetworkAclAssociation"],
                "Resource": [network_acls, scope.arn("ec2", "subnet/*")],
                "Condition": in_lab_vpc,
            }
        )
    if reads:
        statements.append({"Sid": "Reads", "Effect": "Allow", "Action": sorted(reads), "Resource": "*"})
    return {"Version": "2012-10-17", "Statement": statements}
