"""Runs the real Pulumi program under Pulumi's mocks, with config loaded the way the CLI loads it.

Precedence, as the CLI applies it: the defaults and values declared in Pulumi.yaml, replaced key by
key by Pulumi.<stack>.yaml, then by the test's overrides. An override whose key has a dot is a
`pulumi config set --path` edit: it writes into the stack's own object for that key, which (as
with the CLI) starts empty rather than from the Pulumi.yaml value.

What mocks cannot show: the outputs of real providers (the mocks below invent them), provider-side
validation, Helm rendering, and the inside of remote components such as eks.Cluster.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi.runtime import rpc, settings
from pulumi.runtime.mocks import MockMonitor
from pulumi.runtime.proto import resource_pb2

PROJECT_DIR = Path(__file__).resolve().parent.parent
PROJECT = "chaos-lab"
FAKE_ACCOUNT = "123456789012"
FAKE_REGION = "us-east-1"
CRD_TYPE = "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition"
FAKE_OIDC_ISSUER = "oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
# us-east-1 as one account might see it: names shuffled against IDs, use1-az3 (where EKS refuses
# cluster subnets) present, and one zone that lacks an instance type the defaults ask for.
FAKE_ZONES = {
    "us-east-1a": "use1-az4",
    "us-east-1b": "use1-az6",
    "us-east-1c": "use1-az1",
    "us-east-1d": "use1-az2",
    "us-east-1e": "use1-az3",
    "us-east-1f": "use1-az5",
}
FAKE_MISSING_OFFERINGS = {"use1-az1": {"t2.medium"}}
# A type the fake account offers in one zone only, to run the region out of usable zones.
RARE_INSTANCE_TYPE = "p5.48xlarge"
FAKE_RARE_OFFERINGS = {RARE_INSTANCE_TYPE: ("use1-az4",)}


@dataclass(frozen=True)
class FakeCluster:
    """An EKS cluster the fake account already runs under the stack's cluster name."""

    name: str
    version: str
    zone_ids: tuple[str, ...]


def fake_addon_version(addon_name: str, kubernetes_version: str) -> str:
    return f"v1.{kubernetes_version.replace('.', '')}.0-eksbuild.1-{addon_name}"


# What the AWS provider's lookups answer, for the program parts that read an account, region or ARN.
FAKE_INVOKES: dict[str, dict[str, Any]] = {
    "aws:index/getCallerIdentity:getCallerIdentity": {"accountId": FAKE_ACCOUNT},
    "aws:index/getRegion:getRegion": {"region": FAKE_REGION, "name": FAKE_REGION},
    "aws:index/getPartition:getPartition": {"partition": "aws"},
}


def _qualified(key: str) -> str:
    return key if ":" in key else f"{PROJECT}:{key}"


def project_config_defaults() -> dict[str, Any]:
    declared = yaml.safe_load((PROJECT_DIR / "Pulumi.yaml").read_text())["config"]
    return {key: entry["default"] if "default" in entry else entry["value"] for key, entry in declared.items()}


def stack_file_config(stack: str) -> dict[str, Any]:
    stack_file = yaml.safe_load((PROJECT_DIR / f"Pulumi.{stack}.yaml").read_text()) or {}
    return {_qualified(key): value for key, value in (stack_file.get("config") or {}).items()}


def cli_config(stack: str, overrides: Mapping[str, Any] | None = None) -> dict[str, str]:
    """The config map the CLI would hand the program: every value a string, objects as JSON."""
    stack_values = stack_file_config(stack)
    for key, value in (overrides or {}).items():
        top, _, path = key.partition(".")
        if not path:
            stack_values[_qualified(top)] = value
            continue
        node = stack_values.setdefault(_qualified(top), {})
        *parents, leaf = path.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    merged = {**project_config_defaults(), **stack_values}
    return {key: _as_cli_string(value) for key, value in merged.items()}


def _as_cli_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


@dataclass
class Registration:
    type: str
    name: str
    urn: str
    parent: str
    custom: bool
    inputs: dict[str, Any]
    dependencies: list[str]
    provider: str
    delete_before_replace: bool
    replace_on_changes: list[str]
    custom_timeouts: dict[str, str]
    # The URN each of the resource's aliases stands for: what the engine matches against an existing stack.
    alias_urns: list[str]


