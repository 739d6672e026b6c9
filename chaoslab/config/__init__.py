"""The lab's one typed config model, shared by the Pulumi program and the `chaoslab` CLI.

Pure Python with no Pulumi import, so the installed CLI parses a stack's config with exactly the
checks `pulumi up` applies, and rejects what `up` would reject with the same messages.
"""

from chaoslab.config.model import NAMESPACE, TOP_LEVEL_KEYS, LabConfig, lab_keys, parse_config
from chaoslab.experiments.errors import ConfigError

__all__ = ["NAMESPACE", "TOP_LEVEL_KEYS", "ConfigError", "LabConfig", "lab_keys", "parse_config"]
