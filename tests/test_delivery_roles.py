"""The two CI roles: their trust and permission templates (delivery/iam/), read together with the workflows.

Every job that assumes a role must run only as a subject that role's trust admits, and no job a pull
request can start may hold the deploy role, prod's passphrase or the production environment.
"""

from __future__ import annotations

import copy
import dataclasses
import fnmatch
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from parliament import iam_definition

from delivery.iam import GITHUB_ISSUER, STS_AUDIENCE, RenderError, Target, main, render, template, template_names
from policy.rules.iam import ROLE_TYPE, web_identity_trust_exact, web_identity_trust_pinned
from policy_support import resource_args, violations
from pulumi_harness import FAKE_ACCOUNT, PROJECT_DIR
from workflow_oidc import (
    ANY_BRANCH,
    ENVIRONMENT_SECRETS,
    ROLE_VARIABLES,
    SUBJECT_PREFIX,
    JobAccess,
    access_problems,
    job_access,
    trusted_subjects,
)

WORKFLOWS_DIR = PROJECT_DIR / ".github" / "workflows"
TARGET = Target(account_id=FAKE_ACCOUNT, repository="example-org/chaos-lab", state_bucket="example-org-pulumi-state")
EXPECTED_SUBJECTS = {
    "preview": {"pull_request"},
    "deploy": {"ref:refs/heads/main", "environment:production"},
}


def trust() -> dict[str, frozenset[str]]:
    return {role: trusted_subjects(template(f"{role}-trust.json")) for role in ROLE_VARIABLES.values()}


def workflows() -> dict[str, dict[str, Any]]:
    return {path.name: yaml.safe_load(path.read_text()) for path in sorted(WORKFLOWS_DIR.glob("*.yml"))}


def accesses() -> dict[str, JobAccess]:
    """Every job of every workflow, by label ("deploy.yml:production")."""
    found = [
        job_access(name, document, job_id) for name, document in workflows().items() for job_id in document["jobs"]
    ]
    return {access.label: access for access in found}


def problems_of(name: str, document: dict[str, Any]) -> list[str]:
    return [
        problem
        for job_id in document["jobs"]
        for problem in access_problems(job_access(name, document, job_id), trust())
    ]


# --- the trust templates ------------------------------------------------------------------------------


@pytest.mark.parametrize("role", sorted(EXPECTED_SUBJECTS))
def test_each_role_trusts_exactly_its_subjects(role: str) -> None:
    assert trust()[role] == EXPECTED_SUBJECTS[role]


def test_no_subject_is_trusted_by_both_roles() -> None:
    preview, deploy = (trust()[role] for role in ("preview", "deploy"))
    assert preview.isdisjoint(deploy)


@pytest.mark.parametrize("role", sorted(EXPECTED_SUBJECTS))
def test_each_trust_pins_the_audience_and_the_exact_subjects(role: str) -> None:
    (statement,) = template(f"{role}-trust.json")["Statement"]
    assert statement["Principal"] == {"Federated": f"arn:aws:iam::<account-id>:oidc-provider/{GITHUB_ISSUER}"}
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    # StringEquals only: a StringLike would turn a '*' into "any branch, any pull request, any fork's name".
    assert list(statement["Condition"]) == ["StringEquals"]
    pinned = statement["Condition"]["StringEquals"]
    assert pinned[f"{GITHUB_ISSUER}:aud"] == STS_AUDIENCE
    subjects = pinned[f"{GITHUB_ISSUER}:sub"]
    for subject in [subjects] if isinstance(subjects, str) else subjects:
        assert subject.startswith(SUBJECT_PREFIX) and not set(subject) & set("*?"), subject