class LabMocks(pulumi.runtime.Mocks):
    """Echo inputs, plus the few outputs the program reads from real providers and the account's answers."""

    def __init__(self, running: FakeCluster | None = None) -> None:
        self.running = running

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        if args.typ == CRD_TYPE:
            # Nothing reads a CRD's outputs, and echoing 3 MB of schemas back would slow every run.
            return f"{args.name}-id", {}
        outputs = dict(args.inputs)
        if args.typ == "eks:index:Cluster":
            outputs |= {
                "kubeconfigJson": json.dumps({"apiVersion": "v1", "kind": "Config", "clusters": []}),
                "oidcProviderArn": f"arn:aws:iam::{FAKE_ACCOUNT}:oidc-provider/{FAKE_OIDC_ISSUER}",
                "oidcIssuer": FAKE_OIDC_ISSUER,
            }
        elif args.typ == "aws:iam/role:Role":
            outputs |= {"arn": f"arn:aws:iam::{FAKE_ACCOUNT}:role/{args.name}", "name": args.name}
        elif args.typ in ("aws:cloudwatch/metricAlarm:MetricAlarm", "aws:cloudwatch/compositeAlarm:CompositeAlarm"):
            alarm_name = args.inputs.get("name") or args.inputs["alarmName"]
            outputs |= {"arn": f"arn:aws:cloudwatch:{FAKE_REGION}:{FAKE_ACCOUNT}:alarm:{alarm_name}"}
        elif args.typ == "aws:cloudwatch/logGroup:LogGroup":
            outputs |= {"arn": f"arn:aws:logs:{FAKE_REGION}:{FAKE_ACCOUNT}:log-group:{args.inputs['name']}"}
        elif args.typ == "aws:ec2/launchTemplate:LaunchTemplate":
            outputs |= {"latestVersion": 1}
        return f"{args.name}-id", outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:
        if args.token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            return {"names": list(FAKE_ZONES), "zoneIds": list(FAKE_ZONES.values())}
        if args.token == "aws:ec2/getInstanceTypeOfferings:getInstanceTypeOfferings":
            assert args.args["locationType"] == "availability-zone-id", args.args
            [wanted] = [item["values"] for item in args.args["filters"] if item["name"] == "instance-type"]
            offered = [
                (name, zone_id)
                for zone_id in FAKE_ZONES.values()
                for name in wanted
                if name not in FAKE_MISSING_OFFERINGS.get(zone_id, set())
                and zone_id in FAKE_RARE_OFFERINGS.get(name, FAKE_ZONES.values())
            ]
            return {"instanceTypes": [name for name, _ in offered], "locations": [zone for _, zone in offered]}
        if args.token == "aws:eks/getClusters:getClusters":
            return {"names": [self.running.name] if self.running else []}
        if args.token == "aws:eks/getCluster:getCluster":
            arn = f"arn:aws:eks:{FAKE_REGION}:{FAKE_ACCOUNT}:cluster/{args.args['name']}"
            if self.running is None:  # looked up after the program's own cluster, for its ARN
                return {"name": args.args["name"], "arn": arn}
            assert args.args["name"] == self.running.name, args.args
            subnets = [f"subnet-{zone_id}" for zone_id in self.running.zone_ids]
            return {
                "name": self.running.name,
                "arn": arn,
                "version": self.running.version,
                "vpcConfig": {"subnetIds": subnets},
            }
        if args.token == "aws:ec2/getSubnet:getSubnet":
            return {"id": args.args["id"], "availabilityZoneId": args.args["id"].removeprefix("subnet-")}
        if args.token == "aws:eks/getAddonVersion:getAddonVersion":
            return {"version": fake_addon_version(args.args["addonName"], args.args["kubernetesVersion"])}
        if args.token in FAKE_INVOKES:
            return FAKE_INVOKES[args.token]
        raise AssertionError(f"the program calls {args.token}, which these mocks do not answer")


