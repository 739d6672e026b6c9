"""docs/operator.md states what the code does: every hypothesis, every exit code, every command.

Not covered: the prose around them.
"""

from __future__ import annotations

from pathlib import Path

from chaoslab.exit_codes import ExitCode
from chaoslab.fis_hypotheses import FIS_HYPOTHESES
from chaoslab.hypotheses import HYPOTHESES, RECOVERED_AFTER, STEADY_STATE_BEFORE

GUIDE = (Path(__file__).resolve().parent.parent / "docs" / "operator.md").read_text()


def test_the_hypotheses_table_matches_the_hypotheses() -> None:
    rows = {line.split(" | ")[0].removeprefix("| "): line for line in GUIDE.splitlines() if line.startswith("| ")}
    for name, hypothesis in {**HYPOTHESES, **FIS_HYPOTHESES}.items():
        assert hypothesis.title in rows[name]
        for requirement in hypothesis.describe():
            assert f"`{requirement}`" in rows[name], (name, requirement)
    for tolerance in (*STEADY_STATE_BEFORE, *RECOVERED_AFTER):
        assert f"`{tolerance.describe()}`" in GUIDE


def test_every_exit_code_is_documented() -> None:
    documented = {
        int(line.split(" | ")[0].removeprefix("| "))
        for line in GUIDE.split("## Exit codes")[1].split("##")[0].splitlines()
        if line.startswith("| ") and line[2].isdigit()
    }
    assert documented == {code.value for code in ExitCode}


def test_every_command_has_a_section() -> None:
    for heading in (
        "### `probe URL`",
        "### `run EXPERIMENT --stack STACK`",
        "### `halt`",
        "### `resume`",
        "### `report RUN_DIR`",
        "### `hypotheses`",
        "### Abort conditions (`--abort-if`)",
    ):
        assert heading in GUIDE
