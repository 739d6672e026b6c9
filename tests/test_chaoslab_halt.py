"""`halt` and `resume` through the CLI, with the real `kubernetes` client speaking HTTP to the stateful
stand-in in chaoslab_servers.KubeApiServer (GET list and one, merge PATCH, DELETE, a request log, and a
simulated controller that reports a paused experiment recovered RECOVERY_DELAY_S later), and the
stack's config through FakeStack.

The stand-in also misbehaves on request, as an API server having a bad day does: it answers 429 or
5xx (with Retry-After), drops connections, refuses every connection (closed), and creates or
resets chaos objects while a halt runs.

The server also holds chaos objects in kube-system, outside every fence here: each test that changes
something checks they are unchanged and were never requested.

Not covered, in every test: a real Chaos Mesh controller (how long it really takes to recover, its
finalizers, Schedules pausing their children, a Workflow's children being garbage-collected), a real
API server's RBAC, TLS and authentication, API Priority and Fairness deciding when to answer 429, and
the pulumi CLI (tests/test_chaoslab_stack.py).
"""

from __future__ import annotations

import io
import json
import re
import time
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml
from kubernetes import client

from chaoslab.cli import Environment, main
from chaoslab.cluster import HALT_ID_ANNOTATION, PAUSE_ANNOTATION, PAUSED_BY, PAUSED_BY_ANNOTATION, KubeAccess
from chaoslab.display import NullDisplay
from chaoslab.exit_codes import ExitCode
from chaoslab.halt import PAUSABLE, SPAWNERS
from chaoslab.kinds import EXPERIMENT_RESOURCES as EXPERIMENT_KINDS
from chaoslab.kinds import SCHEDULES, WORKFLOWS
from chaoslab_fakes import FakeStack
from chaoslab_servers import INJECTED as INJECTED_NOT_PAUSED
from chaoslab_servers import RECOVERY_DELAY_S, KubeApiServer, chaos_object

PROJECT_DIR = Path(__file__).resolve().parent.parent
CRDS = Path(__file__).resolve().parent / "data" / "chaos-mesh-crds"
SANDBOX = "chaos-sandbox"
OUTSIDE = "kube-system"
HALTED_KEY = "chaos-lab:halted"
INJECTED = {"Selected": "True", "AllInjected": "True", "AllRecovered": "False", "Paused": "False"}
RUNNING = {"Scheduled": "True", "Accomplished": "False"}
# Comfortably longer than the simulated controller takes, so only a broken wait times out.
WAIT = "5s"
# A failing API is retried until the deadline: short here, so a test that fails on purpose is quick.
SHORT_DEADLINE = "1s"
HALT_ID = re.compile(r"\d{8}T\d{6}\.\d{3}Z-[0-9a-f]{6}")


def _schedule_spec_fields() -> dict[str, Any]:
    """The fields of a Schedule's spec in the vendored Chaos Mesh 2.8.3 CRD: one per kind it can start."""
    crd = yaml.safe_load((CRDS / "chaos-mesh.org_schedules.yaml").read_text())
    [version] = crd["spec"]["versions"]
    return version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]


def _kind(plural: str) -> str:
    """The stand-in only tells a Workflow from the rest by kind; any other name does for the others."""
    return {WORKFLOWS: "Workflow", SCHEDULES: "Schedule"}.get(plural, plural.capitalize())


def _name(plural: str) -> str:
    return f"lab-{plural}"


def _fill(kube: KubeApiServer, namespace: str) -> None:
    """One running object of every kind halt stops: each experiment kind, a Schedule and a Workflow."""
    for plural in PAUSABLE:
        kube.put(plural, chaos_object(_kind(plural), _name(plural), namespace, INJECTED))
    kube.put(WORKFLOWS, chaos_object("Workflow", _name(WORKFLOWS), namespace, RUNNING))


@pytest.fixture
def kube(kube: KubeApiServer) -> KubeApiServer:
    """The shared API stand-in, holding every kind in the sandbox and, as bait, outside the fence."""
    _fill(kube, SANDBOX)
    _fill(kube, OUTSIDE)
    return kube


def _outside(kube: KubeApiServer) -> dict[str, Any]:
    return {plural: kube.get(OUTSIDE, plural, _name(plural)) for plural in (*PAUSABLE, WORKFLOWS)}


