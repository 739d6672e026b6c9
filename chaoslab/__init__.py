"""chaoslab: the operator CLI for the chaos lab.

It probes the demo app open-loop, switches one catalog experiment on and off through the stack's
config (Pulumi Automation API), watches Chaos Mesh inject and recover it (Kubernetes API), judges the
experiment's steady-state hypothesis and writes a Chaos Toolkit-shaped journal and report.
It never imports `components`: it drives the stack from outside, as an operator would.
"""

__version__ = "0.1.0"
