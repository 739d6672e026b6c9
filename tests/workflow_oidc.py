"""Reads a GitHub Actions workflow the way the OIDC trust sees it: per job, the subjects it can present.

GitHub puts one `sub` claim in a job's OIDC token (docs.github.com, "About security hardening with
OpenID Connect", example subject claims):
- a job that names an environment: `repo:<owner>/<repo>:environment:<name>`, whatever the event;
- otherwise a pull_request run: `repo:<owner>/<repo>:pull_request`;
- otherwise the run's ref: `repo:<owner>/<repo>:ref:<ref>`; for events that run on the default branch
  (schedule, issue_comment, pull_request_target, workflow_run ...) that ref is main's, so anyone who
  can trigger such an event could act as main. Those events are kept as their own pseudo-subjects
  here, which no trust policy admits: a job they can start must assume no role at all.

Subjects are written without the `repo:<owner>/<repo>:` prefix, as in the trust templates. The
reading is conservative: a job `if:` narrows the events or the ref only when it is a plain
conjunction of `github.event_name == '...'` and `github.ref == '...'` tests.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

SUBJECT_PREFIX = "repo:<owner>/<repo>:"
AWS_CREDENTIALS_ACTION = "aws-actions/configure-aws-credentials@"
# The repository variables that hold each CI role's ARN.
ROLE_VARIABLES = {"AWS_PREVIEW_ROLE_ARN": "preview", "AWS_DEPLOY_ROLE_ARN": "deploy"}
# Secrets stored in a GitHub environment rather than the repository: only a job that enters the
# environment can read them, and only after the environment's branch rule and reviewers let it.
ENVIRONMENT_SECRETS = {"PULUMI_CONFIG_PASSPHRASE_PROD": "production"}
ANY_BRANCH = "ref:<any branch>"
CALLER = "<the calling workflow's subject>"

_SECRET = re.compile(r"secrets\.([A-Za-z_][A-Za-z0-9_]*)")
_ROLE_VARIABLE = re.compile(r"\$\{\{\s*vars\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_EVENT_TEST = re.compile(r"github\.event_name\s*==\s*'([^']*)'")
_REF_TEST = re.compile(r"github\.ref\s*==\s*'([^']*)'")


@dataclass(frozen=True)
class JobAccess:
    label: str
    events: frozenset[str]
    subjects: frozenset[str]
    roles: tuple[str, ...]
    secrets: frozenset[str]
    environment: str | None
    mints_token: bool
    inherits_secrets: bool


def triggers(document: Mapping[Any, Any]) -> dict[str, Any]:
    """`on:` as a mapping of event to filters; YAML 1.1 reads the bare key `on` as true."""
    on = document.get(True, document.get("on"))
    if isinstance(on, str):
        return {on: None}
    if isinstance(on, list):
        return dict.fromkeys(on)
    return dict(on or {})


def _conjunction(condition: Any) -> tuple[set[str] | None, str | None]:
    """The events and the ref a job's `if:` pins, or None where it pins nothing this reading trusts."""
    if not isinstance(condition, str) or "||" in condition or "!" in condition.replace("!=", ""):
        return None, None
    events = set(_EVENT_TEST.findall(condition)) or None
    refs = set(_REF_TEST.findall(condition))
    return events, refs.pop() if len(refs) == 1 else None


def _ref_subjects(event: str, filters: Any, pinned_ref: str | None) -> set[str]:
    if pinned_ref is not None:
        return {f"ref:{pinned_ref}"}
    if event == "push":
        filters = filters or {}
        if set(filters) - {"branches"}:  # tags, paths-ignore with no branch filter, branches-ignore ...
            return {ANY_BRANCH}
        return {f"ref:refs/heads/{branch}" for branch in filters.get("branches") or ["<any branch>"]}
    return {ANY_BRANCH}


def _environment(job: Mapping[str, Any]) -> str | None:
    environment = job.get("environment")
    return environment.get("name") if isinstance(environment, Mapping) else environment