def _assert_fence_held(kube: KubeApiServer, before: dict[str, Any]) -> None:
    assert _outside(kube) == before
    assert not [request.path for request in kube.requests if f"/namespaces/{OUTSIDE}/" in request.path + "/"]


class Cli:
    """Runs `chaoslab` with the API client pointed at the test server, recording the KubeAccess it was given."""

    def __init__(self, kube: KubeApiServer, stack: FakeStack | None = None) -> None:
        self.kube = kube
        self.stack = stack
        self.accesses: list[KubeAccess] = []
        self.kubeconfigs: list[tuple[str, int]] = []  # text and mode of an exported kubeconfig, while in use

    def connect_kube(self, access: KubeAccess) -> Any:
        self.accesses.append(access)
        if access.kubeconfig is not None:
            self.kubeconfigs.append((access.kubeconfig.read_text(), access.kubeconfig.stat().st_mode & 0o777))
        return client.CustomObjectsApi(client.ApiClient(client.Configuration(host=self.kube.host)))

    def __call__(self, *argv: str) -> tuple[int, str, str]:
        stdout, stderr = io.StringIO(), io.StringIO()
        stack = self.stack
        env = Environment(
            stdout=stdout,
            stderr=stderr,
            stderr_isatty=False,
            connect_stack=lambda name, project_dir: _given(stack),
            connect_kube=self.connect_kube,
            display=NullDisplay(),
        )
        return main(list(argv), env), stdout.getvalue(), stderr.getvalue()

    def json(self, *argv: str) -> tuple[int, dict[str, Any]]:
        code, stdout, _ = self(*argv, "--json")
        return code, json.loads(stdout)


def _given(stack: FakeStack | None) -> FakeStack:
    assert stack is not None, "the test gave no stack"
    return stack


def _rows(outcome: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f"{row['resource']}/{row['name']}": row for row in outcome["objects"]}


def _annotations(kube: KubeApiServer, namespace: str, plural: str, name: str | None = None) -> dict[str, str]:
    chaos = kube.get(namespace, plural, name or _name(plural))
    assert chaos is not None
    return chaos["metadata"].get("annotations") or {}


def test_halt_pauses_every_kind_deletes_workflows_and_waits_for_recovery(kube: KubeApiServer) -> None:
    before = _outside(kube)

    code, outcome = Cli(kube).json("halt", "--namespace", SANDBOX, "--wait", WAIT)

    assert code == ExitCode.OK and outcome["ok"] is True
    rows = _rows(outcome)
    assert HALT_ID.fullmatch(outcome["halt_id"])
    for plural in PAUSABLE:
        assert _annotations(kube, SANDBOX, plural) == {
            PAUSE_ANNOTATION: "true",
            PAUSED_BY_ANNOTATION: PAUSED_BY,
            HALT_ID_ANNOTATION: outcome["halt_id"],
        }
        # A Schedule has no status to wait on: its experiments are waited on themselves.
        expected_state = "paused" if plural == "schedules" else "recovered"
        assert rows[f"{plural}/{_name(plural)}"] == {
            "resource": plural,
            "name": _name(plural),
            "action": "paused",
            "state": expected_state,
            "error": None,
        }
    assert kube.get(SANDBOX, WORKFLOWS, _name(WORKFLOWS)) is None
    assert rows[f"{WORKFLOWS}/{_name(WORKFLOWS)}"]["action"] == "deleted"
    assert rows[f"{WORKFLOWS}/{_name(WORKFLOWS)}"]["state"] == "gone"
    # The wait really waited for the controller, and the pauses went out before it.
    assert 0 < outcome["issued_s"] < RECOVERY_DELAY_S <= outcome["recovered_s"]
    patches = kube.requested("PATCH")
    assert len(patches) == len(PAUSABLE) and {request.content_type for request in patches} == {
        "application/merge-patch+json"
    }
    assert outcome["config"] is None  # no stack, no config change
    _assert_fence_held(kube, before)


