"""Whether the pulumi CLI is here, for the tests that drive it through the Automation API.

Only tests/test_chaoslab_stack.py needs it. Without it those tests skip, under CI=true too, because
.ci/run also runs on machines that cannot install the CLI. GitHub's test workflow installs it and
sets REQUIRE_PULUMI_CLI, so there a missing CLI fails the tests instead of skipping them silently.
"""

from __future__ import annotations

import os
import shutil

import pytest

REQUIRE_PULUMI_CLI = "CHAOSLAB_REQUIRE_PULUMI_CLI"
MISSING_PULUMI_CLI = (
    "the pulumi CLI is not on PATH: the Automation API tests in tests/test_chaoslab_stack.py drive it "
    f"(install it from https://www.pulumi.com/docs/install/; {REQUIRE_PULUMI_CLI}=1 makes this a failure)"
)


def require_pulumi_cli() -> str:
    """The CLI's path; otherwise a skip, or a failure where REQUIRE_PULUMI_CLI=1 says it must be here."""
    found = shutil.which("pulumi")
    if found:
        return found
    if os.environ.get(REQUIRE_PULUMI_CLI) == "1":
        pytest.fail(MISSING_PULUMI_CLI)
    pytest.skip(MISSING_PULUMI_CLI)
