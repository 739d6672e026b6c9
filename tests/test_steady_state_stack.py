"""The in-cluster steady state as the stack declares it, under Pulumi mocks: the prober's namespace and pod
(restricted Pod Security, pinned image, hash-locked packages, code by content), its IRSA role (the policy
pack's rules, PutMetricData in one namespace only), the alarms, the dashboard and the outputs; nothing on AWS
for an existing cluster; bad `steadyState` refused before any resource.

What mocks cannot show: that EKS's pod identity webhook injects the web-identity token, that the image
digest is still served (see docs/steady-state.md), and how CloudWatch renders the dashboard.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import pytest

import k8s_schema
from chaoslab.config.aws_facts import FACTS_AS_OF
from chaoslab.config.model import RESERVED_NAMESPACES, SteadyStateConfig, parse_config
from chaoslab.config.topology import frontend_url
from chaoslab.prober import figures
from chaoslab.samples import ErrorKind
from components import steady_state
from components.irsa import ROLE_ARN_ANNOTATION
from pod_security import restricted_violations
from policy.rules.iam import ROLE_TYPE, web_identity_trust_pinned
from policy_support import registration_args, violations
from pulumi_harness import PROJECT_DIR, Deployment, ProgramFailed, run_lab

COMPONENT = "chaos-lab:steady_state:SteadyState"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
NAMESPACE = "kubernetes:core/v1:Namespace"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
SERVICE_ACCOUNT = "kubernetes:core/v1:ServiceAccount"
SERVICE = "kubernetes:core/v1:Service"
METRIC_ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
COMPOSITE_ALARM = "aws:cloudwatch/compositeAlarm:CompositeAlarm"
DASHBOARD = "aws:cloudwatch/dashboard:Dashboard"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
TARGET = frontend_url("chaos-sandbox", "/api/")
# pip's hash-checking mode: every requirement pinned with == and carrying at least one sha256.
_LOCKED_REQUIREMENT = re.compile(r"^(?P<name>[A-Za-z0-9._-]+)==(?P<version>\S+) \\$")
_SHA256 = re.compile(r"^sha256:[0-9a-f]{64}$")


@pytest.fixture(scope="module")
def dev() -> Deployment:
    return run_lab("dev")


@pytest.fixture(scope="module")
def kind() -> Deployment:
    return run_lab("kind", {"steadyState.enabled": True})


def children(deployment: Deployment) -> list[Any]:
    component = deployment.one(COMPONENT)
    found, pending = [], [component.urn]
    while pending:
        parent = pending.pop()
        for item in deployment.registrations:
            if item.parent == parent:
                found.append(item)
                pending.append(item.urn)
    return found


def manifest(registration: Any) -> dict[str, Any]:
    return k8s_schema.to_manifest(registration.type, registration.inputs)


def pod_spec(deployment: Deployment) -> dict[str, Any]:
    return manifest(deployment.one(DEPLOYMENT, "steady-state-prober"))["spec"]["template"]["spec"]


def prober_container(deployment: Deployment) -> dict[str, Any]:
    return next(container for container in pod_spec(deployment)["containers"] if container["name"] == "prober")


def init_container(deployment: Deployment) -> dict[str, Any]:
    (container,) = pod_spec(deployment)["initContainers"]
    return container


# --- placement and Pod Security --------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["dev", "kind"])
def test_every_kubernetes_object_passes_the_openapi_schema(stack, dev, kind):
    deployment = dev if stack == "dev" else kind
    checked, errors = k8s_schema.check_registrations(children(deployment))
    assert errors == []
    assert sorted(set(checked)) == sorted({DEPLOYMENT, NAMESPACE, CONFIG_MAP, SERVICE_ACCOUNT, SERVICE})


def test_the_prober_lives_in_its_own_namespace_outside_the_sandbox_that_chaos_may_never_target(dev):
    namespace = manifest(dev.one(NAMESPACE, "steady-state-namespace"))
    assert namespace["metadata"]["name"] == steady_state.NAMESPACE != "chaos-sandbox"
    assert "chaos-mesh.org/inject" not in (namespace["metadata"].get("annotations") or {})
    assert steady_state.NAMESPACE in RESERVED_NAMESPACES
    for item in children(dev):
        if item.type.startswith("kubernetes:") and item.type != NAMESPACE:
            assert manifest(item)["metadata"]["namespace"] == steady_state.NAMESPACE, item.name


def test_the_namespace_enforces_the_restricted_profile_pinned_to_the_cluster_version(dev):
    labels = manifest(dev.one(NAMESPACE, "steady-state-namespace"))["metadata"]["labels"]
    version = f"v{parse_config({}, stack='dev', today=FACTS_AS_OF).kubernetes_version}"
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert labels["pod-security.kubernetes.io/enforce-version"] == version


@pytest.mark.parametrize("stack", ["dev", "kind"])
def test_the_pod_is_admitted_by_the_restricted_profile(stack, dev, kind):
    assert restricted_violations(pod_spec(dev if stack == "dev" else kind)) == []


def test_the_restricted_checker_refuses_what_the_profile_refuses(dev):
    """The checker above would pass anything if it checked nothing: each change below must be caught."""
    spec = pod_spec(dev)
    root = json.loads(json.dumps(spec))
    root["securityContext"]["runAsUser"] = 0
    escalating = json.loads(json.dumps(spec))
    escalating["containers"][0]["securityContext"]["allowPrivilegeEscalation"] = True
    host_path = json.loads(json.dumps(spec))
    host_path["volumes"].append({"name": "host", "hostPath": {"path": "/"}})
    unconfined = json.loads(json.dumps(spec))
    unconfined["initContainers"][0]["securityContext"]["seccompProfile"] = {"type": "Unconfined"}
    capable = json.loads(json.dumps(spec))
    capable["containers"][0]["securityContext"]["capabilities"] = {"add": ["NET_RAW"]}
    for changed in (root, escalating, host_path, unconfined, capable):
        assert restricted_violations(changed) != []


def test_the_root_filesystem_is_read_only_and_the_writable_paths_are_empty_dirs(dev):
    spec = pod_spec(dev)
    volumes = {volume["name"]: volume for volume in spec["volumes"]}
    for container in (*spec["initContainers"], *spec["containers"]):
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        for mount in container["volumeMounts"]:
            if not mount.get("readOnly"):
                assert "emptyDir" in volumes[mount["name"]], (container["name"], mount)
    assert {mount["mountPath"] for mount in prober_container(dev)["volumeMounts"] if not mount.get("readOnly")} == {
        steady_state.TMP_DIR
    }


# --- every byte pinned -------------------------------------------------------------------------------


def test_the_image_is_a_stock_python_image_pinned_by_digest(dev):
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", steady_state.PYTHON_IMAGE_DIGEST)
    assert f"{steady_state.PYTHON_IMAGE_REPOSITORY}@{steady_state.PYTHON_IMAGE_DIGEST}" == steady_state.PYTHON_IMAGE
    images = {container["image"] for container in (*pod_spec(dev)["initContainers"], *pod_spec(dev)["containers"])}
    assert images == {steady_state.PYTHON_IMAGE}


def locked_requirements() -> dict[str, list[str]]:
    requirements: dict[str, list[str]] = {}
    current = None
    for line in (PROJECT_DIR / steady_state.LOCK_FILE).read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        match = _LOCKED_REQUIREMENT.match(line)
        if match:
            current = match["name"]
            requirements[current] = []
        else:
            assert current is not None and stripped.startswith("--hash="), line
            requirements[current].append(stripped.removeprefix("--hash=").rstrip(" \\"))
    return requirements


def test_the_lock_pins_every_package_by_version_and_sha256():
    requirements = locked_requirements()
    assert {"boto3", "botocore", "requests", "urllib3"} <= set(requirements)
    for name, hashes in requirements.items():
        assert hashes and all(_SHA256.fullmatch(item) for item in hashes), name


def test_the_init_container_installs_exactly_the_locked_wheels_into_an_empty_dir(dev):
    container = init_container(dev)
    command = container["command"]
    assert command[:4] == ["python", "-m", "pip", "install"]
    for flag in ("--require-hashes", "--no-deps", "--only-binary=:all:"):
        assert flag in command
    lock_path = command[command.index("-r") + 1]
    target = command[command.index("--target") + 1]
    mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
    volumes = {volume["name"]: volume for volume in pod_spec(dev)["volumes"]}
    assert "emptyDir" in volumes[mounts[target]]
    lock_volume = volumes[mounts[str(Path(lock_path).parent)]]["configMap"]
    assert lock_volume["items"] == [{"key": steady_state.LOCK_FILE, "path": Path(lock_path).name}]


def test_the_code_config_map_holds_exactly_the_prober_sources_and_the_lock(dev):
    data = manifest(dev.one(CONFIG_MAP, "steady-state-prober-code"))["data"]
    sources = steady_state.prober_sources()
    assert data == {
        **{steady_state.config_map_key(path): text for path, text in sources.items()},
        steady_state.LOCK_FILE: (PROJECT_DIR / steady_state.LOCK_FILE).read_text(),
    }
    volume = next(volume for volume in pod_spec(dev)["volumes"] if volume["name"] == "code")
    assert {item["path"] for item in volume["configMap"]["items"]} == set(sources)


def test_the_sources_follow_the_imports_of_the_probe_and_nothing_of_the_cli():
    sources = steady_state.prober_sources()
    for needed in (
        "chaoslab/__init__.py",
        "chaoslab/prober/__main__.py",
        "chaoslab/probe.py",
        "chaoslab/samples.py",
        "chaoslab/experiments/durations.py",
    ):
        assert needed in sources
    for unneeded in ("chaoslab/cli.py", "chaoslab/run.py", "components/steady_state.py", "stacks/lab.py"):
        assert unneeded not in sources


def test_following_imports_finds_relative_absolute_and_from_package_imports(tmp_path):
    for path, text in {
        "app/__init__.py": "",
        "app/main.py": "from . import helper\nfrom .deep.inner import thing\nimport lib\nimport json\n",
        "app/helper.py": "",
        "app/deep/__init__.py": "",
        "app/deep/inner.py": "thing = 1\n",
        "app/unused.py": "",
        "lib.py": "from app import helper\n",
    }.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    found = steady_state.prober_sources(tmp_path, "app/main.py")
    assert set(found) == {
        "app/__init__.py",
        "app/main.py",
        "app/helper.py",
        "app/deep/__init__.py",
        "app/deep/inner.py",
        "lib.py",
    }


def test_a_changed_file_changes_the_checksum_that_rolls_the_pod(dev):
    annotations = manifest(dev.one(DEPLOYMENT, "steady-state-prober"))["spec"]["template"]["metadata"]["annotations"]
    files = {
        **steady_state.prober_sources(),
        steady_state.LOCK_FILE: (PROJECT_DIR / steady_state.LOCK_FILE).read_text(),
    }
    assert annotations[steady_state.CHECKSUM_ANNOTATION] == steady_state.code_checksum(files)
    for path in ("chaoslab/probe.py", steady_state.LOCK_FILE):
        assert (
            steady_state.code_checksum({**files, path: files[path] + "\n"})
            != annotations[steady_state.CHECKSUM_ANNOTATION]
        )
    # A file moved to another path is a change too.
    moved = {("chaoslab/moved.py" if path == "chaoslab/probe.py" else path): text for path, text in files.items()}
    assert steady_state.code_checksum(moved) != annotations[steady_state.CHECKSUM_ANNOTATION]


# --- what it runs --------------------------------------------------------------------------------------


def test_the_prober_probes_the_frontend_service_by_its_cluster_dns_name_at_the_configured_rate():
    deployment = run_lab("dev", {"steadyState.rate": 20, "steadyState.timeout": "2s", "steadyState.path": "/"})
    command = prober_container(deployment)["command"]
    assert command[:3] == ["python", "-m", "chaoslab.prober"]
    *valued, flag = command[3:]
    assert flag == "--cloudwatch"
    options = dict(zip(valued[::2], valued[1::2], strict=True))
    assert options["--url"] == frontend_url("chaos-sandbox", "/")
    assert (options["--rate"], options["--timeout"], options["--stack"]) == ("20", "2", "dev")


def test_the_prober_finds_its_region_where_botocore_looks_and_its_packages_and_code_on_its_path(dev, kind):
    environment = {item["name"]: item.get("value") for item in prober_container(dev)["env"]}
    assert environment[steady_state.REGION_VARIABLE] == "us-east-1"
    assert environment["PYTHONPATH"] == f"{steady_state.CODE_DIR}:{steady_state.DEPS_DIR}"
    assert steady_state.REGION_VARIABLE not in {item["name"] for item in prober_container(kind)["env"]}


def test_health_probes_ask_the_prober_about_its_own_publishing(dev):
    container = prober_container(dev)
    assert container["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["resources"]["requests"]["cpu"] == "100m"


def test_the_metrics_service_selects_the_prober_on_its_metrics_port(dev, kind):
    for deployment in (dev, kind):
        service = manifest(deployment.one(SERVICE, "steady-state-prober-metrics"))
        pod_labels = manifest(deployment.one(DEPLOYMENT, "steady-state-prober"))["spec"]["template"]["metadata"][
            "labels"
        ]
        assert service["spec"]["selector"] == pod_labels
        assert service["spec"]["ports"][0]["port"] == steady_state.METRICS_PORT
        assert service["metadata"]["annotations"]["prometheus.io/path"] == "/metrics"


# --- AWS: IRSA, alarms, dashboard, outputs ----------------------------------------------------------


def test_irsa_role_passes_the_policy_packs_trust_rule_and_may_only_put_metrics_into_its_namespace(dev):
    role = next(item for item in children(dev) if item.type == ROLE_TYPE)
    assert violations(web_identity_trust_pinned, registration_args(role)) == []
    trust = json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]["Condition"]["StringEquals"]
    assert f"system:serviceaccount:{steady_state.NAMESPACE}:{steady_state.SERVICE_ACCOUNT}" in trust.values()
    (policy,) = [item for item in children(dev) if item.type == ROLE_POLICY]
    assert json.loads(policy.inputs["policy"])["Statement"] == [
        {
            "Effect": "Allow",
            "Action": "cloudwatch:PutMetricData",
            "Resource": "*",
            "Condition": {"StringEquals": {"cloudwatch:namespace": figures.cloudwatch_namespace("dev")}},
        }
    ]
    account = manifest(dev.one(SERVICE_ACCOUNT, "steady-state-prober"))
    assert account["metadata"]["annotations"][ROLE_ARN_ANNOTATION] == dev.registered_outputs[role.parent]["role_arn"]


def test_the_trust_rule_would_refuse_the_role_without_its_audience_pin(dev):
    role = next(item for item in children(dev) if item.type == ROLE_TYPE)
    document = json.loads(role.inputs["assumeRolePolicy"])
    conditions = document["Statement"][0]["Condition"]["StringEquals"]
    del conditions[next(key for key in conditions if key.endswith(":aud"))]
    unpinned = dataclasses.replace(role, inputs={**role.inputs, "assumeRolePolicy": json.dumps(document)})
    assert violations(web_identity_trust_pinned, registration_args(unpinned)) != []


def alarms(deployment: Deployment) -> dict[str, dict[str, Any]]:
    return {item.inputs["name"]: item.inputs for item in deployment.of_type(METRIC_ALARM)}


def test_two_ten_second_alarms_with_the_configured_thresholds_and_missing_data_breaching():
    deployment = run_lab(
        "dev",
        {"steadyState.minSuccessRate": "95%", "steadyState.maxP95Latency": "750ms", "steadyState.datapointsToAlarm": 2},
    )
    found = alarms(deployment)
    success, latency = found["chaos-lab-dev-steady-state-success-rate"], found["chaos-lab-dev-steady-state-p95-latency"]
    for alarm in (success, latency):
        assert alarm["period"] == figures.PUBLISH_INTERVAL_S == 10
        assert alarm["treatMissingData"] == "breaching"
        assert (alarm["evaluationPeriods"], alarm["datapointsToAlarm"]) == (3, 2)
        assert alarm["namespace"] == figures.cloudwatch_namespace("dev")
        assert alarm["dimensions"] == figures.dimensions("dev", TARGET)
    assert (success["metricName"], success["statistic"], success["comparisonOperator"], success["threshold"]) == (
        figures.SUCCESS_RATE,
        "Minimum",
        "LessThanThreshold",
        95,
    )
    assert (latency["metricName"], latency["statistic"], latency["comparisonOperator"], latency["threshold"]) == (
        figures.latency_metric(95),
        "Maximum",
        "GreaterThanThreshold",
        750,
    )


def test_the_composite_alarm_is_alarm_when_either_alarm_is(dev):
    (composite,) = dev.of_type(COMPOSITE_ALARM)
    arns = dev.exports["steadyStateAlarmArns"]
    assert composite.inputs["alarmRule"] == f'ALARM("{arns["successRate"]}") OR ALARM("{arns["p95Latency"]}")'


def test_alarm_arns_and_the_dashboard_url_are_stack_outputs(dev):
    arns = dev.exports["steadyStateAlarmArns"]
    assert set(arns) == {"successRate", "p95Latency", "broken"}
    assert all(arn.startswith("arn:aws:cloudwatch:") for arn in arns.values())
    assert dev.exports["steadyStateDashboardUrl"] == steady_state.dashboard_url(
        "us-east-1", "chaos-lab-dev-steady-state"
    )


def test_the_dashboard_shows_the_series_the_alarm_states_and_the_thresholds(dev):
    (dashboard,) = dev.of_type(DASHBOARD)
    body = json.loads(dashboard.inputs["dashboardBody"])
    widgets = body["widgets"]
    alarm_widget = next(widget for widget in widgets if widget["type"] == "alarm")
    assert sorted(alarm_widget["properties"]["alarms"]) == sorted(dev.exports["steadyStateAlarmArns"].values())
    graphs = {widget["properties"]["title"]: widget["properties"] for widget in widgets if widget["type"] == "metric"}
    settings = SteadyStateConfig()
    assert graphs["Success rate (%)"]["annotations"]["horizontal"][0]["value"] == settings.min_success_percent
    assert graphs["Latency (ms)"]["annotations"]["horizontal"][0]["value"] == settings.max_p95_ms
    for properties in graphs.values():
        assert properties["period"] == figures.PUBLISH_INTERVAL_S
        for metric in properties["metrics"]:
            assert metric[0] == figures.cloudwatch_namespace("dev") and TARGET in metric


def test_an_existing_cluster_gets_a_prometheus_only_prober_and_no_aws_resource(kind):
    assert not any(item.type.startswith("aws:") for item in kind.registrations)
    assert "--cloudwatch" not in prober_container(kind)["command"]
    assert pod_spec(kind)["automountServiceAccountToken"] is False
    assert "steadyStateAlarmArns" not in kind.exports and "steadyStateMetricsUrl" in kind.exports


def test_an_existing_cluster_has_no_prober_unless_asked_and_eks_has_one_by_default(dev):
    assert not run_lab("kind").of_type(COMPONENT)
    assert dev.of_type(COMPONENT)
    assert not run_lab("dev", {"steadyState.enabled": False}).of_type(COMPONENT)


# --- config ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "key", "accepted"),
    [
        ({"steadyState.rate": 500}, "steadyState.rate", "a number from 0.1 to 50 per second"),
        ({"steadyState.timeout": "30s"}, "steadyState.timeout", "a duration from 100ms to 5s"),
        ({"steadyState.path": "api"}, "steadyState.path", "an absolute URL path"),
        ({"steadyState.minSuccessRate": "0.99"}, "steadyState.minSuccessRate", "a percent above 0 and at most 100"),
        ({"steadyState.maxP95Latency": "5s"}, "steadyState.maxP95Latency", "shorter than steadyState.timeout (5s)"),
        ({"steadyState.evaluationPeriods": 0}, "steadyState.evaluationPeriods", "a whole number from 1 to 30"),
        (
            {"steadyState.evaluationPeriods": 2, "steadyState.datapointsToAlarm": 3},
            "steadyState.datapointsToAlarm",
            "a whole number from 1 to 2",
        ),
        ({"steadyState.enabled": "maybe"}, "steadyState.enabled", "true or false"),
        ({"steadyState.period": 60}, "steadyState.period", "unknown key"),
    ],
)
def test_bad_steady_state_input_is_refused_naming_the_key_before_any_resource(overrides, key, accepted):
    with pytest.raises(ProgramFailed) as failed:
        run_lab("dev", overrides)
    message = str(failed.value)
    assert f"chaos-lab:{key}: " in message and accepted in message, message
    assert failed.value.deployment.registrations == []


def test_the_defaults_are_the_hypotheses_bounds():
    from chaoslab.hypotheses import RAMP_SLO_P95_MS, SUCCESS_TARGET_PERCENT

    settings = parse_config({}, stack="dev", today=FACTS_AS_OF).steady_state
    assert (settings.min_success_percent, settings.max_p95_ms) == (SUCCESS_TARGET_PERCENT, RAMP_SLO_P95_MS)
    assert (
        settings.enabled
        and not parse_config({"clusterProvider": "existing"}, stack="kind", today=FACTS_AS_OF).steady_state.enabled
    )


def test_the_steady_state_doc_names_every_series_the_prober_publishes():
    section = (PROJECT_DIR / "docs" / "steady-state.md").read_text()
    everything = figures.IntervalFigures(
        0.0, 1, 1, 0, dict.fromkeys(figures.LATENCY_PERCENTILES, 1.0), dict.fromkeys(ErrorKind, 0)
    )
    for datum in figures.metric_data(everything, "dev", TARGET):
        assert f"`{datum['MetricName']}`" in section or datum["MetricName"] in section, datum["MetricName"]
    for kind in ErrorKind:
        assert kind.value in section
    assert figures.cloudwatch_namespace("<stack>") in section and str(steady_state.METRICS_PORT) in section