def test_the_text_output_is_a_table_with_the_timings(kube: KubeApiServer) -> None:
    code, stdout, stderr = Cli(kube)("halt", "--namespace", SANDBOX, "--wait", WAIT)

    assert code == ExitCode.OK and stderr == ""
    lines = stdout.splitlines()
    assert re.fullmatch(f"halt: namespace {SANDBOX}, halt {HALT_ID.pattern}", lines[0])
    assert lines[1].split() == ["OBJECT", "ACTION", "STATE"]
    # The Schedule first: it was stopped first.
    assert lines[2].split() == [f"schedules/{_name('schedules')}", "paused", "paused"]
    assert [f"podchaos/{_name('podchaos')}", "paused", "recovered"] in [line.split() for line in lines]
    assert lines[-3].startswith("all requests issued ") and lines[-2].startswith("all recovered ")
    assert lines[-1].startswith("undo this halt only: chaoslab resume --halt-id ")
    assert "FAILED" not in stdout


def test_the_stack_decides_the_fence_and_the_kubeconfig_and_halted_is_set(kube: KubeApiServer) -> None:
    lab = "lab-sandbox"
    _fill(kube, lab)
    stack = FakeStack(
        {
            "chaos-lab:clusterProvider": "existing",
            "chaos-lab:sandboxNamespace": lab,
            "chaos-lab:kubeconfigContext": "kind-chaos",
        }
    )
    cli = Cli(kube, stack)
    sandbox_before = {plural: kube.get(SANDBOX, plural, _name(plural)) for plural in (*PAUSABLE, WORKFLOWS)}

    code, outcome = cli.json("halt", "--stack", "test", "--project-dir", str(PROJECT_DIR), "--wait", WAIT)

    assert code == ExitCode.OK
    assert outcome["namespace"] == lab and outcome["stack"] == "test"
    assert cli.accesses == [KubeAccess(None, "kind-chaos")]
    assert all(_annotations(kube, lab, plural)[PAUSE_ANNOTATION] == "true" for plural in PAUSABLE)
    # chaos-sandbox is only this project's default: this stack's fence is lab-sandbox.
    assert {plural: kube.get(SANDBOX, plural, _name(plural)) for plural in (*PAUSABLE, WORKFLOWS)} == sandbox_before
    assert stack.calls == [("set_config", HALTED_KEY, "true", True)]  # and no `up` without --up
    assert outcome["config"] == {"key": HALTED_KEY, "change": "set to true", "error": None}


class EksStack(FakeStack):
    """A stack that exports its kubeconfig, as the EKS stack does."""

    KUBECONFIG: ClassVar[dict[str, str]] = {"apiVersion": "v1", "kind": "Config", "current-context": "lab"}

    def outputs(self) -> dict[str, Any]:
        return {"kubeconfig": self.KUBECONFIG}


def test_an_eks_stack_is_reached_through_its_exported_kubeconfig(kube: KubeApiServer) -> None:
    """Not covered: the `aws eks get-token` exec plugin such a kubeconfig names."""
    cli = Cli(kube, EksStack({}))

    code, _ = cli.json("halt", "--stack", "test", "--project-dir", str(PROJECT_DIR), "--wait", WAIT)

    assert code == ExitCode.OK
    [access] = cli.accesses
    assert access.context is None and access.kubeconfig is not None
    assert cli.kubeconfigs == [(json.dumps(EksStack.KUBECONFIG), 0o600)]  # private: a kubeconfig is a credential
    assert not access.kubeconfig.exists()  # removed once the halt is done


def test_up_runs_last_and_only_when_asked(kube: KubeApiServer) -> None:
    stack = FakeStack({})

    code, outcome = Cli(kube, stack).json(
        "halt", "--stack", "test", "--project-dir", str(PROJECT_DIR), "--up", "--wait", WAIT
    )

    assert code == ExitCode.OK
    assert [call[0] for call in stack.calls] == ["set_config", "up"]
    assert outcome["update"]["result"] == "succeeded"


def test_a_failed_up_after_the_pause_exits_rollback_failed_with_the_pause_in_place(kube: KubeApiServer) -> None:
    stack = FakeStack({}, failing_up_calls=frozenset({1}))

    code, outcome = Cli(kube, stack).json(
        "halt", "--stack", "test", "--project-dir", str(PROJECT_DIR), "--up", "--wait", WAIT
    )

    assert code == ExitCode.ROLLBACK_FAILED and outcome["ok"] is False
    assert outcome["update"] == {"error": "RuntimeError: pulumi up #1 failed: error: update failed"}
    assert all(_annotations(kube, SANDBOX, plural)[PAUSE_ANNOTATION] == "true" for plural in PAUSABLE)


