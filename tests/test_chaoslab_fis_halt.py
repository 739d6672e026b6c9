"""`halt` and `resume` of a stack with FIS, through main(argv, env): FIS is moto's server on loopback behind
the safety-lever stand-in (moto has no lever; fis_servers.lever_server passes every other request to moto),
Kubernetes is the chaoslab_servers stand-in, and the stack a FakeStack with AWS outputs.

What this cannot show: that the real lever stops other accounts' principals' experiments as AWS documents
(https://docs.aws.amazon.com/fis/latest/userguide/safety-lever.html), and real FIS stop timings.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as kubernetes_client

from chaoslab.cli import Environment, main
from chaoslab.display import NullDisplay
from chaoslab.exit_codes import ExitCode
from chaoslab.run import AwsTiming
from chaoslab_fakes import FakeStack
from chaoslab_servers import KubeApiServer
from fis_servers import REGION, aws_client, fis_template, hold_experiments_running, lever_server
from moto_cloudwatch import moto_server

PROJECT_DIR = Path(__file__).resolve().parent.parent
OUR_LEVER_REASON = "chaos-lab stack test (chaoslab halt --fis-safety-lever)"


@pytest.fixture(scope="module")
def moto() -> Iterator[str]:
    with moto_server() as url:
        yield url


class AwsStack(FakeStack):
    def __init__(self, outputs: dict[str, Any]) -> None:
        super().__init__({})
        self._outputs = outputs

    def outputs(self) -> dict[str, Any]:
        return dict(self._outputs)


def _cli(kube: KubeApiServer, stack: FakeStack, fis_url: str, *argv: str) -> tuple[int, str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    env = Environment(
        stdout=stdout,
        stderr=stderr,
        stderr_isatty=False,
        connect_stack=lambda name, project_dir: stack,
        connect_kube=lambda access: kubernetes_client.CustomObjectsApi(
            kubernetes_client.ApiClient(kubernetes_client.Configuration(host=kube.host))
        ),
        connect_aws=lambda service, region: aws_client(service, fis_url),
        aws_timing=AwsTiming(poll_s=0.01, stop_deadline_s=5),
        display=NullDisplay(),
    )
    return main([*argv, "--project-dir", str(PROJECT_DIR)], env), stdout.getvalue(), stderr.getvalue()


def _state(moto: str, experiment_id: str) -> str:
    return aws_client("fis", moto).get_experiment(id=experiment_id)["experiment"]["state"]["status"]


def _start(moto: str, stack: str, name: str) -> tuple[str, str]:
    fis = aws_client("fis", moto)
    template = fis_template(fis, stack, name)
    return template, fis.start_experiment(experimentTemplateId=template, tags={"chaos-lab:stack": stack})["experiment"][
        "id"
    ]


def test_halt_stops_every_fis_run_of_the_stack_and_engages_the_lever_for_it(kube: KubeApiServer, moto: str) -> None:
    hold_experiments_running(moto, polls=1000)
    template, ours = _start(moto, "test", "zone-outage")
    _, theirs = _start(moto, "other", "zone-outage")
    stack = AwsStack({"region": REGION, "fisTemplateIds": {"zone-outage": template}})
    hold_experiments_running(moto, polls=1)
    with lever_server(upstream=moto) as (url, lever):
        code, stdout, stderr = _cli(kube, stack, url, "halt", "--stack", "test", "--fis-safety-lever", "--json")

        assert code == ExitCode.OK, stderr
        assert lever.state == {"status": "engaged", "reason": OUR_LEVER_REASON}
    outcome = json.loads(stdout)
    assert outcome["fis"]["experiments"] == {ours: "stopped"} and outcome["fis"]["errors"] == []
    assert outcome["fis"]["region"] == REGION and outcome["fis"]["safety_lever"].startswith("engaged by stack test")
    assert _state(moto, ours) == "stopped"
    hold_experiments_running(moto, polls=1000)
    assert _state(moto, theirs) != "stopped"  # another stack's run: the lever's business on real AWS, not halt's


def test_halt_dry_run_lists_the_runs_and_the_lever_and_changes_nothing(kube: KubeApiServer, moto: str) -> None:
    hold_experiments_running(moto, polls=1000)
    template, ours = _start(moto, "test", "node-group-loss")
    stack = AwsStack({"region": REGION, "fisTemplateIds": {"node-group-loss": template}})
    with lever_server(upstream=moto) as (url, lever):
        code, stdout, stderr = _cli(kube, stack, url, "halt", "--stack", "test", "--fis-safety-lever", "--dry-run")

        assert code == ExitCode.OK, stderr
        assert [call[0] for call in lever.calls] == ["GET"] and lever.state["status"] == "disengaged"
    assert (
        f"FIS ({REGION}): {ours} would stop" in stdout and "FIS safety lever: would engage (now disengaged)" in stdout
    )
    assert _state(moto, ours) not in ("stopping", "stopped")
    assert stack.calls == []


def test_a_failed_lever_call_is_named_and_the_runs_are_still_stopped(kube: KubeApiServer, moto: str) -> None:
    hold_experiments_running(moto, polls=1000)
    template, ours = _start(moto, "test", "spot-interruption")
    stack = AwsStack({"region": REGION, "fisTemplateIds": {"spot-interruption": template}})
    hold_experiments_running(moto, polls=1)
    # Straight to moto, which has no lever route: GetSafetyLever fails as an unknown operation would.
    code, stdout, _stderr = _cli(kube, stack, moto, "halt", "--stack", "test", "--fis-safety-lever")

    assert code == ExitCode.ROLLBACK_FAILED
    assert "halt FAILED:" in stdout and "FIS: could not engage the safety lever: " in stdout
    assert _state(moto, ours) == "stopped"


def test_resume_releases_the_lever_this_stack_engaged(kube: KubeApiServer, moto: str) -> None:
    stack = AwsStack({"region": REGION})
    with lever_server("engaged", OUR_LEVER_REASON, upstream=moto) as (url, lever):
        code, stdout, stderr = _cli(kube, stack, url, "resume", "--stack", "test", "--fis-safety-lever", "--json")

        assert code == ExitCode.OK, stderr
        assert lever.state["status"] == "disengaged"
    assert json.loads(stdout)["fis"]["safety_lever"] == "disengaged (it was engaged by stack test)"


def test_resume_leaves_someone_elses_lever_engaged_and_says_whose(kube: KubeApiServer, moto: str) -> None:
    stack = AwsStack({"region": REGION})
    with lever_server("engaged", "incident 4711: all hands", upstream=moto) as (url, lever):
        code, stdout, _ = _cli(kube, stack, url, "resume", "--stack", "test", "--fis-safety-lever")

        assert code == ExitCode.ERROR
        assert lever.state == {"status": "engaged", "reason": "incident 4711: all hands"}
        assert [call[0] for call in lever.calls] == ["GET"]
    assert "resume FAILED:" in stdout and "'incident 4711: all hands'" in stdout


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["halt", "--namespace", "chaos-sandbox", "--fis-safety-lever"],
            "UsageError: --fis-safety-lever: the lever is the account's, and only a stack records who engaged it; give --stack",
        ),
        (
            ["resume", "--stack", "test", "--fis-safety-lever"],
            "UsageError: --fis-safety-lever: stack test has no `region` output",
        ),
    ],
)
def test_the_lever_flag_without_a_stack_with_aws_is_refused_naming_it(
    kube: KubeApiServer, moto: str, argv: list[str], message: str
) -> None:
    stack = AwsStack({})
    code, _, stderr = _cli(kube, stack, moto, *argv)
    assert code == ExitCode.USAGE
    assert stderr.startswith(message)
    assert stack.calls == [] and kube.requests == []