class RecordingMonitor(MockMonitor):
    """Keeps each registration request, so tests can check parents, dependencies and options too."""

    def __init__(self, mocks: pulumi.runtime.Mocks) -> None:
        super().__init__(mocks)
        self.registrations: list[Registration] = []
        self.registered_outputs: dict[str, dict[str, Any]] = {}

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            self.registrations.append(
                Registration(
                    type=request.type,
                    name=request.name,
                    urn=response.urn,
                    parent=request.parent,
                    custom=request.custom,
                    inputs=rpc.deserialize_properties(request.object),
                    dependencies=list(request.dependencies),
                    provider=request.provider,
                    delete_before_replace=request.deleteBeforeReplace,
                    replace_on_changes=list(request.replaceOnChanges),
                    custom_timeouts={
                        "create": request.customTimeouts.create,
                        "update": request.customTimeouts.update,
                        "delete": request.customTimeouts.delete,
                    },
                    alias_urns=[self._alias_urn(request, alias) for alias in request.aliases],
                )
            )
        return response

    def _alias_urn(self, request: Any, alias: Any) -> str:
        """The URN an alias spec stands for, built the way this monitor builds URNs; an empty field means the resource's own."""
        if alias.HasField("urn"):
            return alias.urn
        spec = alias.spec
        assert not (spec.stack or spec.project), f"{request.name}: an alias into another stack or project"
        parent = "" if spec.noParent else spec.parentUrn or request.parent
        return self.make_urn(parent, spec.type or request.type, spec.name or request.name)

    def GetDeploymentInfo(self, request: Any) -> Any:
        # A resource passed to a remote component (the eks.Cluster given to ManagedNodeGroup) would be
        # rehydrated by the mock monitor on another event loop and deadlock; without resource
        # references the SDK sends it as its URN, which is recorded just as well.
        info = super().GetDeploymentInfo(request)
        features = [
            item for item in info.supportedFeatures if item != resource_pb2.RESOURCE_MONITOR_FEATURE_RESOURCE_REFERENCES
        ]
        return resource_pb2.DeploymentInfo(supportedFeatures=features)

    def RegisterResourceOutputs(self, request: Any) -> Any:
        self.registered_outputs[request.urn] = rpc.deserialize_properties(request.outputs)
        return super().RegisterResourceOutputs(request)


@dataclass
class Deployment:
    registrations: list[Registration]
    registered_outputs: dict[str, dict[str, Any]]
    exports: dict[str, Any] = field(default_factory=dict)
    secret_exports: set[str] = field(default_factory=set)

    def of_type(self, type_token: str) -> list[Registration]:
        return [item for item in self.registrations if item.type == type_token]

    def one(self, type_token: str, name: str | None = None) -> Registration:
        matches = [item for item in self.of_type(type_token) if name is None or item.name == name]
        assert len(matches) == 1, f"expected one {type_token} {name or ''}, found {[item.name for item in matches]}"
        return matches[0]

    def by_urn(self, urn: str) -> Registration:
        return next(item for item in self.registrations if item.urn == urn)

    def types(self) -> set[str]:
        return {item.type for item in self.registrations}


class ProgramFailed(Exception):
    """The program raised; `deployment` holds what it had declared by then (for "nothing half-created")."""

    def __init__(self, cause: BaseException, deployment: Deployment) -> None:
        super().__init__(str(cause))
        self.cause = cause
        self.deployment = deployment


def run_lab(
    stack: str = "dev",
    overrides: Mapping[str, Any] | None = None,
    today: date | None = None,
    running: FakeCluster | None = None,
) -> Deployment:
    """Evaluate __main__'s two steps for `stack` under mocks and return everything it declared.

    `running` is the cluster the fake account already runs (none: a first `up`). Raises ProgramFailed
    when the program raises.
    """
    from chaoslab.config.aws_facts import FACTS_AS_OF
    from stacks.lab import CONFIG_ENV, build_lab, load_config

    mocks = LabMocks(running)
    monitor = RecordingMonitor(mocks)
    # set_mocks keeps an existing root Stack, and with it the previous run's exports.
    settings.set_root_resource(None)
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=False, monitor=monitor)
    deployment = Deployment(monitor.registrations, monitor.registered_outputs)

    @pulumi.runtime.test
    def program() -> pulumi.Output[Any]:
        build_lab(load_config(today=today or FACTS_AS_OF), today=today or FACTS_AS_OF)
        exported = pulumi.runtime.get_root_resource().outputs
        values = {name: pulumi.Output.from_input(value) for name, value in exported.items()}
        secrets = {name: pulumi.Output.from_input(value.is_secret()) for name, value in values.items()}

        def keep(resolved: list[dict[str, Any]]) -> None:
            deployment.exports.update(resolved[0])
            deployment.secret_exports.update(name for name, secret in resolved[1].items() if secret)

        return pulumi.Output.all(pulumi.Output.all(**values), pulumi.Output.all(**secrets)).apply(keep)

    previous = os.environ.get(CONFIG_ENV)
    # As the Python language host hands a program its config: one JSON object in PULUMI_CONFIG
    # (pulumi/pulumi sdk/python/cmd/pulumi-language-python/main.go, Run).
    os.environ[CONFIG_ENV] = json.dumps(cli_config(stack, overrides))
    try:
        program()
    except Exception as error:
        raise ProgramFailed(error, deployment) from error
    finally:
        if previous is None:
            del os.environ[CONFIG_ENV]
        else:
            os.environ[CONFIG_ENV] = previous
    return deployment
