"""Calls the policy pack's validators the way the pulumi-policy analyzer does, without its server.

The analyzer receives props as a protobuf Struct, so numbers arrive as floats, and hands them to
validators wrapped in read-only proxies that are Mappings and Sequences but not dicts and lists.
`engine_props` repeats that trip, so a rule that only works on plain dicts fails here too.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from google.protobuf import json_format, struct_pb2
from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.deserialize import deserialize_properties
from pulumi_policy.proxy import unknown_checking_proxy

from chaoslab.experiments import CATALOG
from experiments_support import FENCE
from pulumi_harness import PROJECT, PROJECT_DIR, Registration

POLICY_CONFIG_DIR = PROJECT_DIR / "policy" / "config"
AnyPolicy = ResourceValidationPolicy | StackValidationPolicy


def urn(resource_type: str, name: str, stack: str = "dev") -> str:
    return f"urn:pulumi:{stack}::{PROJECT}::{resource_type}::{name}"


def engine_props(props: Mapping[str, Any]) -> Mapping[str, Any]:
    struct = struct_pb2.Struct()
    struct.update(props)
    return unknown_checking_proxy(deserialize_properties(json_format.MessageToDict(struct)))


def _no_options() -> PolicyResourceOptions:
    return PolicyResourceOptions(
        protect=False,
        ignore_changes=[],
        delete_before_replace=None,
        aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
        additional_secret_outputs=[],
    )


def resource_args(
    resource_type: str,
    props: Mapping[str, Any],
    *,
    name: str = "subject",
    stack: str = "dev",
    config: Mapping[str, Any] | None = None,
) -> ResourceValidationArgs:
    return ResourceValidationArgs(
        resource_type, engine_props(props), urn(resource_type, name, stack), name, _no_options(), None, config
    )


def policy_resource(
    resource_type: str, props: Mapping[str, Any], *, name: str = "subject", stack: str = "dev"
) -> PolicyResource:
    return PolicyResource(
        resource_type, engine_props(props), urn(resource_type, name, stack), name, _no_options(), None, None, [], {}
    )


def registration_args(registration: Registration, config: Mapping[str, Any] | None = None) -> ResourceValidationArgs:
    """A resource the mocked program declared, as a resource policy sees it."""
    return ResourceValidationArgs(
        registration.type,
        engine_props(registration.inputs),
        registration.urn,
        registration.name,
        _no_options(),
        None,
        config,
    )


def from_registration(registration: Registration) -> PolicyResource:
    """A resource the mocked program declared, as a stack policy sees it (mocks echo inputs as outputs)."""
    return PolicyResource(
        registration.type,
        engine_props(registration.inputs),
        registration.urn,
        registration.name,
        _no_options(),
        None,
        None,
        [],
        {},
    )


def violations(policy: AnyPolicy, args: ResourceValidationArgs | StackValidationArgs) -> list[str]:
    """Every message the policy reports; the SDK would prefix each with the policy's description."""
    found: list[str] = []
    policy.validate(args, lambda message, urn=None: found.append(message))  # type: ignore[arg-type]  # the SDK's reporter type is internal; this one keeps messages
    return found


def stack_violations(
    policy: StackValidationPolicy, resources: Iterable[PolicyResource], config: Mapping[str, Any] | None = None
) -> list[str]:
    return violations(policy, StackValidationArgs(list(resources), config))


def policy_config(stack: str) -> dict[str, dict[str, Any]]:
    """The pack's config for `stack`, as CI passes it with --policy-pack-config."""
    return json.loads((POLICY_CONFIG_DIR / f"{stack}.json").read_text())


def policy_config_files() -> list[Path]:
    return sorted(POLICY_CONFIG_DIR.glob("*.json"))


def chaos_type(kind: str) -> str:
    return f"kubernetes:chaos-mesh.org/v1alpha1:{kind}"


def chaos_manifest(name: str, schedule: str | None = None, **overrides: Any) -> dict[str, Any]:
    """The catalog entry `name` exactly as the program renders it, with parameter `overrides`."""
    entry = CATALOG[name]
    return entry.experiment(replace(entry.defaults, **overrides), FENCE, schedule).manifest()


def chaos_args(manifest: Mapping[str, Any], **options: Any) -> ResourceValidationArgs:
    return resource_args(chaos_type(manifest["kind"]), manifest, name=manifest["metadata"]["name"], **options)
