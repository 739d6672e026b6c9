"""IAM roles that trust a web identity (IRSA, GitHub's OIDC) must pin who and for whom, and say so exactly."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import EnforcementLevel, ReportViolation, ResourceValidationArgs, ResourceValidationPolicy

from .props import items, mapping

ROLE_TYPE = "aws:iam/role:Role"
WEB_IDENTITY_ACTION = "sts:AssumeRoleWithWebIdentity"
# `sub` pins the identity (a service account, a repository and event); `aud` pins the token to STS,
# so a token minted for another audience cannot be replayed against the role.
REQUIRED_CLAIMS = ("sub", "aud")
ANY_PRINCIPAL = "*"


def _as_list(value: Any) -> list[Any]:
    """IAM allows one value or a list of them almost everywhere."""
    if value is None:
        return []
    return [value] if isinstance(value, (str, Mapping)) else list(items(value))


def _matches_web_identity(pattern: Any) -> bool:
    """Whether an IAM action pattern covers AssumeRoleWithWebIdentity.

    Action names are case-insensitive, `*` stands for any run of characters and `?` for one
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_action.html).
    """
    regex = "".join(".*" if char == "*" else "." if char == "?" else re.escape(char) for char in str(pattern))
    return re.fullmatch(regex, WEB_IDENTITY_ACTION, flags=re.IGNORECASE) is not None


def _names_web_identity(statement: Mapping[str, Any]) -> bool:
    return any(str(action).lower() == WEB_IDENTITY_ACTION.lower() for action in _as_list(statement.get("Action")))


def _wildcard_actions(statement: Mapping[str, Any]) -> list[str]:
    """The statement's Action patterns that reach AssumeRoleWithWebIdentity without naming it."""
    return [
        str(action)
        for action in _as_list(statement.get("Action"))
        if str(action).lower() != WEB_IDENTITY_ACTION.lower() and _matches_web_identity(action)
    ]


def _not_action_admits_web_identity(statement: Mapping[str, Any]) -> bool:
    excluded = _as_list(statement.get("NotAction"))
    return "NotAction" in statement and not any(_matches_web_identity(action) for action in excluded)


def _may_be_federated(statement: Mapping[str, Any]) -> bool:
    principal = statement.get("Principal")
    return principal == ANY_PRINCIPAL or mapping(principal).get("Federated") is not None or "NotPrincipal" in statement


def _trusts_web_identity(statement: Mapping[str, Any]) -> bool:
    """An Allow statement that names the web-identity action, or reaches it through a pattern or NotAction
    with a principal a web identity can be."""
    if statement.get("Effect") != "Allow":
        return False
    reaches = bool(_wildcard_actions(statement)) or _not_action_admits_web_identity(statement)
    return _names_web_identity(statement) or (reaches and _may_be_federated(statement))


def _statements(policy: Any) -> list[Mapping[str, Any]]:
    """The trust policy's statements.

    Raises ValueError when the policy is not JSON.
    """
    try:
        document = json.loads(policy) if isinstance(policy, str) else policy
    except json.JSONDecodeError as error:
        raise ValueError("assumeRolePolicy: not JSON, so the trust cannot be checked") from error
    return [mapping(statement) for statement in _as_list(mapping(document).get("Statement"))]


# --- web-identity-trust-pinned --------------------------------------------------------------------


def _unpinned_claims(statements: list[Mapping[str, Any]]) -> Iterator[str]:
    for index, statement in enumerate(statements):
        if not _trusts_web_identity(statement):
            continue
        pinned = mapping(mapping(statement.get("Condition")).get("StringEquals"))
        missing = [
            claim
            for claim in REQUIRED_CLAIMS
            if not any(str(key).endswith(f":{claim}") and pinned[key] for key in pinned)
        ]
        if missing:
            yield (
                f"assumeRolePolicy.Statement[{index}].Condition.StringEquals: missing {' and '.join(f'<issuer>:{claim}' for claim in missing)}; "
                "accepted a web-identity trust that pins both the subject and the audience"
            )


def validate_web_identity_pinned(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != ROLE_TYPE:
        return
    try:
        statements = _statements(args.props.get("assumeRolePolicy"))
    except ValueError as error:
        report_violation(str(error), None)
        return
    for problem in _unpinned_claims(statements):
        report_violation(problem, None)


web_identity_trust_pinned = ResourceValidationPolicy(
    name="web-identity-trust-pinned",
    description="Every IAM role that trusts a web identity requires StringEquals conditions on both the token's sub and aud claims.",
    validate=validate_web_identity_pinned,
    enforcement_level=EnforcementLevel.MANDATORY,
)

# --- web-identity-trust-exact ---------------------------------------------------------------------


def _inexact_trusts(statements: list[Mapping[str, Any]]) -> Iterator[str]:
    for index, statement in enumerate(statements):
        if not _trusts_web_identity(statement):
            continue
        field = f"assumeRolePolicy.Statement[{index}]"
        wildcards = _wildcard_actions(statement)
        if wildcards:
            yield (
                f"{field}.Action: got {', '.join(repr(action) for action in wildcards)}, which also covers {WEB_IDENTITY_ACTION} "
                f"and every action added later; accepted {WEB_IDENTITY_ACTION} named exactly"
            )
        if _not_action_admits_web_identity(statement):
            yield (
                f"{field}.NotAction: allows every action it does not list, {WEB_IDENTITY_ACTION} included; "
                f"accepted Action: {WEB_IDENTITY_ACTION}"
            )
        if "NotPrincipal" in statement:
            yield (
                f"{field}.NotPrincipal: trusts every principal it does not list; accepted Principal.Federated naming the "
                "one identity provider"
            )


def validate_web_identity_exact(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != ROLE_TYPE:
        return
    try:
        statements = _statements(args.props.get("assumeRolePolicy"))
    except ValueError:
        return  # web-identity-trust-pinned reports an unreadable trust policy; once is enough.
    for problem in _inexact_trusts(statements):
        report_violation(problem, None)


web_identity_trust_exact = ResourceValidationPolicy(
    name="web-identity-trust-exact",
    description=f"Every IAM trust statement that admits {WEB_IDENTITY_ACTION} names that action exactly, with no action wildcard, NotAction or NotPrincipal.",
    validate=validate_web_identity_exact,
    enforcement_level=EnforcementLevel.MANDATORY,
)
