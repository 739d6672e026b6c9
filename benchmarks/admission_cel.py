"""The admission policy's size and how long cel-python takes to judge the test corpus (a benchmark, not a test).

Run:  venv/bin/python benchmarks/admission_cel.py
Prints the rendered policy's size, its longest CEL expression, the corpus sizes, and the time cel-python
takes per request over the good corpus. The API server evaluates the same CEL with cel-go, far faster;
this figure only says what the test suite pays.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(PROJECT_DIR), str(PROJECT_DIR / "tests")]

from chaos_corpus import LABS, bad_requests, good_requests
from chaoslab.experiments import admission
from test_admission_policy import POLICY_NAME, CelPolicy


def main() -> None:
    lab = LABS[0]
    manifest = admission.policy(POLICY_NAME, lab.admission)
    spec = manifest["spec"]
    expressions = [item["expression"] for item in spec["variables"] + spec["validations"]]
    print(
        f"policy: {len(json.dumps(manifest))} bytes of JSON, {len(spec['variables'])} variables, {len(spec['validations'])} validations"
    )
    print(f"longest CEL expression: {max(map(len, expressions))} characters")
    print(
        f"corpus: {sum(1 for lab in LABS for _ in good_requests(lab))} good, {sum(1 for lab in LABS for _ in bad_requests(lab))} bad requests"
    )
    started = time.perf_counter()
    policy = CelPolicy(manifest)
    print(f"compile: {time.perf_counter() - started:.2f} s")
    timings = []
    for request in good_requests(lab):
        started = time.perf_counter()
        policy.denials(request)
        timings.append(time.perf_counter() - started)
    print(
        f"cel-python per request over {len(timings)} good requests: median {1000 * statistics.median(timings):.1f} ms, max {1000 * max(timings):.1f} ms"
    )


if __name__ == "__main__":
    main()