def test_objects_already_gone_are_fine(kube: KubeApiServer) -> None:
    """Not covered: an object that a real finalizer holds in deletion while halt runs."""
    # Gone between the list and the request: the API answers 404.
    for method, plural in (("PATCH", "podchaos"), ("DELETE", WORKFLOWS)):
        kube.vanish_when(method, KubeApiServer.path(SANDBOX, plural, _name(plural)), SANDBOX, plural, _name(plural))

    code, outcome = Cli(kube).json("halt", "--namespace", SANDBOX, "--wait", WAIT)

    assert code == ExitCode.OK and outcome["ok"] is True
    rows = _rows(outcome)
    for key in (f"podchaos/{_name('podchaos')}", f"{WORKFLOWS}/{_name(WORKFLOWS)}"):
        assert (rows[key]["action"], rows[key]["state"], rows[key]["error"]) == ("gone", "gone", None)


def test_an_api_error_on_one_object_is_reported_the_rest_still_pause_and_it_exits_rollback_failed(
    kube: KubeApiServer,
) -> None:
    before = _outside(kube)
    broken = KubeApiServer.path(SANDBOX, "networkchaos", _name("networkchaos"))
    kube.fail("PATCH", broken, 500)

    code, stdout, _ = Cli(kube)("halt", "--namespace", SANDBOX, "--wait", WAIT, "--deadline", SHORT_DEADLINE)

    assert code == ExitCode.ROLLBACK_FAILED
    row = next(
        line.split(maxsplit=1)
        for line in stdout.splitlines()
        if line.startswith(f"  networkchaos/{_name('networkchaos')} ")
    )
    assert row[1].startswith("pause failed: 500 Internal Server Error (retried until the 1 s deadline)")
    # The last lines say it failed, and name the object and the reason.
    assert stdout.split("halt FAILED:\n")[1].splitlines() == [
        f"  networkchaos/{_name('networkchaos')}: pause failed: 500 Internal Server Error (retried until the 1 s deadline)"
    ]
    assert len([request for request in kube.requested("PATCH") if request.path == broken]) > 1
    assert PAUSE_ANNOTATION not in _annotations(kube, SANDBOX, "networkchaos")
    others = [plural for plural in PAUSABLE if plural != "networkchaos"]
    assert all(_annotations(kube, SANDBOX, plural)[PAUSE_ANNOTATION] == "true" for plural in others)
    assert kube.get(SANDBOX, WORKFLOWS, _name(WORKFLOWS)) is None
    _assert_fence_held(kube, before)


def test_a_kind_that_cannot_be_listed_is_reported_and_one_not_installed_is_skipped(kube: KubeApiServer) -> None:
    kube.fail("GET", KubeApiServer.path(SANDBOX, "stresschaos"), 500)
    kube.fail("GET", KubeApiServer.path(SANDBOX, "jvmchaos"), 404)  # the CRD is not installed

    code, outcome = Cli(kube).json("halt", "--namespace", SANDBOX, "--wait", WAIT, "--deadline", SHORT_DEADLINE)

    assert code == ExitCode.ROLLBACK_FAILED and outcome["recovered_s"] is None
    rows = _rows(outcome)
    assert rows["stresschaos/*"]["action"] == "list failed"
    assert rows["stresschaos/*"]["error"].startswith("500 Internal Server Error (")
    assert not [key for key in rows if key.startswith("jvmchaos/")]
    assert _annotations(kube, SANDBOX, "podchaos")[PAUSE_ANNOTATION] == "true"


def test_an_object_not_recovered_in_time_is_reported_with_what_was_seen_and_exits_rollback_failed(
    kube: KubeApiServer,
) -> None:
    """Not covered: a controller that recovers some pods and not others (the conditions say only "not all")."""
    kube.recovery_delay_s = 60.0  # a controller that is down
    short_wait = "300ms"

    code, outcome = Cli(kube).json("halt", "--namespace", SANDBOX, "--wait", short_wait)

    assert code == ExitCode.ROLLBACK_FAILED and outcome["recovered_s"] is None
    row = _rows(outcome)[f"podchaos/{_name('podchaos')}"]
    assert (row["action"], row["state"]) == ("paused", "not recovered")
    assert row["error"].startswith(f"not recovered within {short_wait}; last seen: conditions {{")


