"""Loopback AWS endpoints for the FIS flows: moto's server (FIS and CloudWatch) and, for the safety
lever, which moto does not implement (moto 5.2: no `safetyLevers` route in moto/fis/urls.py), a small
HTTP server answering the two lever operations in the shapes of botocore's FIS model.

Each client is a real boto3 client, so requests are signed, serialised and parsed by botocore.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests

from chaoslab_fakes import FakeStack
from chaoslab_servers import Answer, AppServer
from moto_cloudwatch import REGION, aws_client

ACCOUNT = "123456789012"  # moto's default account
# The stack's steadyStateAlarmArns, by output key, as alarm names.
ALARMS = {
    "successRate": "test-steady-state-success-rate",
    "p95Latency": "test-steady-state-p95-latency",
    "broken": "test-steady-state-broken",
}
HEALTHY = Answer()


def alarm_arn(name: str) -> str:
    return f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{name}"


def put_steady_state_alarms(cloudwatch: Any) -> None:
    """Alarms under the stack's alarm names (moto stores them; it does not evaluate them: SetAlarmState flips them)."""
    for name in ALARMS.values():
        cloudwatch.put_metric_alarm(
            AlarmName=name,
            MetricName="SuccessRate",
            Namespace="ChaosLab/SteadyState/test",
            Statistic="Average",
            Period=10,
            EvaluationPeriods=3,
            Threshold=99,
            ComparisonOperator="LessThanThreshold",
            TreatMissingData="breaching",
        )


def hold_experiments_running(endpoint: str, polls: int) -> None:
    """Make each moto experiment move one state every `polls` GetExperiment calls (moto's state manager)."""
    response = requests.post(
        f"{endpoint}/moto-api/state-manager/set-transition",
        json={"model_name": "fis::experiment", "transition": {"progression": "manual", "times": polls}},
        timeout=5,
    )
    response.raise_for_status()


def fis_template(fis: Any, stack: str, name: str) -> str:
    """A template as the lab declares them, tagged with the stack (moto checks the shape, not the targets)."""
    response = fis.create_experiment_template(
        clientToken=f"{stack}-{name}",
        description=f"chaos-lab {stack}: {name}",
        roleArn=f"arn:aws:iam::{ACCOUNT}:role/fis-role",
        stopConditions=[
            {"source": "aws:cloudwatch:alarm", "value": f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{stack}-errors"}
        ],
        targets={
            "node-group": {
                "resourceType": "aws:eks:nodegroup",
                "selectionMode": "ALL",
                "resourceArns": [f"arn:aws:eks:{REGION}:{ACCOUNT}:nodegroup/chaos-lab-{stack}/chaos-workers/x"],
            }
        },
        actions={
            "terminate": {
                "actionId": "aws:eks:terminate-nodegroup-instances",
                "parameters": {"instanceTerminationPercentage": "34"},
                "targets": {"Nodegroups": "node-group"},
            }
        },
        tags={"chaos-lab:stack": stack, "chaos-lab:experiment": name},
    )
    return response["experimentTemplate"]["id"]


class _LeverHandler(BaseHTTPRequestHandler):
    state: dict[str, str]
    calls: list[tuple[str, str, Any]]
    upstream: str | None  # moto's URL: every other FIS request goes there, so one client reaches both

    def _is_lever(self) -> bool:
        return self.path.startswith("/safetyLevers/")

    def _forward(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        answer = requests.request(
            self.command,
            f"{self.upstream}{self.path}",
            data=self.rfile.read(length) if length else None,
            headers={key: value for key, value in self.headers.items() if key.lower() != "host"},
            timeout=10,
        )
        self.send_response(answer.status_code)
        for key, value in answer.headers.items():
            if key.lower() not in ("content-length", "transfer-encoding", "connection", "server", "date"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(answer.content)))
        self.end_headers()
        self.wfile.write(answer.content)

    def do_POST(self) -> None:
        self._forward()

    def do_DELETE(self) -> None:
        self._forward()

    def _answer(self) -> None:
        body = json.dumps(
            {
                "safetyLever": {
                    "id": "default",
                    "arn": f"arn:aws:fis:{REGION}:{ACCOUNT}:safety-lever/default",
                    "state": dict(self.state),
                }
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if not self._is_lever():
            self._forward()
            return
        self.calls.append(("GET", self.path, None))
        self._answer()

    def do_PATCH(self) -> None:
        sent = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.calls.append(("PATCH", self.path, sent))
        self.state.update(sent["state"])
        self._answer()

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def lever_server(
    status: str = "disengaged", reason: str = "", upstream: str | None = None
) -> Iterator[tuple[str, type[_LeverHandler]]]:
    """The lever's two operations; with `upstream` (moto's URL), every other request is passed through to it."""
    handler = type(
        "LeverHandler",
        (_LeverHandler,),
        {"state": {"status": status, "reason": reason}, "calls": [], "upstream": upstream},
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        thread.join()


class FisStack(FakeStack):
    """A stack whose `up` declares a template per enabled FIS entry in moto and names it in fisTemplateIds."""

    def __init__(self, endpoint: str, server: AppServer | None = None, during: Answer = HEALTHY) -> None:
        """`server`: an app server that answers as `during` says while an entry is enabled."""
        super().__init__({}, on_up=self._declare)
        self.fis = aws_client("fis", endpoint)
        self.templates: dict[str, str] = {}
        self.declared: dict[str, str] = {}  # every template any `up` declared
        self.server = server
        self.during = during

    def _declare(self, enabled: set[str]) -> None:
        self.templates = {name: self.templates.get(name) or fis_template(self.fis, self.name, name) for name in enabled}
        self.declared.update(self.templates)
        if self.server is not None:
            self.server.behave(self.during if enabled else HEALTHY)

    def outputs(self) -> dict[str, Any]:
        return {
            "region": REGION,
            "fisTemplateIds": dict(self.templates),
            "steadyStateAlarmArns": {key: alarm_arn(name) for key, name in ALARMS.items()},
        }
