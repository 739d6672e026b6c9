"""The in-cluster steady state: the prober pod, and on AWS its IRSA role, alarms and dashboard.

The prober runs `chaoslab.prober` (the CLI's own probe code) in a namespace of its own, outside the
sandbox, so no experiment can select it. Nothing is built on the operator's machine and every byte that
runs is pinned:
- the image: a stock Python image, by digest;
- the Python packages: installed by an init container from requirements-prober.lock, every file by
  sha256 (`pip install --require-hashes`), wheels only, into an emptyDir;
- the project's code: the prober's modules, found by following its imports, shipped as a ConfigMap
  whose content checksum is a pod-template annotation, so a code change rolls the pod.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from chaoslab.config import topology
from chaoslab.config.model import STEADY_STATE_NAMESPACE, SteadyStateConfig
from chaoslab.prober import figures
from chaoslab.prober.figures import LIVENESS_PATH, METRICS_PATH, READINESS_PATH
from chaoslab.samples import ErrorKind
from components.demo_app.render import config_checksum
from components.fence import pod_security_labels
from components.irsa import IrsaRole, IrsaRoleArgs

PROJECT_DIR = Path(__file__).resolve().parent.parent
PROBER_ENTRY = "chaoslab/prober/__main__.py"
LOCK_FILE = "requirements-prober.lock"

# python:3.12-slim from ECR Public's mirror of the Docker official images (no Docker Hub rate limit on
# EKS nodes), pinned by the digest of its multi-arch index. Refresh: see docs/steady-state.md ("In-cluster
# steady state").
PYTHON_IMAGE_REPOSITORY = "public.ecr.aws/docker/library/python"
PYTHON_IMAGE_DIGEST = "sha256:dddfd7e07f9d15aeeca61529320492139d21cac7f0070c00609243e51e4e0016"
PYTHON_IMAGE = f"{PYTHON_IMAGE_REPOSITORY}@{PYTHON_IMAGE_DIGEST}"
PYPI_INDEX = "https://pypi.org/simple"

NAMESPACE = STEADY_STATE_NAMESPACE
SERVICE_ACCOUNT = "steady-state-prober"
APP = "steady-state-prober"
METRICS_PORT = 9464
# nobody:nogroup; the Python image's default user is root, which the restricted profile refuses.
PROBER_UID = 65534
CODE_DIR = "/opt/chaos-lab"
DEPS_DIR = "/opt/deps"
LOCK_DIR = "/opt/lock"
TMP_DIR = "/tmp"
CHECKSUM_ANNOTATION = "chaos-lab.dev/code-checksum"
# Benchmarked (benchmarks/prober_bench.py) at the highest accepted rate inside a 10 % CPU quota.
PROBER_RESOURCES = {"requests": {"cpu": "100m", "memory": "96Mi"}, "limits": {"memory": "192Mi"}}
# The wheels are about 20 MB unpacked; the bound keeps a runaway install from filling the node's disk.
DEPS_SIZE_LIMIT = "128Mi"
# The prober judges its own staleness (chaoslab/prober/service.py); the kubelet only asks often.
HEALTH_PERIOD_S = 5
ALARM_NAME_PREFIX = "chaos-lab"
# botocore reads the region from AWS_DEFAULT_REGION (AWS_REGION, which other SDKs read, it ignores).
REGION_VARIABLE = "AWS_DEFAULT_REGION"


@dataclass
class CloudWatchArgs:
    region: str
    oidc_provider_arn: pulumi.Input[str]
    # The issuer without `https://`, as pulumi-eks's `oidc_issuer` output gives it.
    oidc_issuer: pulumi.Input[str]


@dataclass
class SteadyStateArgs:
    stack: str
    sandbox_namespace: str
    settings: SteadyStateConfig
    # Pins the Pod Security profile's version to the cluster's, so a newer profile cannot start refusing the pod.
    kubernetes_version: str
    # None: Prometheus only, no AWS resource (an existing cluster).
    cloudwatch: CloudWatchArgs | None = None


def _module_file(dotted: str, root: Path) -> Path | None:
    base = root.joinpath(*dotted.split("."))
    for candidate in (base / "__init__.py", base.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def _module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(path: Path, root: Path) -> Iterator[str]:
    """Every module name `path` may import, relative imports resolved; third-party names included."""
    module = _module_name(path, root)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            anchor = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            base = ".".join([*anchor, *([node.module] if node.module else [])])
            yield base
            # `from package import module` imports a submodule, not only a name.
            yield from (f"{base}.{alias.name}" for alias in node.names)


def prober_sources(root: Path = PROJECT_DIR, entry: str = PROBER_ENTRY) -> dict[str, str]:
    """The project files the prober runs: its entry, every local module it imports, and their packages.

    Found by following the imports in the source rather than listed by hand, so a new import in
    chaoslab.probe ships with the next `up`. Keys are paths relative to `root`.
    """
    found: set[Path] = set()
    pending = [root / entry]
    while pending:
        path = pending.pop()
        if path in found:
            continue
        found.add(path)
        names = [*list(_imported(path, root)), _module_name(path, root)]
        for name in names:
            parts = name.split(".")
            # Importing a.b.c runs a/__init__.py and a/b/__init__.py first.
            for depth in range(1, len(parts) + 1):
                module = _module_file(".".join(parts[:depth]), root)
                if module is not None and module not in found:
                    pending.append(module)
    return {path.relative_to(root).as_posix(): path.read_text() for path in sorted(found)}


def config_map_key(path: str) -> str:
    """ConfigMap keys allow no '/': a file's key is its path with '/' as '.'."""
    return path.replace("/", ".")