def test_dry_run_lists_what_it_would_stop_and_changes_nothing(kube: KubeApiServer) -> None:
    stack = FakeStack({})
    sandbox_before = {plural: kube.get(SANDBOX, plural, _name(plural)) for plural in (*PAUSABLE, WORKFLOWS)}

    code, outcome = Cli(kube, stack).json(
        "halt", "--stack", "test", "--project-dir", str(PROJECT_DIR), "--dry-run", "--up"
    )

    assert code == ExitCode.OK and outcome["dry_run"] is True
    assert {row["action"] for row in outcome["objects"]} == {"would pause", "would delete"}
    assert len(outcome["objects"]) == len(PAUSABLE) + 1
    assert {request.method for request in kube.requests} == {"GET"}
    assert {plural: kube.get(SANDBOX, plural, _name(plural)) for plural in (*PAUSABLE, WORKFLOWS)} == sandbox_before
    assert stack.calls == [] and outcome["config"]["change"] == "would set to true"


def test_halting_twice_finds_everything_paused_and_sends_no_change(kube: KubeApiServer) -> None:
    cli = Cli(kube)
    cli.json("halt", "--namespace", SANDBOX, "--wait", WAIT)
    first = len(kube.requests)

    code, outcome = cli.json("halt", "--namespace", SANDBOX, "--wait", WAIT)

    assert code == ExitCode.OK
    assert {row["action"] for row in outcome["objects"]} == {"already paused"}
    assert len(outcome["objects"]) == len(PAUSABLE)  # the Workflow is gone, not listed again
    assert {request.method for request in kube.requests[first:]} == {"GET"}
    assert outcome["issued_s"] is None


def test_resume_unpauses_only_what_halt_paused_and_clears_halted(kube: KubeApiServer) -> None:
    """Not covered: Chaos Mesh injecting again once un-paused (the stand-in only drops the annotations)."""
    # Paused by hand before the halt: not chaoslab's to un-pause.
    theirs = chaos_object("PodChaos", "paused-by-hand", SANDBOX, INJECTED)
    theirs["metadata"]["annotations"] = {PAUSE_ANNOTATION: "true"}
    kube.put("podchaos", theirs)
    stack = FakeStack({})
    cli = Cli(kube, stack)
    cli.json("halt", "--stack", "test", "--project-dir", str(PROJECT_DIR), "--wait", WAIT)
    before = _outside(kube)
    assert stack.config[HALTED_KEY] == "true"

    code, outcome = cli.json("resume", "--stack", "test", "--project-dir", str(PROJECT_DIR))

    assert code == ExitCode.OK
    assert all(_annotations(kube, SANDBOX, plural) == {} for plural in PAUSABLE)
    assert _annotations(kube, SANDBOX, "podchaos", "paused-by-hand") == {PAUSE_ANNOTATION: "true"}
    rows = _rows(outcome)
    assert rows["podchaos/paused-by-hand"]["action"] == "left paused (not paused by chaoslab)"
    assert {rows[f"{plural}/{_name(plural)}"]["action"] for plural in PAUSABLE} == {"unpaused"}
    assert stack.calls[-1] == ("remove_config", HALTED_KEY, True) and HALTED_KEY not in stack.config
    _assert_fence_held(kube, before)