def _mints_token(permissions: Any) -> bool:
    if permissions == "write-all":
        return True
    return isinstance(permissions, Mapping) and permissions.get("id-token") == "write"


def _role(expression: str) -> str:
    match = _ROLE_VARIABLE.fullmatch(expression.strip())
    return ROLE_VARIABLES.get(match.group(1), expression) if match else expression


def job_access(workflow_name: str, document: Mapping[Any, Any], job_id: str) -> JobAccess:
    job = document["jobs"][job_id]
    on = triggers(document)
    pinned_events, pinned_ref = _conjunction(job.get("if"))
    events = frozenset(event for event in on if pinned_events is None or event in pinned_events)
    environment = _environment(job)
    subjects: set[str] = set()
    for event in events:
        if environment:
            subjects.add(f"environment:{environment}")
        elif event == "pull_request":
            subjects.add("pull_request")
        elif event in ("push", "workflow_dispatch"):
            subjects |= _ref_subjects(event, on[event], pinned_ref)
        elif event == "workflow_call":
            subjects.add(CALLER)
        else:
            subjects.add(f"<{event}: the default branch ref, for whoever can trigger it>")
    roles = tuple(
        _role(str(step.get("with", {}).get("role-to-assume", "")))
        for step in job.get("steps", [])
        if str(step.get("uses", "")).startswith(AWS_CREDENTIALS_ACTION)
    )
    text = yaml.safe_dump({"job": job, "workflow env": document.get("env")})
    return JobAccess(
        label=f"{workflow_name}:{job_id}",
        events=events,
        subjects=frozenset(subjects),
        roles=roles,
        secrets=frozenset(_SECRET.findall(text)),
        environment=environment,
        mints_token=_mints_token(job.get("permissions", document.get("permissions"))),
        inherits_secrets=job.get("secrets") == "inherit",
    )


def trusted_subjects(trust_policy: Mapping[str, Any]) -> frozenset[str]:
    """The `sub` values a trust template admits, without the repository prefix."""
    subjects: set[str] = set()
    for statement in trust_policy["Statement"]:
        for key, value in statement.get("Condition", {}).get("StringEquals", {}).items():
            if key.endswith(":sub"):
                subjects |= {
                    subject.removeprefix(SUBJECT_PREFIX) for subject in ([value] if isinstance(value, str) else value)
                }
    return frozenset(subjects)


def access_problems(access: JobAccess, trust: Mapping[str, frozenset[str]]) -> list[str]:
    """What is wrong with one job, given each role's trusted subjects; [] when nothing is."""
    problems = []
    for role in access.roles:
        if role not in trust:
            problems.append(f"{access.label}: assumes {role!r}, which is not one of the CI roles {sorted(trust)}")
            continue
        untrusted = sorted(access.subjects - trust[role])
        if untrusted:
            problems.append(
                f"{access.label}: assumes the {role} role but can run as {untrusted}, which its trust does not admit"
            )
    if access.roles and not access.mints_token:
        problems.append(f"{access.label}: assumes a role without `id-token: write`")
    if access.mints_token and not access.roles:
        problems.append(f"{access.label}: can mint an OIDC token but assumes no role")
    for secret in sorted(access.secrets):
        environment = ENVIRONMENT_SECRETS.get(secret)
        if environment and access.environment != environment:
            problems.append(f"{access.label}: reads {secret}, a secret of the {environment} environment, outside it")
    if access.inherits_secrets:
        problems.append(f"{access.label}: passes every secret on with `secrets: inherit`")
    if "pull_request" in access.events:
        held = [role for role in access.roles if role != "preview"]
        held += sorted(secret for secret in access.secrets if secret in ENVIRONMENT_SECRETS)
        held += [f"environment {access.environment}"] if access.environment else []
        if held:
            problems.append(f"{access.label}: runs on pull_request yet holds {held}")
    return problems