def code_config_map_data(sources: Mapping[str, str], lock: str) -> dict[str, str]:
    data = {config_map_key(path): text for path, text in sources.items()}
    if len(data) != len(sources) or LOCK_FILE in data:
        raise ValueError(f"two prober files share a ConfigMap key: {sorted(sources)}")
    return {**data, LOCK_FILE: lock}


def code_checksum(files: Mapping[str, str]) -> str:
    """sha256 over every file's path and text, in path order."""
    return config_checksum(*(part for path in sorted(files) for part in (path, files[path])))


def install_command(lock_path: str, target: str = DEPS_DIR) -> list[str]:
    """The init container's pip: exactly the locked files, wheels only (no build step runs code), no resolver."""
    return [
        "python", "-m", "pip", "install",
        "--require-hashes", "--no-deps", "--only-binary=:all:",
        "--no-cache-dir", "--disable-pip-version-check", "--no-input",
        "--index-url", PYPI_INDEX,
        "--target", target,
        "-r", lock_path,
    ]  # fmt: skip


def prober_command(
    url: str, settings: SteadyStateConfig, stack: str, cloudwatch: bool, port: int = METRICS_PORT
) -> list[str]:
    return [
        "python", "-m", "chaoslab.prober",
        "--url", url,
        "--rate", f"{settings.rate:g}",
        "--timeout", f"{settings.timeout_s:g}",
        "--stack", stack,
        "--port", str(port),
        *(["--cloudwatch"] if cloudwatch else []),
    ]  # fmt: skip


def put_metric_data_statement(namespace: str) -> dict[str, object]:
    """The prober's only permission: PutMetricData into its stack's namespace.

    PutMetricData has no resource type ("*" is the only resource it takes), so the namespace condition
    is what scopes it (AmazonCloudWatch/latest/monitoring/iam-cw-condition-keys-namespace.html).
    """
    return {
        "Effect": "Allow",
        "Action": "cloudwatch:PutMetricData",
        "Resource": "*",
        "Condition": {"StringEquals": {"cloudwatch:namespace": namespace}},
    }


# What the restricted Pod Security profile demands of the pod (a user other than the image's root) and of
# both its containers, plus a read-only root filesystem: the containers write only to their emptyDirs.
RESTRICTED_POD = k8s.core.v1.PodSecurityContextArgs(
    run_as_non_root=True,
    run_as_user=PROBER_UID,
    run_as_group=PROBER_UID,
    seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
)
RESTRICTED_CONTAINER = k8s.core.v1.SecurityContextArgs(
    allow_privilege_escalation=False,
    read_only_root_filesystem=True,
    run_as_non_root=True,
    capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]),
)
TMP_MOUNT = k8s.core.v1.VolumeMountArgs(name="tmp", mount_path=TMP_DIR)


