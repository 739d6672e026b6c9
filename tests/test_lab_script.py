"""scripts/lab, the quickstart's first command, run for real against stand-in `pulumi` and `aws` commands.

The stand-ins record how they were called; what the real pulumi CLI then does is not covered here
(it cannot be installed on this machine).
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from pulumi_harness import PROJECT_DIR

# `pulumi install` creates ./venv as the real CLI does; its python records the pip call scripts/lab makes.
FAKE_PULUMI = """#!/bin/sh
echo "pulumi $*" >> "$CALLS"
if [ "$1" = install ]; then
  mkdir -p venv/bin
  printf '#!/bin/sh\\necho "venv/bin/python $*" >> "$CALLS"\\n' > venv/bin/python
  chmod +x venv/bin/python
fi
[ "$1" = whoami ] && [ -z "${LOGGED_IN:-}" ] && { echo "error: backend did not answer" >&2; exit 1; }
exit 0
"""
FAKE_AWS = """#!/bin/sh
echo "aws $*" >> "$CALLS"
[ -n "${AWS_BROKEN:-}" ] && exit 255
exit 0
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the script and the stack files, so the local state folder lands in a scratch dir."""
    (tmp_path / "scripts").mkdir()
    shutil.copy2(PROJECT_DIR / "scripts" / "lab", tmp_path / "scripts" / "lab")
    for stack_file in PROJECT_DIR.glob("Pulumi*.yaml"):
        shutil.copy2(stack_file, tmp_path)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in (("pulumi", FAKE_PULUMI), ("aws", FAKE_AWS)):
        path = bin_dir / name
        path.write_text(body)
        path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return tmp_path


def run_script(
    project: Path, *args: str, without: tuple[str, ...] = (), **env: str
) -> tuple[subprocess.CompletedProcess, list[str]]:
    for name in without:
        (project / "bin" / name).unlink()
    calls = project / "calls.log"
    environment = {
        "PATH": f"{project / 'bin'}:/usr/bin:/bin",
        "HOME": str(project),
        "CALLS": str(calls),
        **env,
    }
    result = subprocess.run(
        [str(project / "scripts" / "lab"), *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return result, calls.read_text().splitlines() if calls.exists() else []


def test_up_logs_in_to_a_local_backend_when_never_logged_in_and_explains_the_passphrase(project: Path):
    result, calls = run_script(project, "up", "dev", "--yes")
    assert result.returncode == 0, result.stderr
    assert calls[-6:] == [
        "pulumi whoami",
        f"pulumi login file://{project}/.pulumi-state",
        "pulumi install",
        "venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-cli.txt",
        "pulumi stack select --create dev",
        "pulumi up --stack dev --yes",
    ]
    assert "aws sts get-caller-identity" in calls
    assert (project / ".pulumi-state").is_dir()
    assert "passphrase" in result.stderr and "PULUMI_CONFIG_PASSPHRASE" in result.stderr


def test_up_keeps_the_backend_you_are_logged_in_to(project: Path):
    result, calls = run_script(project, "up", LOGGED_IN="1", PULUMI_CONFIG_PASSPHRASE="x")
    assert result.returncode == 0, result.stderr
    assert not any(call.startswith("pulumi login") for call in calls)
    assert calls[-1] == "pulumi up --stack dev"
    assert not (project / ".pulumi-state").exists()


def test_an_unreachable_backend_you_are_logged_in_to_stops_the_script(project: Path):
    (project / ".pulumi").mkdir()
    (project / ".pulumi" / "credentials.json").write_text('{"current": "https://api.pulumi.com", "accounts": {}}')
    result, calls = run_script(project, "up", "kind")
    assert result.returncode == 2
    assert "'pulumi whoami' failed: error: backend did not answer" in result.stderr
    assert calls == ["pulumi whoami"]
    assert not (project / ".pulumi-state").exists()


def test_options_without_a_stack_go_to_pulumi_for_dev(project: Path):
    result, calls = run_script(project, "up", "--yes", LOGGED_IN="1")
    assert result.returncode == 0, result.stderr
    assert calls[-1] == "pulumi up --stack dev --yes"


def test_kind_stack_needs_no_aws(project: Path):
    result, calls = run_script(project, "up", "kind", without=("aws",))
    assert result.returncode == 0, result.stderr
    assert calls[-1].startswith("pulumi up --stack kind")


def test_eks_stack_without_aws_cli_stops_before_pulumi(project: Path):
    result, calls = run_script(project, "up", "dev", without=("aws",))
    assert result.returncode == 2 and "AWS CLI is not installed" in result.stderr
    assert calls == []


def test_eks_stack_without_credentials_stops_before_pulumi(project: Path):
    result, calls = run_script(project, "up", "dev", AWS_BROKEN="1")
    assert result.returncode == 2 and "no working AWS credentials" in result.stderr
    assert not any(call.startswith("pulumi") for call in calls)


def test_down_destroys_without_creating_a_stack(project: Path):
    result, calls = run_script(project, "down", "dev", "--yes")
    assert result.returncode == 0, result.stderr
    assert calls[-2:] == ["pulumi stack select dev", "pulumi destroy --stack dev --yes"]


def test_usage_and_unknown_stacks_are_explained(project: Path):
    result, _ = run_script(project, "launch")
    assert result.returncode == 2 and "usage: scripts/lab up|preview|down" in result.stderr
    result, _ = run_script(project, "up", "staging")
    assert result.returncode == 2 and "no Pulumi.staging.yaml" in result.stderr and "dev" in result.stderr


def test_without_pulumi_says_where_to_get_it(project: Path):
    result, _ = run_script(project, "up", "kind", without=("pulumi",))
    assert result.returncode == 2 and "pulumi CLI is not installed" in result.stderr


def test_script_is_executable_in_the_repository():
    assert os.access(PROJECT_DIR / "scripts" / "lab", os.X_OK) and os.access(PROJECT_DIR / "scripts" / "test", os.X_OK)
