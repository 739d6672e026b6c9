"""chaos-lab: read the stack's config, build the lab."""

from stacks.lab import build_lab, load_config

build_lab(load_config())
