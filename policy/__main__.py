"""The chaos-lab policy pack, as `pulumi preview --policy-pack policy` runs it.

Building the PolicyPack starts the analyzer server and blocks, so nothing imports this file: the
tests import the rules package instead.
"""

from pulumi_policy import PolicyPack
from rules import POLICIES

PolicyPack(name="chaos-lab", policies=list(POLICIES))
