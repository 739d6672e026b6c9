"""IAM Roles for Service Accounts: an IAM role only one Kubernetes service account of this cluster can assume."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

STS_AUDIENCE = "sts.amazonaws.com"
ROLE_ARN_ANNOTATION = "eks.amazonaws.com/role-arn"


def trust_policy(oidc_provider_arn: str, oidc_issuer: str, namespace: str, service_account: str) -> str:
    """Trust policy JSON: web identity from this cluster's OIDC provider, for one service account only.

    Both conditions are needed: `sub` pins the service account, `aud` pins the token to STS, so a
    token minted for another audience cannot be replayed here.
    """
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Federated": oidc_provider_arn},
                    "Action": "sts:AssumeRoleWithWebIdentity",
                    "Condition": {
                        "StringEquals": {
                            f"{oidc_issuer}:sub": f"system:serviceaccount:{namespace}:{service_account}",
                            f"{oidc_issuer}:aud": STS_AUDIENCE,
                        }
                    },
                }
            ],
        }
    )


@dataclass
class IrsaRoleArgs:
    oidc_provider_arn: pulumi.Input[str]
    # The issuer without `https://`, as pulumi-eks's `oidc_issuer` output gives it.
    oidc_issuer: pulumi.Input[str]
    namespace: str
    service_account: str
    managed_policy_arns: Sequence[str] = ()
    policy_statements: Sequence[Mapping[str, Any]] = field(default_factory=tuple)


class IrsaRole(pulumi.ComponentResource):
    role_arn: pulumi.Output[str]
    service_account_annotations: pulumi.Output[dict[str, str]]

    def __init__(self, name: str, args: IrsaRoleArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("chaos-lab:irsa:IrsaRole", name, None, opts)
        if not args.managed_policy_arns and not args.policy_statements:
            raise ValueError(f"IRSA role {name} needs managed policy ARNs or policy statements")
        child = pulumi.ResourceOptions(parent=self)
        role = aws.iam.Role(
            f"{name}-role",
            assume_role_policy=pulumi.Output.all(args.oidc_provider_arn, args.oidc_issuer).apply(
                lambda arn_and_issuer: trust_policy(
                    arn_and_issuer[0], arn_and_issuer[1], args.namespace, args.service_account
                )
            ),
            opts=child,
        )
        for policy_arn in args.managed_policy_arns:
            aws.iam.RolePolicyAttachment(
                f"{name}-{policy_arn.rsplit('/', 1)[-1]}", role=role.name, policy_arn=policy_arn, opts=child
            )
        if args.policy_statements:
            aws.iam.RolePolicy(
                f"{name}-inline",
                role=role.id,
                policy=json.dumps({"Version": "2012-10-17", "Statement": list(args.policy_statements)}),
                opts=child,
            )

        self.role_arn = role.arn
        self.service_account_annotations = role.arn.apply(lambda arn: {ROLE_ARN_ANNOTATION: arn})
        self.register_outputs(
            {"role_arn": self.role_arn, "service_account_annotations": self.service_account_annotations}
        )