def test_resume_dry_run_changes_nothing(kube: KubeApiServer) -> None:
    stack = FakeStack({})
    cli = Cli(kube, stack)
    cli.json("halt", "--stack", "test", "--project-dir", str(PROJECT_DIR), "--wait", WAIT)
    changes = len(stack.calls)
    requests = len(kube.requests)

    code, outcome = cli.json("resume", "--stack", "test", "--project-dir", str(PROJECT_DIR), "--dry-run")

    assert code == ExitCode.OK
    assert {row["action"] for row in outcome["objects"]} == {"would unpause"}
    assert {request.method for request in kube.requests[requests:]} == {"GET"}
    assert len(stack.calls) == changes and stack.config[HALTED_KEY] == "true"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["halt"], "UsageError: one of the arguments --stack --namespace is required"),
        (
            ["halt", "--stack", "dev", "--namespace", SANDBOX],
            "UsageError: argument --namespace: not allowed with argument --stack",
        ),
        (
            ["halt", "--namespace", "Not_A_Namespace"],
            "UsageError: argument --namespace: got 'Not_A_Namespace'; accepted a namespace name",
        ),
        (["halt", "--namespace", SANDBOX, "--up"], "UsageError: --up runs `pulumi up`, so it needs --stack"),
        (
            ["halt", "--stack", "test", "--project-dir", str(PROJECT_DIR), "--context", "kind-chaos"],
            "UsageError: --context: with a stack, its chaos-lab:kubeconfigContext decides the context",
        ),
        (["resume", "--namespace", SANDBOX, "--up"], "UsageError: --up runs `pulumi up`, so it needs --stack"),
    ],
)
def test_usage_errors_change_nothing_and_exit_2(kube: KubeApiServer, argv: list[str], message: str) -> None:
    stack = FakeStack({})

    code, stdout, stderr = Cli(kube, stack)(*argv)

    assert code == ExitCode.USAGE and stdout == ""
    [line] = stderr.splitlines()
    assert line.startswith(message)
    assert stack.calls == [] and {request.method for request in kube.requests} <= {"GET"}


# The kinds halt stops.


def test_halt_stops_every_kind_the_schedule_crd_can_start() -> None:
    """Chaos Mesh 2.8.3's Schedule embeds one spec field per kind it can start: `podChaos`, ..., `workflow`."""
    fields = _schedule_spec_fields()
    schedulable = {name.lower() for name in fields if name.endswith("Chaos")}

    assert set(EXPERIMENT_KINDS) == schedulable
    assert "workflow" in fields and WORKFLOWS in SPAWNERS and SCHEDULES in SPAWNERS
    # The plural is the lower-cased kind, as each vendored CRD names it.
    for path in CRDS.glob("chaos-mesh.org_*.yaml"):
        names = yaml.safe_load(path.read_text())["spec"]["names"]
        assert names["plural"] in (*PAUSABLE, WORKFLOWS)
        if names["kind"].endswith("Chaos"):
            assert names["plural"] == names["kind"].lower()


# An API server having a bad day: retried within the deadline.


def _all_stopped(kube: KubeApiServer) -> bool:
    return (
        all(_annotations(kube, SANDBOX, plural).get(PAUSE_ANNOTATION) == "true" for plural in PAUSABLE)
        and kube.get(SANDBOX, WORKFLOWS, _name(WORKFLOWS)) is None
    )


@pytest.mark.parametrize("status", [503, 500, 429])
def test_the_first_requests_failing_are_retried_and_the_halt_holds(kube: KubeApiServer, status: int) -> None:
    failing = 12  # more than one round of parallel lists
    kube.fail_next(failing, status)

    code, outcome = Cli(kube).json("halt", "--namespace", SANDBOX, "--wait", WAIT)

    assert code == ExitCode.OK and outcome["ok"] is True and outcome["problems"] == []
    assert _all_stopped(kube)
    answered = [request.status for request in kube.requests]
    assert answered.count(status) == failing
    # Every kind whose list failed was listed again, and answered.
    failed_paths = {request.path for request in kube.requests if request.status == status}
    assert all(
        any(request.path == path and request.status == 200 for request in kube.requests) for path in failed_paths
    )


def test_failures_while_pausing_are_retried_until_every_object_is_paused(kube: KubeApiServer) -> None:
    kube.fail_next(5, 503, method="PATCH")
    kube.drop_next(3, method="PATCH")
    kube.drop_next(2, method="GET")

    code, outcome = Cli(kube).json("halt", "--namespace", SANDBOX, "--wait", WAIT)

    assert code == ExitCode.OK and outcome["ok"] is True, outcome["problems"]
    assert _all_stopped(kube)
    assert outcome["recovered_s"] is not None
    patches = kube.requested("PATCH")
    assert [request.status for request in patches].count(503) == 5
    assert [request.status for request in patches].count(None) == 3  # dropped, then sent again


