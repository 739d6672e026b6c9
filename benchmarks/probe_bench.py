"""Benchmark: chaoslab's open-loop probe against `hey` on the same local nginx.

    ./venv/bin/python benchmarks/probe_bench.py [--duration 10s] [--rates 50,200,500,1000]

Starts nginx on loopback with a tiny config (a fixed 200 "ok"), then for each rate runs our probe
and hey (Debian package `hey`) for the same time and prints: achieved rate, p99 lateness of request
starts against their schedule (ours only: hey does not record when a request was due), latency p50
and p99, and CPU seconds per 1000 requests (process_time for ours, which runs in this process;
getrusage of the child for hey). hey's -q is a per-worker rate, so each rate is split into
workers x per-worker rate. A script, not a test: the figures depend on the machine.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chaoslab.experiments.durations import parse_duration
from chaoslab.probe import ProbeSettings, default_concurrency, probe

LOOPBACK = "127.0.0.1"
DEFAULT_RATES = (50, 200, 500, 1000)
TIMEOUT_S = 5.0
# hey workers for a total rate: enough that each worker's share stays a whole number per second,
# few enough that each one is kept busy.
HEY_WORKERS = {50: 5, 200: 10, 500: 10, 1000: 20}
REQUESTS_PER_UNIT = 1000
NGINX_CONFIG = """\
worker_processes 1;
pid {run}/nginx.pid;
error_log stderr warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {run}/client; proxy_temp_path {run}/proxy; fastcgi_temp_path {run}/fastcgi;
    uwsgi_temp_path {run}/uwsgi; scgi_temp_path {run}/scgi;
    server {{
        listen {address};
        location / {{ default_type text/plain; return 200 "ok\\n"; }}
    }}
}}
"""


@dataclass(frozen=True)
class Figures:
    tool: str
    rate: int
    achieved_rate: float
    start_lateness_p99_ms: float | None
    latency_p50_ms: float | None
    latency_p99_ms: float | None
    cpu_s_per_1000: float


def _free_port() -> int:
    with socket.socket() as probe_socket:
        probe_socket.bind((LOOPBACK, 0))
        return probe_socket.getsockname()[1]


@contextmanager
def local_nginx() -> Iterator[str]:
    binary = shutil.which("nginx", path="/usr/sbin:/usr/bin:/sbin")
    if binary is None:
        sys.exit("nginx not found: install the Debian package nginx")
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="probe-bench-") as run:
        config = Path(run) / "nginx.conf"
        config.write_text(NGINX_CONFIG.format(run=run, address=f"{LOOPBACK}:{port}"))
        process = subprocess.Popen([binary, "-e", "stderr", "-c", str(config), "-g", "daemon off;"])
        try:
            give_up = time.monotonic() + 10
            while True:
                try:
                    socket.create_connection((LOOPBACK, port), timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > give_up or process.poll() is not None:
                        sys.exit("nginx did not start")
                    time.sleep(0.05)
            yield f"http://{LOOPBACK}:{port}/"
        finally:
            process.terminate()
            process.wait()


def bench_ours(url: str, rate: int, duration_s: float) -> Figures:
    settings = ProbeSettings(url, rate, duration_s, TIMEOUT_S, default_concurrency(rate, TIMEOUT_S))
    cpu_before = time.process_time()
    summary = probe(settings).summary
    cpu_s = time.process_time() - cpu_before
    return Figures(
        "chaoslab",
        rate,
        summary.achieved_rate,
        summary.start_lateness_ms["p99"],
        summary.latency_ms["p50"],
        summary.latency_ms["p99"],
        cpu_s / summary.sent * REQUESTS_PER_UNIT,
    )


def bench_hey(url: str, rate: int, duration_s: float) -> Figures:
    binary = shutil.which("hey")
    if binary is None:
        sys.exit("hey not found: apt-get install -y hey")
    workers = HEY_WORKERS.get(rate, 10)
    per_worker = rate / workers
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    output = subprocess.run(
        [binary, "-z", f"{duration_s:g}s", "-q", f"{per_worker:g}", "-c", str(workers), url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    responses = sum(
        int(line.split()[1]) for line in output.splitlines() if line.strip().startswith("[") and "responses" in line
    )
    return Figures(
        "hey",
        rate,
        _field(output, "Requests/sec:"),
        None,
        _percentile(output, "50%"),
        _percentile(output, "99%"),
        cpu_s / responses * REQUESTS_PER_UNIT,
    )


def _field(output: str, label: str) -> float:
    return float(next(line.split()[1] for line in output.splitlines() if line.strip().startswith(label)))


def _percentile(output: str, label: str) -> float | None:
    """hey prints "  99% in 0.0012 secs" in its latency distribution."""
    for line in output.splitlines():
        words = line.split()
        if words[:2] == [label, "in"]:
            return float(words[2]) * 1000
    return None


def _cell(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", default="10s", help="per tool and rate, e.g. 10s")
    parser.add_argument(
        "--rates", default=",".join(map(str, DEFAULT_RATES)), help="requests per second, e.g. 50,200,500,1000"
    )
    args = parser.parse_args()
    duration_s = parse_duration(args.duration)
    rates = [int(rate) for rate in args.rates.split(",")]

    with local_nginx() as url:
        results = [(bench_ours(url, rate, duration_s), bench_hey(url, rate, duration_s)) for rate in rates]

    print(
        f"probe benchmark: local nginx, {duration_s:g} s per tool and rate, {len(os.sched_getaffinity(0))} CPUs usable"
    )
    print("| rate/s | tool | achieved/s | start lateness p99 ms | latency p50 ms | latency p99 ms | CPU s / 1000 req |")
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: |")
    for pair in results:
        for figures in pair:
            print(
                f"| {figures.rate} | {figures.tool} | {figures.achieved_rate:.1f} | {_cell(figures.start_lateness_p99_ms)} | "
                f"{_cell(figures.latency_p50_ms)} | {_cell(figures.latency_p99_ms)} | {figures.cpu_s_per_1000:.3f} |"
            )
    print()
    print("| rate/s | achieved, chaoslab / hey | CPU per request, chaoslab / hey |")
    print("| ---: | ---: | ---: |")
    for ours, hey in results:
        print(
            f"| {ours.rate} | {ours.achieved_rate / hey.achieved_rate:.3f} | {ours.cpu_s_per_1000 / hey.cpu_s_per_1000:.2f} |"
        )


if __name__ == "__main__":
    main()
