"""The prober as the pod runs it, end to end: the locked packages installed here from the same lock file
with the init container's own pip command, the code from the same files the ConfigMap carries, the
Deployment's own command line, against the real demo app (Debian's nginx, apache2 and redis-server
running the pods' configs) and CloudWatch in moto's server mode.

Redis is then stopped, as the database-partition experiment cuts it off: the success rate read back
with GetMetricData falls, the backend's 503s show under their error kind, the prober stays healthy
(it is still publishing), and the stack's own alarm definitions, evaluated on that series by the
rules in tests/cloudwatch_alarms.py, go from OK to ALARM; with the prober gone, missing data alarms too.
"""

from __future__ import annotations

import http.client
import itertools
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from chaoslab.config.model import SteadyStateConfig
from chaoslab.prober import figures
from chaoslab.samples import ErrorKind
from cloudwatch_alarms import ALARM, OK, AlarmRule, evaluate
from components import steady_state
from demo_app_stack import LOOPBACK, DemoLab, free_port, wait_until
from moto_cloudwatch import CREDENTIALS, REGION, client, moto_server, series
from pulumi_harness import PROJECT_DIR

STACK = "e2e"
INTERVAL_S = figures.PUBLISH_INTERVAL_S
# Gentler than the default on a shared 2-core machine: every request forks a perl CGI in the backend.
SETTINGS = SteadyStateConfig(rate=5.0, timeout_s=2.0)
HEALTHY_INTERVALS = 2
# Enough fully broken periods for the success-rate alarm (three of three by default) on them alone.
BROKEN_INTERVALS = SETTINGS.datapoints_to_alarm
# Bounds a broken run, not a normal one: the first interval publishes within two intervals of start.
PUBLISH_DEADLINE_S = (HEALTHY_INTERVALS + BROKEN_INTERVALS + 3) * INTERVAL_S
INSTALL_TIMEOUT_S = 300


