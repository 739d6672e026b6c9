"""Fills the CI roles' policy templates in delivery/iam/ with an account, a repository and a state bucket.

    python -m delivery.iam --account-id 123456789012 --repository my-org/chaos-lab \
        --state-bucket my-org-pulumi-state --out /tmp/chaos-lab-iam

writes one filled JSON file per template, ready for `aws iam create-role --assume-role-policy-document
file://...` and `aws iam put-role-policy --policy-document file://...` (docs/delivery.md). The same
templates are what the tests read, so the policies people create are the ones that were checked.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TEMPLATES_DIR = Path(__file__).resolve().parent / "iam"
ROLES = ("preview", "deploy")
GITHUB_ISSUER = "token.actions.githubusercontent.com"
STS_AUDIENCE = "sts.amazonaws.com"

# Each placeholder, the argument that fills it, the pattern a value must match and how to say so.
# The repository pattern admits no '*' or '?': a trust policy's subject must name one repository.
_PLACEHOLDERS = {
    "<account-id>": ("--account-id", re.compile(r"\d{12}"), "12 digits"),
    # GitHub spells owners with letters, digits and hyphens; repositories also allow '.' and '_'.
    "<owner>/<repo>": (
        "--repository",
        re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]*)/[A-Za-z0-9._-]+"),
        "owner/name as GitHub spells it",
    ),
    # S3's bucket naming rules for general purpose buckets.
    "<state-bucket>": (
        "--state-bucket",
        re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]"),
        "an S3 bucket name: 3-63 of a-z, 0-9, '.', '-'",
    ),
}


class RenderError(ValueError):
    pass


@dataclass(frozen=True)
class Target:
    account_id: str
    repository: str
    state_bucket: str

    def values(self) -> dict[str, str]:
        return {"<account-id>": self.account_id, "<owner>/<repo>": self.repository, "<state-bucket>": self.state_bucket}


def template_names() -> list[str]:
    return [f"{role}-{kind}.json" for role in ROLES for kind in ("trust", "permissions")]


def template(name: str) -> Any:
    return json.loads((TEMPLATES_DIR / name).read_text())


def _checked(target: Target) -> dict[str, str]:
    values = target.values()
    problems = [
        f"{flag}: got {values[placeholder]!r}; accepted {accepted}"
        for placeholder, (flag, pattern, accepted) in _PLACEHOLDERS.items()
        if not pattern.fullmatch(values[placeholder])
    ]
    if problems:
        raise RenderError("; ".join(problems))
    return values


def _fill(node: Any, values: dict[str, str]) -> Any:
    if isinstance(node, str):
        for placeholder, value in values.items():
            node = node.replace(placeholder, value)
        return node
    if isinstance(node, list):
        return [_fill(item, values) for item in node]
    if isinstance(node, dict):
        return {key: _fill(value, values) for key, value in node.items()}
    return node


def render(name: str, target: Target) -> Any:
    """The template `name` with every placeholder filled; bad values are refused before anything is filled."""
    return _fill(template(name), _checked(target))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m delivery.iam", description=__doc__.split("\n\n")[0])
    parser.add_argument("--account-id", required=True)
    parser.add_argument("--repository", required=True, help="owner/name of the GitHub repository")
    parser.add_argument("--state-bucket", required=True, help="the S3 bucket of the Pulumi state backend")
    parser.add_argument("--out", required=True, type=Path, help="directory to write the filled policies to")
    args = parser.parse_args(argv)
    target = Target(account_id=args.account_id, repository=args.repository, state_bucket=args.state_bucket)
    try:
        rendered = {name: render(name, target) for name in template_names()}
    except RenderError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    for name, policy in rendered.items():
        (args.out / name).write_text(json.dumps(policy, indent=2) + "\n")
        print(args.out / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
