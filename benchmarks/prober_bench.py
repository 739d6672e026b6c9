"""Benchmark: the in-cluster prober at its highest accepted rate within the pod's 100m CPU request.

    ./venv/bin/python benchmarks/prober_bench.py [--rate 50] [--intervals 6] [--quota-percent 10]

Runs `python -m chaoslab.prober` (publishing to CloudWatch in moto's server mode, as the pod does
to CloudWatch) against a local nginx, inside a cgroup v1 `cpu` group whose CFS quota is
--quota-percent of one CPU: 10 % is what a 100m request would guarantee, enforced here as a hard cap
(the pod has no CPU limit, so this is the harsher case). Needs root and cgroup v1's cpu and cpuacct
controllers. After one warm-up interval it reads each interval's figures from the prober's own
/metrics and prints, per interval, the requests scheduled and not sent, the success ratio, the p99
latency and how long after the interval's end the prober had published it; then the CPU the group
used (cpuacct), per 1000 requests and as a share of one CPU, how often the quota throttled it, and
the prober's peak memory. A script, not a test: the figures depend on the machine.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(PROJECT_DIR), str(PROJECT_DIR / "tests")]

from probe_bench import local_nginx
from prometheus_client.parser import text_string_to_metric_families

from chaoslab.prober.figures import PUBLISH_INTERVAL_S
from demo_app_stack import free_port
from moto_cloudwatch import CREDENTIALS, REGION, moto_server

CGROUP_ROOT = Path("/sys/fs/cgroup")
CFS_PERIOD_US = 100_000
NS_PER_S = 1e9
REQUESTS_PER_UNIT = 1000
TIMEOUT_S = 5.0
WARM_UP_INTERVALS = 1


@dataclass(frozen=True)
class Interval:
    started_at: float
    requests: float
    not_sent: float
    success_ratio: float
    latency_p99_ms: float | None
    published_after_end_s: float


@contextmanager
def cpu_cgroup(quota_percent: float) -> Iterator[tuple[Path, Path]]:
    """A fresh cgroup in the cpu and cpuacct hierarchies; (cpu dir, cpuacct dir). Removed afterwards."""
    name = f"chaoslab-prober-bench-{os.getpid()}"
    cpu, cpuacct = CGROUP_ROOT / "cpu" / name, CGROUP_ROOT / "cpuacct" / name
    for directory in (cpu, cpuacct):
        directory.mkdir()
    try:
        (cpu / "cpu.cfs_period_us").write_text(str(CFS_PERIOD_US))
        (cpu / "cpu.cfs_quota_us").write_text(str(round(CFS_PERIOD_US * quota_percent / 100)))
        yield cpu, cpuacct
    finally:
        for directory in (cpu, cpuacct):
            directory.rmdir()


def metrics(port: int) -> dict[tuple[str, str], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
        text = answer.read().decode()
    return {
        (sample.name, sample.labels.get("quantile", "")): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if "kind" not in sample.labels
    }


def collect(port: int, count: int, process: subprocess.Popen[bytes]) -> list[Interval]:
    """Each newly published interval's figures, polled from /metrics, until `count` of them."""
    seen: list[Interval] = []
    last_start = None
    give_up = time.time() + (count + 3) * PUBLISH_INTERVAL_S
    while len(seen) < count and time.time() < give_up and process.poll() is None:
        time.sleep(0.5)
        try:
            figures = metrics(port)
        except OSError:
            continue
        started_at = figures.get(("chaoslab_steady_state_interval_start_timestamp_seconds", ""))
        if started_at is None or started_at == last_start:
            continue
        last_start = started_at
        p99 = figures.get(("chaoslab_steady_state_latency_seconds", "0.99"))
        seen.append(
            Interval(
                started_at=started_at,
                requests=figures[("chaoslab_steady_state_requests", "")],
                not_sent=figures[("chaoslab_steady_state_not_sent", "")],
                success_ratio=figures[("chaoslab_steady_state_success_ratio", "")],
                latency_p99_ms=None if p99 is None else p99 * 1000,
                published_after_end_s=figures[("chaoslab_steady_state_last_publish_timestamp_seconds", "")]
                - started_at
                - PUBLISH_INTERVAL_S,
            )
        )
    return seen