@pytest.fixture(scope="module")
def pinned_prober(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding deps/ (the lock, installed as the init container installs it) and code/."""
    root = tmp_path_factory.mktemp("prober")
    command = steady_state.install_command(str(PROJECT_DIR / steady_state.LOCK_FILE), target=str(root / "deps"))
    assert command[0] == "python"
    subprocess.run([sys.executable, *command[1:]], check=True, timeout=INSTALL_TIMEOUT_S, capture_output=True)
    for path, text in steady_state.prober_sources().items():
        (root / "code" / path).parent.mkdir(parents=True, exist_ok=True)
        (root / "code" / path).write_text(text)
    return root


def http_get(port: int, path: str) -> tuple[int, str]:
    connection = http.client.HTTPConnection(LOOPBACK, port, timeout=5)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


@pytest.fixture
def lab() -> Iterator[DemoLab]:
    with DemoLab() as lab:
        yield lab


def test_pinned_prober_publishes_the_steady_state_falling_when_redis_goes_and_the_alarms_fire(
    pinned_prober: Path, lab: DemoLab
):
    redis = lab.redis()
    frontend = lab.frontend([lab.backend(redis.port).address])
    target = f"http://{LOOPBACK}:{frontend.port}/api/"
    port = free_port()
    command = steady_state.prober_command(target, SETTINGS, STACK, cloudwatch=True, port=port)
    assert command[0] == "python"
    with moto_server() as endpoint:
        environment = {
            "PATH": os.environ.get("PATH", ""),
            "PYTHONPATH": f"{pinned_prober / 'code'}:{pinned_prober / 'deps'}",
            "PYTHONDONTWRITEBYTECODE": "1",
            steady_state.REGION_VARIABLE: REGION,
            "AWS_ENDPOINT_URL": endpoint,
            **CREDENTIALS,
        }
        # -S: no site-packages, so nothing but the standard library, the locked packages and the shipped
        # code is importable; run from the temp dir so the project checkout is not on the path either.
        prober = subprocess.Popen(
            [sys.executable, "-S", *command[1:]],
            env=environment,
            cwd=pinned_prober,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            cloudwatch = client(endpoint)
            namespace = figures.cloudwatch_namespace(STACK)
            dims = figures.dimensions(STACK, target)
            # On a period boundary, as CloudWatch aligns periods: moto counts its periods from StartTime.
            now = datetime.now(UTC).replace(microsecond=0)
            start = now - timedelta(seconds=now.second % INTERVAL_S + INTERVAL_S)

            def read(metric: str, stat: str, extra: dict[str, str] | None = None) -> list[tuple[datetime, float]]:
                end = datetime.now(UTC) + timedelta(seconds=INTERVAL_S)
                return series(cloudwatch, namespace, metric, {**dims, **(extra or {})}, stat, INTERVAL_S, start, end)

            def intervals_where(condition: Callable[[float], bool]) -> int:
                return sum(1 for _, value in read(figures.SUCCESS_RATE, "Minimum") if condition(value))

            def alive() -> bool:
                return prober.poll() is None

            wait_until(
                lambda: not alive() or intervals_where(lambda value: value == 100) >= HEALTHY_INTERVALS,
                "healthy intervals",
                deadline_s=PUBLISH_DEADLINE_S,
            )
            assert alive(), prober.communicate()[0]
            assert http_get(port, "/readyz")[0] == 200

            redis.stop()
            wait_until(
                lambda: not alive() or intervals_where(lambda value: value == 0) >= BROKEN_INTERVALS,
                "broken intervals",
                deadline_s=PUBLISH_DEADLINE_S,
            )
            assert alive(), prober.communicate()[0]
            # Publishing, so healthy: the prober's health is not the target's.
            assert http_get(port, "/readyz")[0] == 200 and http_get(port, "/livez")[0] == 200
            status, metrics = http_get(port, "/metrics")
            assert status == 200 and 'kind="http_5xx"' in metrics

            success = read(figures.SUCCESS_RATE, "Minimum")
            requests = dict(read(figures.REQUESTS, "Sum"))
            server_errors = dict(read(figures.ERRORS, "Sum", {figures.ERROR_KIND_DIMENSION: ErrorKind.HTTP_5XX.value}))
            p95 = read(figures.latency_metric(95), "Maximum")
        finally:
            prober.terminate()
            output = prober.communicate(timeout=3 * INTERVAL_S)[0]
        assert prober.returncode == 0, output

    values = [value for _, value in success]
    assert (
        values[:HEALTHY_INTERVALS] == [100.0] * HEALTHY_INTERVALS
        and values[-BROKEN_INTERVALS:] == [0.0] * BROKEN_INTERVALS
    )
    assert values == sorted(values, reverse=True), f"the success rate did not fall once and stay down: {values}"
    last_broken = success[-1][0]
    assert server_errors[last_broken] == requests[last_broken] == SETTINGS.rate * INTERVAL_S
    # One datapoint per period, each on a period boundary: the prober's intervals are CloudWatch's periods.
    assert all(timestamp.timestamp() % INTERVAL_S == 0 for timestamp, _ in success)
    assert [later - earlier for (earlier, _), (later, _) in itertools.pairwise(success)] == [
        timedelta(seconds=INTERVAL_S)
    ] * (len(success) - 1)

    definitions = steady_state.alarm_definitions(STACK, target, SETTINGS)
    success_rule = AlarmRule.from_definition(definitions["successRate"])
    latency_rule = AlarmRule.from_definition(definitions["p95Latency"])
    last_healthy_end = success[HEALTHY_INTERVALS - 1][0] + timedelta(seconds=INTERVAL_S)
    last_broken_end = last_broken + timedelta(seconds=INTERVAL_S)
    assert evaluate(success_rule, success[:HEALTHY_INTERVALS], last_healthy_end) == OK
    assert evaluate(success_rule, success, last_broken_end) == ALARM
    # The backend's 503s come back fast: the latency alarm stays OK on this series...
    assert evaluate(latency_rule, p95, last_broken_end) == OK
    # ...and both alarm once the figures stop: a prober that is gone cannot vouch for the app.
    silent_end = last_broken_end + timedelta(seconds=SETTINGS.evaluation_periods * INTERVAL_S)
    assert evaluate(latency_rule, p95, silent_end) == ALARM
    assert evaluate(success_rule, success[:HEALTHY_INTERVALS], silent_end) == ALARM
