"""The README a newcomer follows: every command in it runs here or says what it needs, every link resolves,
the generated preview samples are current, and the figures it quotes are the ones the code computes.

Not covered: commands marked `# needs AWS` or `# needs a cluster` (no account or cluster here), and the
prose around the commands.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from chaoslab.config.aws_facts import FACTS_AS_OF, PRICES
from chaoslab.config.model import parse_config
from chaoslab.experiments import CATALOG
from chaoslab.experiments.fis import FIS_CATALOG
from stacks.cost import WRITE_UP_SETUP, cost_inputs, estimate_hourly_cost

PROJECT_DIR = Path(__file__).resolve().parent.parent
README = PROJECT_DIR / "README.md"
sys.path.insert(0, str(PROJECT_DIR / "scripts"))

import readme_samples  # noqa: E402  scripts/ goes on sys.path just above

MARKERS = ("# needs AWS", "# needs a cluster")
# What a shell command in the README starts with.
COMMAND_PREFIXES = ("./scripts/", "venv/bin/python", "pulumi ", "kubectl", "aws ", "kind ", "curl ")
SHELL_BLOCK = re.compile(r"^```(?:bash|sh|shell)\n(.*?)^```", re.M | re.S)
# The command that runs this very suite: running it from inside the suite would recurse.
TEST_COMMAND = "./scripts/test"
WORD_LIMIT = 2000
DOCUMENTS = [README, *sorted((PROJECT_DIR / "docs").glob("*.md"))]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def readme() -> str:
    return README.read_text()


def fenced_commands(text: str) -> list[str]:
    return [
        line.strip()
        for block in SHELL_BLOCK.findall(text)
        for line in block.splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]


def unmarked(command: str) -> bool:
    return not command.endswith(MARKERS)


def runnable_commands() -> list[str]:
    return [command.partition("  #")[0].strip() for command in fenced_commands(readme()) if unmarked(command)]


def test_every_command_is_marked_or_runnable_and_the_markers_are_explained() -> None:
    commands = fenced_commands(readme())
    assert commands
    for command in commands:
        assert command.startswith(COMMAND_PREFIXES), f"not a command this test knows how to judge: {command}"
        comment = command.partition("  #")[2].strip()
        assert unmarked(command) or comment in {marker.removeprefix("# ") for marker in MARKERS}, command
    for marker in MARKERS:
        assert f"`{marker}`" in readme()


@pytest.mark.parametrize("command", [command for command in runnable_commands() if command != TEST_COMMAND])
def test_an_unmarked_command_runs_here(command: str) -> None:
    # The suite's own interpreter stands in for ./venv, which a CI runner may have built elsewhere.
    argv = command.replace("venv/bin/python", sys.executable, 1)
    result = subprocess.run(
        ["bash", "-c", argv], cwd=PROJECT_DIR, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, f"{command}: exit {result.returncode}\n{result.stderr[-2000:]}"


def test_the_test_command_runs_this_suite() -> None:
    assert TEST_COMMAND in runnable_commands()
    script = (PROJECT_DIR / TEST_COMMAND).read_text()
    assert script.rstrip().splitlines()[-1] == 'exec venv/bin/python -m pytest "$@"'


def test_the_newcomer_commands_are_the_lab_and_the_test_script() -> None:
    commands = {command.partition("#")[0].strip() for command in fenced_commands(readme())}
    assert {"./scripts/lab up", "./scripts/test"} <= commands


def test_inline_commands_are_ones_a_block_shows() -> None:
    """An inline command names one shown (and marked) in a block: its words appear there, in order."""
    blocks = [command.split() for command in fenced_commands(readme())]

    def shown(words: list[str]) -> bool:
        def in_order(block: list[str]) -> bool:
            remaining = iter(block)
            return all(word in remaining for word in words)

        return any(in_order(block) for block in blocks)

    for span in re.findall(r"(?<!`)`([^`\n]+)`(?!`)", SHELL_BLOCK.sub("", readme())):
        if span.startswith(COMMAND_PREFIXES):
            assert shown(span.split()), span


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.relative_to(PROJECT_DIR).as_posix())
def test_links_point_at_files_here_or_public_urls(document: Path) -> None:
    text = document.read_text()
    for target in LINK.findall(text):
        if target.startswith(("https://", "http://")):
            continue
        assert ":" not in target.partition("#")[0], (
            f"{document.name}: {target} is neither a repository file nor a public URL"
        )
        path = target.partition("#")[0]
        if path:
            assert (document.parent / path).resolve().is_file(), f"{document.name}: {target} does not exist"
            assert PROJECT_DIR in (document.parent / path).resolve().parents, (
                f"{document.name}: {target} leaves the repository"
            )


def test_the_readme_stays_short() -> None:
    assert len(readme().split()) < WORD_LIMIT


def test_the_preview_samples_are_current() -> None:
    assert readme_samples.with_samples(readme(), readme_samples.samples()) == readme()


def test_the_readme_quotes_the_computed_prices() -> None:
    lab = estimate_hourly_cost(cost_inputs(parse_config({}, stack="dev", today=FACTS_AS_OF), FACTS_AS_OF))
    write_up = estimate_hourly_cost(WRITE_UP_SETUP)
    text = " ".join(readme().split())
    assert (
        f"**${lab.total_per_hour:.4f} an hour** (about ${lab.total_per_hour * PRICES.hours_per_month:.0f} a month)"
        in text
    )
    assert f"The write-up's setup costs ${write_up.total_per_hour:.4f}" in text


def test_the_catalog_names_every_experiment() -> None:
    catalog = readme().split("## The catalog")[1].split("\n## ")[0]
    for name in [*CATALOG, *FIS_CATALOG]:
        assert f"`{name}`" in catalog, name


def test_troubleshooting_names_the_recovery_levers() -> None:
    troubleshooting = readme().split("## Troubleshooting")[1].split("\n## ")[0]
    for needed in (
        "chaos-mesh.chaos-mesh.org/cleanFinalizer=forced",
        "chaoslab halt",
        "Specified qdisc not found",
        "aws eks get-token",
        "port-forward",
        "spot",
        "passphrase",
        "chaosMesh.version",
    ):
        assert needed in troubleshooting, needed