def test_retry_after_is_honoured(kube: KubeApiServer) -> None:
    retry_after_s = 1
    kube.fail_next(1, 429, retry_after=str(retry_after_s), method="PATCH")

    code, outcome = Cli(kube).json("halt", "--namespace", SANDBOX, "--wait", WAIT)

    assert code == ExitCode.OK and outcome["ok"] is True
    patches = kube.requested("PATCH")
    [refused] = [request for request in patches if request.status == 429]
    [again] = [request for request in patches if request.path == refused.path and request.status == 200]
    assert again.at - refused.at >= retry_after_s


def test_retry_after_as_an_http_date_is_honoured(kube: KubeApiServer) -> None:
    """RFC 9110 allows an HTTP date; it has whole seconds, so the moment is at least a second away."""
    until = formatdate(time.time() + 2, usegmt=True)
    kube.fail_next(1, 503, retry_after=until, method="PATCH")

    code, outcome = Cli(kube).json("halt", "--namespace", SANDBOX, "--wait", WAIT)

    assert code == ExitCode.OK and outcome["ok"] is True
    [refused] = [request for request in kube.requested("PATCH") if request.status == 503]
    [again] = [request for request in kube.requested("PATCH") if request.path == refused.path and request.status == 200]
    assert again.at >= parsedate_to_datetime(until).timestamp()


def test_a_retry_after_past_the_deadline_fails_at_once_and_says_so(kube: KubeApiServer) -> None:
    kube.fail_next(1, 503, retry_after="120", method="PATCH")

    code, outcome = Cli(kube).json("halt", "--namespace", SANDBOX, "--wait", WAIT, "--deadline", SHORT_DEADLINE)

    assert code == ExitCode.ROLLBACK_FAILED and outcome["recovered_s"] is None
    [problem] = outcome["problems"]
    assert problem.endswith(
        ": pause failed: 503 Service Unavailable (the API asked to retry after 120 s, past the 1 s deadline)"
    )


def test_an_api_that_keeps_failing_is_a_failed_halt_naming_every_kind(kube: KubeApiServer) -> None:
    kube.fail_next(10**6, 503)

    code, stdout, _ = Cli(kube)("halt", "--namespace", SANDBOX, "--wait", WAIT, "--deadline", SHORT_DEADLINE)

    assert code == ExitCode.ROLLBACK_FAILED
    assert "all recovered" not in stdout
    failed = stdout.split("halt FAILED:\n")[1].splitlines()
    assert failed == [
        f"  {plural}/*: list failed: 503 Service Unavailable (retried until the 1 s deadline)"
        for plural in (*SPAWNERS, *EXPERIMENT_KINDS)
    ]
    # Retried, not given up at the first answer.
    assert len(kube.requests) > len(SPAWNERS) + len(EXPERIMENT_KINDS)


def test_an_api_server_that_is_down_is_a_failed_halt_with_a_null_recovery_time(kube: KubeApiServer) -> None:
    kube.close()  # nothing listens on its port any more: every connection is refused

    code, outcome = Cli(kube).json("halt", "--namespace", SANDBOX, "--wait", WAIT, "--deadline", SHORT_DEADLINE)

    assert code == ExitCode.ROLLBACK_FAILED and outcome["ok"] is False and outcome["recovered_s"] is None
    assert {row["name"] for row in outcome["objects"]} == {"*"}
    assert all(
        "Connection refused" in row["error"] and row["error"].endswith("(retried until the 1 s deadline)")
        for row in outcome["objects"]
    )
    assert len(outcome["problems"]) == len(SPAWNERS) + len(EXPERIMENT_KINDS)


# Objects created while a halt runs.


def test_an_object_created_after_the_list_is_found_by_the_next_pass_and_paused(kube: KubeApiServer) -> None:
    # Created the moment the first experiment is paused: after every experiment kind was listed.
    late = chaos_object("NetworkChaos", "spawned-late", SANDBOX, INJECTED_NOT_PAUSED)
    kube.spawn_when("PATCH", KubeApiServer.path(SANDBOX, "podchaos", _name("podchaos")), "networkchaos", late)

    code, outcome = Cli(kube).json("halt", "--namespace", SANDBOX, "--wait", WAIT)

    assert code == ExitCode.OK and outcome["ok"] is True
    row = _rows(outcome)["networkchaos/spawned-late"]
    assert (row["action"], row["state"]) == ("paused", "recovered")
    assert _annotations(kube, SANDBOX, "networkchaos", "spawned-late")[HALT_ID_ANNOTATION] == outcome["halt_id"]