def install_container() -> k8s.core.v1.ContainerArgs:
    """The init container: pip installs the locked wheels into the `deps` emptyDir."""
    return k8s.core.v1.ContainerArgs(
        name="install-deps",
        image=PYTHON_IMAGE,
        command=install_command(f"{LOCK_DIR}/{LOCK_FILE}"),
        # pip writes its own temp and config files under HOME.
        env=[k8s.core.v1.EnvVarArgs(name="HOME", value=TMP_DIR)],
        security_context=RESTRICTED_CONTAINER,
        volume_mounts=[
            k8s.core.v1.VolumeMountArgs(name="deps", mount_path=DEPS_DIR),
            k8s.core.v1.VolumeMountArgs(name="lock", mount_path=LOCK_DIR, read_only=True),
            TMP_MOUNT,
        ],
    )


def health_check(path: str) -> k8s.core.v1.ProbeArgs:
    return k8s.core.v1.ProbeArgs(
        http_get=k8s.core.v1.HTTPGetActionArgs(path=path, port="metrics"),
        period_seconds=HEALTH_PERIOD_S,
        failure_threshold=1,
    )


def prober_container(command: Sequence[str], region: str | None) -> k8s.core.v1.ContainerArgs:
    """The prober, from the shipped code and the installed wheels; `region` is None without CloudWatch."""
    return k8s.core.v1.ContainerArgs(
        name="prober",
        image=PYTHON_IMAGE,
        command=list(command),
        env=[
            k8s.core.v1.EnvVarArgs(name="PYTHONPATH", value=f"{CODE_DIR}:{DEPS_DIR}"),
            # The code directory is read-only: no .pyc files to write.
            k8s.core.v1.EnvVarArgs(name="PYTHONDONTWRITEBYTECODE", value="1"),
            k8s.core.v1.EnvVarArgs(name="PYTHONUNBUFFERED", value="1"),
            *([k8s.core.v1.EnvVarArgs(name=REGION_VARIABLE, value=region)] if region is not None else []),
        ],
        ports=[k8s.core.v1.ContainerPortArgs(container_port=METRICS_PORT, name="metrics")],
        liveness_probe=health_check(LIVENESS_PATH),
        readiness_probe=health_check(READINESS_PATH),
        resources=k8s.core.v1.ResourceRequirementsArgs(
            requests=dict(PROBER_RESOURCES["requests"]), limits=dict(PROBER_RESOURCES["limits"])
        ),
        security_context=RESTRICTED_CONTAINER,
        volume_mounts=[
            k8s.core.v1.VolumeMountArgs(name="code", mount_path=CODE_DIR, read_only=True),
            k8s.core.v1.VolumeMountArgs(name="deps", mount_path=DEPS_DIR, read_only=True),
            TMP_MOUNT,
        ],
    )


def prober_volumes(code_config_map: pulumi.Input[str], sources: Mapping[str, str]) -> list[k8s.core.v1.VolumeArgs]:
    """The code and the lock file from the ConfigMap at their paths, the wheels' emptyDir, and a memory /tmp."""
    return [
        k8s.core.v1.VolumeArgs(
            name="code",
            config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(
                name=code_config_map,
                items=[k8s.core.v1.KeyToPathArgs(key=config_map_key(path), path=path) for path in sources],
            ),
        ),
        k8s.core.v1.VolumeArgs(
            name="lock",
            config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(
                name=code_config_map, items=[k8s.core.v1.KeyToPathArgs(key=LOCK_FILE, path=LOCK_FILE)]
            ),
        ),
        k8s.core.v1.VolumeArgs(name="deps", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit=DEPS_SIZE_LIMIT)),
        k8s.core.v1.VolumeArgs(name="tmp", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(medium="Memory")),
    ]


def dashboard_url(region: str, dashboard_name: str) -> str:
    return (
        f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#dashboards/dashboard/{dashboard_name}"
    )


