"""Chaos Mesh 2.8's kinds and their API resource names: the one list the CLI watches, pauses and halts.

Every experiment kind takes the pause annotation, and the 2.8.3 Schedule CRD embeds one spec field per
kind (tests/test_chaoslab_halt.py derives the list from it). Each resource name is the lower-cased kind,
as each CRD names its plural.
"""

from __future__ import annotations

EXPERIMENT_KINDS = (
    "PodChaos",
    "NetworkChaos",
    "StressChaos",
    "IOChaos",
    "TimeChaos",
    "DNSChaos",
    "HTTPChaos",
    "KernelChaos",
    "JVMChaos",
    "BlockChaos",
    "PhysicalMachineChaos",
    "AWSChaos",
    "AzureChaos",
    "GCPChaos",
)
EXPERIMENT_RESOURCES = tuple(kind.lower() for kind in EXPERIMENT_KINDS)
SCHEDULES = "schedules"
WORKFLOWS = "workflows"
# Kind -> resource name of what reports injection and recovery in its own conditions, so `run` can watch
# it. Not a Schedule: its status holds only `active` and `time`.
WATCHABLE_RESOURCES = {**dict(zip(EXPERIMENT_KINDS, EXPERIMENT_RESOURCES, strict=True)), "Workflow": WORKFLOWS}
