"""IAM roles that trust a web identity (IRSA, GitHub's OIDC) must pin who and for whom."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import EnforcementLevel, ReportViolation, ResourceValidationArgs, ResourceValidationPolicy

from .props import items, mapping

ROLE_TYPE = "aws:iam/role:Role"
WEB_IDENTITY_ACTION = "sts:assumerolewithwebidentity"
# `sub` pins the identity (a service account, a repository and event); `aud` pins the token to STS,
# so a token minted for another audience cannot be replayed against the role.
REQUIRED_CLAIMS = ("sub", "aud")


def _as_list(value: Any) -> list[Any]:
    """IAM allows one value or a list of them almost everywhere."""
    if value is None:
        return []
    return [value] if isinstance(value, (str, Mapping)) else list(items(value))


def _trusts_web_identity(statement: Mapping[str, Any]) -> bool:
    actions = [str(action).lower() for action in _as_list(statement.get("Action"))]
    federated = mapping(statement.get("Principal")).get("Federated") is not None
    return statement.get("Effect") == "Allow" and (
        WEB_IDENTITY_ACTION in actions or (federated and any(action in ("*", "sts:*") for action in actions))
    )


def _trust_problems(policy: Any) -> Iterator[str]:
    try:
        document = json.loads(policy) if isinstance(policy, str) else policy
    except json.JSONDecodeError:
        yield "assumeRolePolicy: not JSON, so the trust cannot be checked"
        return
    for index, statement in enumerate(map(mapping, _as_list(mapping(document).get("Statement")))):
        if not _trusts_web_identity(statement):
            continue
        pinned = mapping(mapping(statement.get("Condition")).get("StringEquals"))
        missing = [claim for claim in REQUIRED_CLAIMS if not any(str(key).endswith(f":{claim}") and pinned[key] for key in pinned)]
        if missing:
            yield (
                f"assumeRolePolicy.Statement[{index}].Condition.StringEquals: missing {' and '.join(f'<issuer>:{claim}' for claim in missing)}; "
                "accepted a web-identity trust that pins both the subject and the audience"
            )


def validate_web_identity_pinned(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != ROLE_TYPE:
        return
    for problem in _trust_problems(args.props.get("assumeRolePolicy")):
        report_violation(problem, None)


web_identity_trust_pinned = ResourceValidationPolicy(
    name="web-identity-trust-pinned",
    description="Every IAM role that trusts a web identity requires StringEquals conditions on both the token's sub and aud claims.",
    validate=validate_web_identity_pinned,
    enforcement_level=EnforcementLevel.MANDATORY,
)