@pytest.mark.parametrize("rule", [web_identity_trust_pinned, web_identity_trust_exact], ids=lambda rule: rule.name)
@pytest.mark.parametrize("role", sorted(EXPECTED_SUBJECTS))
def test_each_rendered_trust_passes_the_packs_trust_rules(role: str, rule: Any) -> None:
    policy = render(f"{role}-trust.json", TARGET)
    assert violations(rule, resource_args(ROLE_TYPE, {"assumeRolePolicy": json.dumps(policy)})) == []


def test_the_pack_would_refuse_a_trust_without_the_audience() -> None:
    policy = render("preview-trust.json", TARGET)
    del policy["Statement"][0]["Condition"]["StringEquals"][f"{GITHUB_ISSUER}:aud"]
    assert (
        violations(web_identity_trust_pinned, resource_args(ROLE_TYPE, {"assumeRolePolicy": json.dumps(policy)})) != []
    )


# --- the permission templates -------------------------------------------------------------------------


def actions(policy: dict[str, Any]) -> list[str]:
    return [
        action
        for statement in policy["Statement"]
        for action in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])
    ]


def privileges(action: str) -> list[dict[str, Any]]:
    """Every IAM action an action pattern covers, with its access level, from the IAM catalog parliament
    bundles (AWS's Service Authorization Reference, as of parliament's release)."""
    service, pattern = action.split(":", 1)
    return [
        privilege
        for definition in iam_definition
        if definition["prefix"] == service
        for privilege in definition["privileges"]
        if fnmatch.fnmatchcase(privilege["privilege"].lower(), pattern.lower())
    ]


@pytest.mark.parametrize("name", [name for name in template_names() if name.endswith("-permissions.json")])
def test_every_action_a_permission_template_names_exists(name: str) -> None:
    assert [action for action in actions(template(name)) if not privileges(action)] == []


def test_the_preview_role_only_reads() -> None:
    levels = {
        privilege["access_level"]
        for action in actions(template("preview-permissions.json"))
        for privilege in privileges(action)
    }
    assert levels == {"List", "Read"}


def test_the_deploy_role_can_write() -> None:
    """The check above can tell a writer: the deploy role's catalog reaches beyond reads."""
    levels = {
        privilege["access_level"]
        for action in actions(template("deploy-permissions.json"))
        for privilege in privileges(action)
    }
    assert {"Write", "Permissions management"} <= levels


def state_keys(stack: str) -> list[str]:
    """The objects a DIY backend keeps for one stack of this project (pulumi/pulumi pkg/backend/diy:
    the checkpoint, plain or compressed, and the tags file beside it)."""
    project = yaml.safe_load((PROJECT_DIR / "Pulumi.yaml").read_text())["name"]
    base = f".pulumi/stacks/{project}/{stack}"
    return [f"{base}.json", f"{base}.json.gz", f"{base}.json.zst", f"{base}.pulumi-tags"]


def readable_objects(policy: dict[str, Any], keys: list[str]) -> list[str]:
    patterns = [
        resource.removeprefix("arn:aws:s3:::<state-bucket>/")
        for statement in policy["Statement"]
        if "s3:GetObject" in actions({"Statement": [statement]})
        for resource in ([statement["Resource"]] if isinstance(statement["Resource"], str) else statement["Resource"])
    ]
    # IAM's '*' matches any run of characters, '/' included, as fnmatch's does.
    return [key for key in keys if any(fnmatch.fnmatchcase(key, pattern) for pattern in patterns)]


def test_the_preview_role_reads_devs_state_and_not_prods() -> None:
    """Even encrypted, prod's state stays out of a pull request's reach; dev's is what the preview loads."""
    policy = template("preview-permissions.json")
    (previewed,) = {
        step["with"]["stack-name"]
        for step in workflows()["preview.yml"]["jobs"]["preview"]["steps"]
        if "stack-name" in step.get("with", {})
    }
    assert readable_objects(policy, [".pulumi/meta.yaml", *state_keys(previewed)]) == [
        ".pulumi/meta.yaml",
        *state_keys(previewed),
    ]
    assert readable_objects(policy, state_keys("prod")) == []


