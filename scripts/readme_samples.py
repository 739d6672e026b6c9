"""The README's preview samples, generated from the real program under Pulumi's mocks so they stay true.

Run:  venv/bin/python scripts/readme_samples.py           # rewrite the samples in README.md
      venv/bin/python scripts/readme_samples.py --check   # exit 1 when README.md's samples are stale

The samples are the `kind` stack with basic-pod-kill enabled (the free path, no AWS): the `experiments`
stack output a preview shows, and the tree of resources the program declares. Each sample sits in
README.md between `<!-- generated: NAME -->` and `<!-- end generated: NAME -->`.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
README = PROJECT_DIR / "README.md"
sys.path[:0] = [str(PROJECT_DIR), str(PROJECT_DIR / "tests")]

from pulumi_harness import Deployment, Registration, run_lab

SAMPLE_STACK = "kind"
SAMPLE_OVERRIDES = {"experiments": {"basic-pod-kill": {"enabled": True}}}
# Runs of more sibling resources of one type than this are shown as one counted line: 23 CRDs
# would otherwise bury the components the tree is there to show.
LISTED_SIBLINGS = 3


def experiments_output(deployment: Deployment) -> str:
    return json.dumps(deployment.exports["experiments"], indent=2, ensure_ascii=False)


def _children(deployment: Deployment) -> dict[str, list[Registration]]:
    declared = {item.urn for item in deployment.registrations}
    children: dict[str, list[Registration]] = {}
    for item in deployment.registrations:
        # The root Stack is not registered through the monitor's list; its children hang off "".
        children.setdefault(item.parent if item.parent in declared else "", []).append(item)
    return children


def _tree_lines(children: dict[str, list[Registration]], parent: str, indent: str) -> Iterator[str]:
    # Sorted: the order in which the program registers siblings depends on when their inputs resolve.
    siblings = sorted(children.get(parent, []), key=lambda item: (item.type, item.name))
    groups: list[list[Registration]] = []
    for item in siblings:
        if groups and groups[-1][0].type == item.type and not children.get(item.urn):
            groups[-1].append(item)
        else:
            groups.append([item])
    for index, group in enumerate(groups):
        last = index == len(groups) - 1
        if len(group) > LISTED_SIBLINGS:
            yield f"{indent}{'└─ ' if last else '├─ '}{group[0].type}  ({len(group)} of them)"
            continue
        for position, item in enumerate(group):
            item_last = last and position == len(group) - 1
            item_branch, item_below = ("└─ ", "   ") if item_last else ("├─ ", "│  ")
            yield f"{indent}{item_branch}{item.type}  {item.name}"
            yield from _tree_lines(children, item.urn, indent + item_below)


def resource_tree(deployment: Deployment) -> str:
    lines = [f"pulumi:pulumi:Stack  chaos-lab-{SAMPLE_STACK}", *_tree_lines(_children(deployment), "", "")]
    return "\n".join(lines)


def samples() -> dict[str, str]:
    deployment = run_lab(SAMPLE_STACK, SAMPLE_OVERRIDES)
    return {
        "experiments-output": f"```json\n{experiments_output(deployment)}\n```",
        "resource-tree": f"```text\n{resource_tree(deployment)}\n```",
    }


def with_samples(readme: str, generated: dict[str, str]) -> str:
    for name, body in generated.items():
        pattern = re.compile(rf"(<!-- generated: {name} -->\n).*?(\n<!-- end generated: {name} -->)", re.S)
        if not pattern.search(readme):
            raise SystemExit(
                f"README.md has no '<!-- generated: {name} -->' ... '<!-- end generated: {name} -->' block"
            )
        readme = pattern.sub(lambda match, body=body: match.group(1) + body + match.group(2), readme)
    return readme


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="do not write; exit 1 when README.md's samples are stale")
    check = parser.parse_args().check
    current = README.read_text()
    wanted = with_samples(current, samples())
    if check:
        if wanted != current:
            print(
                "README.md's generated samples are stale: run venv/bin/python scripts/readme_samples.py",
                file=sys.stderr,
            )
            return 1
        return 0
    README.write_text(wanted)
    return 0


if __name__ == "__main__":
    sys.exit(main())