def throttling(cpu: Path) -> dict[str, int]:
    return {key: int(value) for key, value in (line.split() for line in (cpu / "cpu.stat").read_text().splitlines())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=50.0, help="requests per second (the config's maximum is 50)")
    parser.add_argument(
        "--intervals", type=int, default=6, help="10-second intervals measured after one warm-up interval"
    )
    parser.add_argument(
        "--quota-percent", type=float, default=10.0, help="CFS quota as a percent of one CPU; 10 is 100m"
    )
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root, to create the cgroup")
    port = free_port()

    with local_nginx() as url, moto_server() as endpoint, cpu_cgroup(args.quota_percent) as (cpu, cpuacct):
        environment = {
            **os.environ,
            **CREDENTIALS,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ENDPOINT_URL": endpoint,
            "PYTHONPATH": str(PROJECT_DIR),
        }

        command = [sys.executable, "-m", "chaoslab.prober", "--url", url, "--rate", f"{args.rate:g}", "--timeout", f"{TIMEOUT_S:g}",
                   "--stack", "bench", "--cloudwatch", "--port", str(port)]  # fmt: skip
        process = subprocess.Popen(
            command,
            env=environment,
            cwd=PROJECT_DIR,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        # Moved after the start rather than in a preexec_fn, which is unsafe beside the moto server's threads;
        # writing to cgroup.procs moves every thread of the process, and the warm-up intervals are not measured.
        for directory in (cpu, cpuacct):
            (directory / "cgroup.procs").write_text(str(process.pid))
        try:
            collect(port, WARM_UP_INTERVALS, process)
            usage_before, throttled_before, wall_before = (
                int((cpuacct / "cpuacct.usage").read_text()),
                throttling(cpu),
                time.monotonic(),
            )
            intervals = collect(port, args.intervals, process)
            usage_after, throttled_after, wall_after = (
                int((cpuacct / "cpuacct.usage").read_text()),
                throttling(cpu),
                time.monotonic(),
            )
            peak_kib = next(
                int(line.split()[1])
                for line in Path(f"/proc/{process.pid}/status").read_text().splitlines()
                if line.startswith("VmHWM:")
            )
        finally:
            process.terminate()
            process.wait()

    cpu_s = (usage_after - usage_before) / NS_PER_S
    wall_s = wall_after - wall_before
    requests = sum(item.requests for item in intervals)
    periods = throttled_after["nr_periods"] - throttled_before["nr_periods"]
    throttled = throttled_after["nr_throttled"] - throttled_before["nr_throttled"]
    held = bool(intervals) and all(
        item.requests == args.rate * PUBLISH_INTERVAL_S
        and item.not_sent == 0
        and item.published_after_end_s < PUBLISH_INTERVAL_S
        for item in intervals
    )
    print(f"prober benchmark: {args.rate:g}/s against local nginx, CloudWatch in moto, cgroup cpu quota {args.quota_percent:g} % of one CPU, "
          f"{len(os.sched_getaffinity(0))} CPUs on the machine")  # fmt: skip
    print("| interval start | requests | not sent | success | p99 ms | published after interval end s |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for item in intervals:
        p99 = "n/a" if item.latency_p99_ms is None else f"{item.latency_p99_ms:.2f}"
        print(f"| {time.strftime('%H:%M:%S', time.gmtime(item.started_at))} | {item.requests:.0f} | {item.not_sent:.0f} | "
              f"{item.success_ratio:.3f} | {p99} | {item.published_after_end_s:.2f} |")  # fmt: skip
    print()
    print(
        f"CPU: {cpu_s:.2f} s over {wall_s:.1f} s = {cpu_s / wall_s:.1%} of one CPU; "
        f"{cpu_s / requests * REQUESTS_PER_UNIT:.3f} CPU-s per 1000 requests"
        if requests
        else "CPU: no interval measured"
    )
    print(f"CFS: throttled in {throttled} of {periods} periods; peak memory (VmHWM) {peak_kib / 1024:.1f} MiB")
    print(f"held {args.rate:g}/s in every interval, published within the next interval: {'yes' if held else 'NO'}")


if __name__ == "__main__":
    main()
