"""Chaos experiments as data: a typed model of the Chaos Mesh objects, the lab's catalog, the AWS FIS
entries and templates (`fis`, `fis_actions`), and the reader for the `chaos-lab:experiments` stack config.
Pure Python: renders plain dicts, imports no Pulumi.
"""

from .catalog import CATALOG, CatalogEntry, Parameters
from .config import COMMON_KEYS, parse_experiments
from .describe import Description
from .errors import ChaosLabError, ConfigError, ExperimentError
from .fence import Fence
from .model import (
    API_VERSION,
    Bandwidth,
    ChaosStep,
    ConcurrencyPolicy,
    Corrupt,
    CpuStressor,
    Delay,
    Direction,
    Duplicate,
    Experiment,
    Loss,
    MemoryStressor,
    Mode,
    NetworkAction,
    NetworkChaos,
    Parallel,
    Partition,
    PodAction,
    PodChaos,
    PodSelection,
    Schedule,
    Serial,
    StatusCheck,
    StatusCheckMode,
    StressChaos,
    Suspend,
    Workflow,
)

__all__ = [
    "API_VERSION",
    "CATALOG",
    "COMMON_KEYS",
    "Bandwidth",
    "CatalogEntry",
    "ChaosLabError",
    "ChaosStep",
    "ConcurrencyPolicy",
    "ConfigError",
    "Corrupt",
    "CpuStressor",
    "Delay",
    "Description",
    "Direction",
    "Duplicate",
    "Experiment",
    "ExperimentError",
    "Fence",
    "Loss",
    "MemoryStressor",
    "Mode",
    "NetworkAction",
    "NetworkChaos",
    "Parallel",
    "Parameters",
    "Partition",
    "PodAction",
    "PodChaos",
    "PodSelection",
    "Schedule",
    "Serial",
    "StatusCheck",
    "StatusCheckMode",
    "StressChaos",
    "Suspend",
    "Workflow",
    "parse_experiments",
]