class SteadyState(pulumi.ComponentResource):
    namespace: pulumi.Output[str]
    metrics_url: pulumi.Output[str]
    alarm_arns: pulumi.Output[dict[str, str]] | None = None
    dashboard_url: pulumi.Output[str] | None = None

    def __init__(self, name: str, args: SteadyStateArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("chaos-lab:steady_state:SteadyState", name, None, opts)
        self._name = name
        self._args = args
        namespace = self._namespace().metadata.name
        cloudwatch_namespace = figures.cloudwatch_namespace(args.stack)
        role = self._cloudwatch_role(args.cloudwatch, cloudwatch_namespace) if args.cloudwatch is not None else None
        service_account = self._service_account(namespace, role)
        sources = prober_sources()
        lock = (PROJECT_DIR / LOCK_FILE).read_text()
        code = self._code(namespace, code_config_map_data(sources, lock))
        self._deployment(namespace, service_account, code, sources, code_checksum({**sources, LOCK_FILE: lock}))
        service = self._metrics_service(namespace)
        self.namespace = namespace
        self.metrics_url = pulumi.Output.concat(
            "http://", service.metadata.name, ".", namespace, ".svc.cluster.local:", str(METRICS_PORT), METRICS_PATH
        )
        outputs: dict[str, pulumi.Output[Any]] = {"namespace": self.namespace, "metrics_url": self.metrics_url}
        if args.cloudwatch is not None:
            self.alarm_arns, self.dashboard_url = self._alarms(cloudwatch_namespace, args.cloudwatch.region)
            outputs |= {"alarm_arns": self.alarm_arns, "dashboard_url": self.dashboard_url}
        self.register_outputs(outputs)

    @property
    def target_url(self) -> str:
        return topology.frontend_url(self._args.sandbox_namespace, self._args.settings.path)

    def _namespace(self) -> k8s.core.v1.Namespace:
        return k8s.core.v1.Namespace(
            f"{self._name}-namespace",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=NAMESPACE,
                # The sandbox's own Pod Security labels: restricted in every mode, pinned to the cluster's minor.
                labels={
                    "app.kubernetes.io/part-of": "chaos-lab",
                    **pod_security_labels(self._args.kubernetes_version),
                },
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _cloudwatch_role(self, cloudwatch: CloudWatchArgs, cloudwatch_namespace: str) -> IrsaRole:
        """The IAM role the prober's service account assumes to publish its figures, and nothing else."""
        return IrsaRole(
            f"{self._name}-prober",
            IrsaRoleArgs(
                oidc_provider_arn=cloudwatch.oidc_provider_arn,
                oidc_issuer=cloudwatch.oidc_issuer,
                namespace=NAMESPACE,
                service_account=SERVICE_ACCOUNT,
                policy_statements=(put_metric_data_statement(cloudwatch_namespace),),
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _service_account(self, namespace: pulumi.Output[str], role: IrsaRole | None) -> k8s.core.v1.ServiceAccount:
        return k8s.core.v1.ServiceAccount(
            f"{self._name}-prober",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=SERVICE_ACCOUNT,
                namespace=namespace,
                annotations=role.service_account_annotations if role is not None else None,
            ),
            automount_service_account_token=False,
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _code(self, namespace: pulumi.Output[str], data: Mapping[str, str]) -> k8s.core.v1.ConfigMap:
        return k8s.core.v1.ConfigMap(
            f"{self._name}-prober-code",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=f"{APP}-code", namespace=namespace, labels={"app": APP}),
            data=dict(data),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _deployment(
        self,
        namespace: pulumi.Output[str],
        service_account: k8s.core.v1.ServiceAccount,
        code: k8s.core.v1.ConfigMap,
        sources: Mapping[str, str],
        checksum: str,
    ) -> k8s.apps.v1.Deployment:
        labels = {"app": APP}
        return k8s.apps.v1.Deployment(
            f"{self._name}-prober",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=APP, namespace=namespace, labels=labels),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=1,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=labels),
                # The new prober publishes before the old one stops, so a rollout leaves no gap for the
                # breaching-on-missing-data alarms to fire on. Two probers for a moment publish two
                # datapoints per period; the alarms' statistics (worst of them) are chosen for that.
                strategy=k8s.apps.v1.DeploymentStrategyArgs(
                    type="RollingUpdate",
                    rolling_update=k8s.apps.v1.RollingUpdateDeploymentArgs(max_surge=1, max_unavailable=0),
                ),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        labels=labels,
                        # A changed file changes this, which rolls the pod onto it.
                        annotations={CHECKSUM_ANNOTATION: checksum},
                    ),
                    spec=self._pod_spec(service_account, code, sources),
                ),
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[service_account, code]),
        )

    def _pod_spec(
        self, service_account: k8s.core.v1.ServiceAccount, code: k8s.core.v1.ConfigMap, sources: Mapping[str, str]
    ) -> k8s.core.v1.PodSpecArgs:
        cloudwatch = self._args.cloudwatch
        return k8s.core.v1.PodSpecArgs(
            service_account_name=service_account.metadata.name,
            # IRSA's web-identity token is mounted by EKS's pod identity webhook only with the token
            # automount left on (aws/amazon-eks-pod-identity-webhook issue #67); without AWS the prober
            # has no use for any token.
            automount_service_account_token=cloudwatch is not None,
            security_context=RESTRICTED_POD,
            init_containers=[install_container()],
            containers=[
                prober_container(
                    prober_command(self.target_url, self._args.settings, self._args.stack, cloudwatch is not None),
                    cloudwatch.region if cloudwatch is not None else None,
                )
            ],
            volumes=prober_volumes(code.metadata.name, sources),
        )

    def _metrics_service(self, namespace: pulumi.Output[str]) -> k8s.core.v1.Service:
        return k8s.core.v1.Service(
            f"{self._name}-prober-metrics",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=APP,
                namespace=namespace,
                labels={"app": APP},
                # The annotations the common Prometheus kubernetes_sd scrape configs look for.
                annotations={
                    "prometheus.io/scrape": "true",
                    "prometheus.io/port": str(METRICS_PORT),
                    "prometheus.io/path": METRICS_PATH,
                },
            ),
            spec=k8s.core.v1.ServiceSpecArgs(
                selector={"app": APP},
                ports=[
                    k8s.core.v1.ServicePortArgs(
                        name="metrics", port=METRICS_PORT, target_port="metrics", protocol="TCP"
                    )
                ],
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _alarms(
        self, cloudwatch_namespace: str, region: str
    ) -> tuple[pulumi.Output[dict[str, str]], pulumi.Output[str]]:
        child = pulumi.ResourceOptions(parent=self)
        definitions = alarm_definitions(self._args.stack, self.target_url, self._args.settings)
        alarms = {
            key: aws.cloudwatch.MetricAlarm(f"{self._name}-{key}", **definition, opts=child)
            for key, definition in definitions.items()
        }
        composite = aws.cloudwatch.CompositeAlarm(
            f"{self._name}-broken",
            alarm_name=f"{alarm_prefix(self._args.stack)}-broken",
            alarm_description="The steady state is broken: either steady-state alarm is in ALARM.",
            alarm_rule=pulumi.Output.all(*(alarm.arn for alarm in alarms.values())).apply(composite_rule),
            opts=child,
        )
        arns = pulumi.Output.all(**{key: alarm.arn for key, alarm in alarms.items()}, broken=composite.arn)
        dashboard_name = alarm_prefix(self._args.stack)
        aws.cloudwatch.Dashboard(
            f"{self._name}-dashboard",
            dashboard_name=dashboard_name,
            dashboard_body=arns.apply(
                lambda resolved: json.dumps(
                    dashboard_body(
                        cloudwatch_namespace, region, self._args.stack, self.target_url, self._args.settings, resolved
                    )
                )
            ),
            opts=child,
        )
        return arns, pulumi.Output.from_input(dashboard_url(region, dashboard_name))


def alarm_prefix(stack: str) -> str:
    return f"{ALARM_NAME_PREFIX}-{stack}-steady-state"


def composite_rule(arns: Sequence[str]) -> str:
    return " OR ".join(f'ALARM("{arn}")' for arn in arns)


def alarm_definitions(stack: str, target: str, settings: SteadyStateConfig) -> dict[str, dict[str, Any]]:
    """The two metric alarms' arguments, by output key: what "broken" means, in CloudWatch's terms.

    Two probers publish into one period for a moment during a rollout, so each alarm takes the worse
    of them: the Minimum success rate, the Maximum p95.
    """
    common = {
        "namespace": figures.cloudwatch_namespace(stack),
        "dimensions": figures.dimensions(stack, target),
        "period": figures.PUBLISH_INTERVAL_S,
        "evaluation_periods": settings.evaluation_periods,
        "datapoints_to_alarm": settings.datapoints_to_alarm,
        # No figures means nobody is watching: that is broken too, so chaos stops.
        "treat_missing_data": "breaching",
    }
    return {
        "successRate": {
            **common,
            "name": f"{alarm_prefix(stack)}-success-rate",
            "alarm_description": f"Fewer than {settings.min_success_percent:g} % of the prober's requests to {target} succeeded.",
            "metric_name": figures.SUCCESS_RATE,
            "statistic": "Minimum",
            "comparison_operator": "LessThanThreshold",
            "threshold": settings.min_success_percent,
        },
        "p95Latency": {
            **common,
            "name": f"{alarm_prefix(stack)}-p95-latency",
            "alarm_description": f"The p95 latency of the prober's requests to {target} is above {settings.max_p95_ms:g} ms.",
            "metric_name": figures.latency_metric(95),
            "statistic": "Maximum",
            "comparison_operator": "GreaterThanThreshold",
            "threshold": settings.max_p95_ms,
        },
    }


@dataclass(frozen=True)
class MetricGraphs:
    """Graphs of the prober's figures for one stack and target, in the dashboard's region."""

    cloudwatch_namespace: str
    region: str
    stack: str
    target: str

    def metric(self, name: str, stat: str, label: str, extra: Sequence[str] = ()) -> list[object]:
        dims = [part for pair in figures.dimensions(self.stack, self.target).items() for part in pair]
        options = {"stat": stat, "period": figures.PUBLISH_INTERVAL_S, "label": label}
        return [self.cloudwatch_namespace, name, *dims, *extra, options]

    def graph(
        self, title: str, metrics: list[list[object]], x: int, y: int, width: int = 12, **properties: object
    ) -> dict[str, object]:
        return {
            "type": "metric",
            "x": x,
            "y": y,
            "width": width,
            "height": 6,
            "properties": {
                "title": title,
                "region": self.region,
                "view": "timeSeries",
                "period": figures.PUBLISH_INTERVAL_S,
                "metrics": metrics,
                **properties,
            },
        }


def status_widgets(
    stack: str, target: str, settings: SteadyStateConfig, alarm_arns: Mapping[str, str]
) -> list[dict[str, object]]:
    """The top rows: what "broken" means, in words, and the alarms' state."""
    breaking = (
        f"**Broken** when the success rate is below {settings.min_success_percent:g} % or the p95 latency above "
        f"{settings.max_p95_ms:g} ms in {settings.datapoints_to_alarm} of {settings.evaluation_periods} "
        f"{figures.PUBLISH_INTERVAL_S}-second periods; a period without figures counts as broken. "
        f"Probing `{target}` at {settings.rate:g}/s, timeout {settings.timeout_s:g} s."
    )
    return [
        {
            "type": "text",
            "x": 0,
            "y": 0,
            "width": 24,
            "height": 2,
            "properties": {"markdown": f"# Steady state of chaos-lab `{stack}`\n{breaking}"},
        },
        {
            "type": "alarm",
            "x": 0,
            "y": 2,
            "width": 24,
            "height": 2,
            "properties": {"title": "Alarm state", "alarms": list(alarm_arns.values())},
        },
    ]


def threshold_graphs(graphs: MetricGraphs, settings: SteadyStateConfig) -> list[dict[str, object]]:
    """The row the alarms judge: success rate and latency, each with its threshold drawn across."""
    return [
        graphs.graph(
            "Success rate (%)",
            [graphs.metric(figures.SUCCESS_RATE, "Minimum", "success rate")],
            0,
            4,
            yAxis={"left": {"min": 0, "max": 100}},
            annotations={"horizontal": [{"label": "minSuccessRate", "value": settings.min_success_percent}]},
        ),
        graphs.graph(
            "Latency (ms)",
            [
                graphs.metric(figures.latency_metric(rank), "Maximum", f"p{rank}")
                for rank in figures.LATENCY_PERCENTILES
            ],
            12,
            4,
            annotations={"horizontal": [{"label": "maxP95Latency", "value": settings.max_p95_ms}]},
        ),
    ]


def traffic_graph(graphs: MetricGraphs) -> dict[str, object]:
    """The bottom row: what was sent, what could not be, and the errors by kind."""
    return graphs.graph(
        "Requests, not sent and errors by kind (per 10 s)",
        [graphs.metric(figures.REQUESTS, "Sum", "requests"), graphs.metric(figures.NOT_SENT, "Sum", "not sent")]
        + [
            graphs.metric(figures.ERRORS, "Sum", kind.value, (figures.ERROR_KIND_DIMENSION, kind.value))
            for kind in ErrorKind
        ],
        0,
        10,
        width=24,
    )


def dashboard_body(
    cloudwatch_namespace: str,
    region: str,
    stack: str,
    target: str,
    settings: SteadyStateConfig,
    alarm_arns: Mapping[str, str],
) -> dict[str, object]:
    """Steady state, alarm state and thresholds on one screen (CloudWatch dashboard body structure)."""
    graphs = MetricGraphs(cloudwatch_namespace, region, stack, target)
    return {
        "widgets": [
            *status_widgets(stack, target, settings, alarm_arns),
            *threshold_graphs(graphs, settings),
            traffic_graph(graphs),
        ]
    }