def test_the_deploy_role_reads_and_writes_every_stacks_state() -> None:
    policy = template("deploy-permissions.json")
    assert readable_objects(policy, state_keys("dev") + state_keys("prod")) == state_keys("dev") + state_keys("prod")
    assert {"s3:PutObject", "s3:DeleteObject"} <= set(actions(policy))


def test_the_deploy_role_passes_roles_only_to_eks_and_ec2() -> None:
    (pass_role,) = [
        statement
        for statement in template("deploy-permissions.json")["Statement"]
        if "iam:PassRole" in actions({"Statement": [statement]})
    ]
    assert pass_role["Condition"] == {
        "StringEquals": {"iam:PassedToService": ["eks.amazonaws.com", "ec2.amazonaws.com"]}
    }


# --- the renderer -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", template_names())
def test_rendering_fills_every_placeholder(name: str) -> None:
    rendered = json.dumps(render(name, TARGET))
    assert "<" not in rendered and ">" not in rendered


def test_rendering_names_the_repository_in_the_subject() -> None:
    assert trusted_subjects(render("preview-trust.json", TARGET)) == {f"repo:{TARGET.repository}:pull_request"}


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("account_id", "12345", "--account-id: got '12345'; accepted 12 digits"),
        ("repository", "example-org/*", "--repository: got 'example-org/*'; accepted owner/name as GitHub spells it"),
        ("repository", "example-org", "--repository: got 'example-org'; accepted owner/name as GitHub spells it"),
        ("state_bucket", "Bucket_Name", "--state-bucket: got 'Bucket_Name'; accepted an S3 bucket name"),
    ],
)
def test_bad_values_are_refused_with_the_argument_named(field: str, value: str, message: str) -> None:
    with pytest.raises(RenderError, match=message.replace("*", r"\*")):
        render("preview-trust.json", dataclasses.replace(TARGET, **{field: value}))