def test_schedules_and_workflows_are_stopped_before_any_experiment_is_listed(kube: KubeApiServer) -> None:
    Cli(kube).json("halt", "--namespace", SANDBOX, "--wait", WAIT)

    order = [(request.method, request.path) for request in kube.requests]
    spawners_stopped = max(
        order.index(("PATCH", KubeApiServer.path(SANDBOX, SCHEDULES, _name(SCHEDULES)))),
        order.index(("DELETE", KubeApiServer.path(SANDBOX, WORKFLOWS, _name(WORKFLOWS)))),
    )
    first_experiment_list = min(
        order.index(("GET", KubeApiServer.path(SANDBOX, plural))) for plural in EXPERIMENT_KINDS
    )
    assert spawners_stopped < first_experiment_list


def test_an_object_that_keeps_coming_back_unpaused_fails_the_halt(kube: KubeApiServer) -> None:
    """A controller (or a concurrent `up`) that resets the pause: no pass ever finds the namespace clear."""
    path = KubeApiServer.path(SANDBOX, "podchaos", _name("podchaos"))
    for _ in range(200):
        kube.spawn_when(
            "GET",
            KubeApiServer.path(SANDBOX, "podchaos"),
            "podchaos",
            chaos_object("PodChaos", _name("podchaos"), SANDBOX, INJECTED_NOT_PAUSED),
        )

    code, outcome = Cli(kube).json("halt", "--namespace", SANDBOX, "--wait", WAIT, "--deadline", SHORT_DEADLINE)

    assert code == ExitCode.ROLLBACK_FAILED and outcome["ok"] is False and outcome["recovered_s"] is None
    assert outcome["problems"] == ["no full pass found the namespace clear within the 1s deadline"]
    assert len([request for request in kube.requested("PATCH") if request.path == path]) > 1


# Each halt has an identity; resume undoes one halt.


def test_resume_undoes_the_latest_halt_only_unless_asked_for_all(kube: KubeApiServer) -> None:
    cli = Cli(kube)
    _, first = cli.json("halt", "--namespace", SANDBOX, "--wait", WAIT)
    kube.put("podchaos", chaos_object("PodChaos", "after-first-halt", SANDBOX, INJECTED_NOT_PAUSED))
    _, second = cli.json("halt", "--namespace", SANDBOX, "--wait", WAIT)
    assert first["halt_id"] != second["halt_id"]
    assert _rows(second)["podchaos/after-first-halt"]["action"] == "paused"

    code, resumed = cli.json("resume", "--namespace", SANDBOX)

    assert code == ExitCode.OK and resumed["halt_id"] == second["halt_id"]
    assert _annotations(kube, SANDBOX, "podchaos", "after-first-halt") == {}
    assert _annotations(kube, SANDBOX, "podchaos")[HALT_ID_ANNOTATION] == first["halt_id"]
    assert _rows(resumed)[f"podchaos/{_name('podchaos')}"]["action"] == f"left paused (halt {first['halt_id']})"

    code, resumed = cli.json("resume", "--namespace", SANDBOX, "--halt-id", first["halt_id"], "--dry-run")
    assert code == ExitCode.OK and {row["action"] for row in resumed["objects"]} == {"would unpause"}

    kube.put("podchaos", chaos_object("PodChaos", "third", SANDBOX, INJECTED_NOT_PAUSED))
    cli.json("halt", "--namespace", SANDBOX, "--wait", WAIT)
    code, resumed = cli.json("resume", "--namespace", SANDBOX, "--all")
    assert code == ExitCode.OK and resumed["halt_id"] is None
    assert all(_annotations(kube, SANDBOX, plural) == {} for plural in PAUSABLE)
    assert _annotations(kube, SANDBOX, "podchaos", "third") == {}


def test_a_halt_id_that_is_not_one_is_a_usage_error(kube: KubeApiServer) -> None:
    code, stdout, stderr = Cli(kube)("resume", "--namespace", SANDBOX, "--halt-id", "latest")

    assert code == ExitCode.USAGE and stdout == "" and not kube.requests
    assert stderr.startswith("UsageError: argument --halt-id: got 'latest'; accepted a halt ID as halt prints it")