def test_the_command_writes_one_file_per_template(tmp_path: Path) -> None:
    code = main(
        [
            "--account-id",
            TARGET.account_id,
            "--repository",
            TARGET.repository,
            "--state-bucket",
            TARGET.state_bucket,
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 0
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(template_names())
    assert json.loads((tmp_path / "deploy-trust.json").read_text()) == render("deploy-trust.json", TARGET)


def test_the_command_refuses_bad_values_before_writing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    code = main(
        [
            "--account-id",
            "1",
            "--repository",
            TARGET.repository,
            "--state-bucket",
            TARGET.state_bucket,
            "--out",
            str(out),
        ]
    )
    assert (code, out.exists()) == (2, False)
    assert "--account-id: got '1'; accepted 12 digits" in capsys.readouterr().err


# --- the workflows, read against the trust ------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(workflows()))
def test_every_workflow_job_is_within_its_roles_trust(name: str) -> None:
    assert problems_of(name, workflows()[name]) == []


def test_each_role_is_assumed_where_its_subjects_arise() -> None:
    """The roles are in use: dev's and prod's deploys and the pull-request preview."""
    assumed = {(label, role) for label, access in accesses().items() for role in access.roles}
    assert assumed == {
        ("preview.yml:preview", "preview"),
        ("deploy.yml:dev", "deploy"),
        ("deploy.yml:production", "deploy"),
    }


def test_the_prod_passphrase_is_read_only_in_the_production_job() -> None:
    readers = {label for label, access in accesses().items() if ENVIRONMENT_SECRETS.keys() & access.secrets}
    assert readers == {"deploy.yml:production"}


def test_the_subjects_read_from_the_workflows() -> None:
    """What the reading makes of the real jobs, so a change to it shows here first."""
    subjects = {label: access.subjects for label, access in accesses().items()}
    assert subjects["preview.yml:preview"] == {"pull_request"}
    assert subjects["deploy.yml:dev"] == {"ref:refs/heads/main"}
    assert subjects["deploy.yml:production"] == {"environment:production"}


# Each case edits the real workflows one way and must be caught: the checks above are not vacuous.


def edited(name: str, job_id: str, **changes: Any) -> dict[str, Any]:
    document = copy.deepcopy(workflows()[name])
    document["jobs"][job_id].update(changes)
    return document


def with_role(document: dict[str, Any], job_id: str, variable: str) -> dict[str, Any]:
    for step in document["jobs"][job_id]["steps"]:
        if "role-to-assume" in step.get("with", {}):
            step["with"]["role-to-assume"] = f"${{{{ vars.{variable} }}}}"
    return document


def test_a_preview_with_the_deploy_role_is_caught() -> None:
    problems = problems_of(
        "preview.yml", with_role(copy.deepcopy(workflows()["preview.yml"]), "preview", "AWS_DEPLOY_ROLE_ARN")
    )
    assert problems == [
        "preview.yml:preview: assumes the deploy role but can run as ['pull_request'], which its trust does not admit",
        "preview.yml:preview: runs on pull_request yet holds ['deploy']",
    ]


def test_a_preview_with_the_prod_passphrase_is_caught() -> None:
    document = edited(
        "preview.yml", "preview", env={"PULUMI_CONFIG_PASSPHRASE": "${{ secrets.PULUMI_CONFIG_PASSPHRASE_PROD }}"}
    )
    assert problems_of("preview.yml", document) == [
        "preview.yml:preview: reads PULUMI_CONFIG_PASSPHRASE_PROD, a secret of the production environment, outside it",
        "preview.yml:preview: runs on pull_request yet holds ['PULUMI_CONFIG_PASSPHRASE_PROD']",
    ]


def test_a_preview_in_the_production_environment_is_caught() -> None:
    """Its subject would match the deploy trust; only the environment's branch rule would stop it."""
    document = with_role(edited("preview.yml", "preview", environment="production"), "preview", "AWS_DEPLOY_ROLE_ARN")
    assert problems_of("preview.yml", document) == [
        "preview.yml:preview: runs on pull_request yet holds ['deploy', 'environment production']"
    ]


def test_a_dev_deploy_that_any_dispatch_can_start_is_caught() -> None:
    """A dispatch may name any branch: without the ref test the dev job could deploy a branch as main's role."""
    problems = problems_of(
        "deploy.yml",
        edited(
            "deploy.yml", "dev", **{"if": "github.event_name == 'push' || github.event_name == 'workflow_dispatch'"}
        ),
    )
    assert problems == [
        f"deploy.yml:dev: assumes the deploy role but can run as ['{ANY_BRANCH}'], which its trust does not admit"
    ]


def test_a_deploy_on_a_pull_request_target_is_caught() -> None:
    """pull_request_target runs on main's ref, so its token would pass a trust that names main."""
    document = copy.deepcopy(workflows()["deploy.yml"])
    document[True]["pull_request_target"] = None
    document["jobs"]["dev"]["if"] = "github.event_name == 'pull_request_target'"
    assert problems_of("deploy.yml", document) == [
        "deploy.yml:dev: assumes the deploy role but can run as "
        "['<pull_request_target: the default branch ref, for whoever can trigger it>'], which its trust does not admit"
    ]


def test_a_token_without_a_role_and_a_role_without_a_token_are_caught() -> None:
    document = edited("deploy.yml", "dev", permissions={"contents": "read"})
    document["jobs"]["test"]["permissions"] = {"contents": "read", "id-token": "write"}
    assert problems_of("deploy.yml", document) == [
        "deploy.yml:test: can mint an OIDC token but assumes no role",
        "deploy.yml:dev: assumes a role without `id-token: write`",
    ]


def test_inherited_secrets_are_caught() -> None:
    assert problems_of("deploy.yml", edited("deploy.yml", "test", secrets="inherit")) == [
        "deploy.yml:test: passes every secret on with `secrets: inherit`"
    ]
