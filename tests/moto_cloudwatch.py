"""CloudWatch on loopback: moto's server mode, answered over real HTTP through botocore's own models.

moto stores metrics, alarms and dashboards; it does not evaluate alarms (tests/cloudwatch_alarms.py does).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import boto3
import requests
from moto.server import ThreadedMotoServer

from demo_app_stack import LOOPBACK, free_port

REGION = "us-east-1"
# moto accepts any credentials; these keep botocore from looking for real ones.
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


@contextmanager
def moto_server() -> Iterator[str]:
    """The endpoint URL of a fresh moto server, stopped afterwards.

    moto keeps its emulated accounts in process-wide memory that outlives a server, so each server starts
    from a reset: one test's alarms or experiments never show up in another's.
    """
    # moto's server logs every request through werkzeug; the prober sends one every 10 s.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    port = free_port()
    server = ThreadedMotoServer(ip_address=LOOPBACK, port=port, verbose=False)
    server.start()
    endpoint = f"http://{LOOPBACK}:{port}"
    try:
        requests.post(f"{endpoint}/moto-api/reset", timeout=10).raise_for_status()
        yield endpoint
    finally:
        server.stop()


def aws_client(service: str, endpoint: str) -> Any:
    """A real boto3 client for the moto server at `endpoint`."""
    # A session per client: the default session is not thread-safe, and `run` makes clients on its threads.
    return boto3.session.Session().client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )


def client(endpoint: str) -> Any:
    return aws_client("cloudwatch", endpoint)


def series(
    cloudwatch: Any,
    namespace: str,
    metric: str,
    dimensions: dict[str, str],
    stat: str,
    period_s: int,
    start: datetime,
    end: datetime,
) -> list[tuple[datetime, float]]:
    """One metric's values per period, oldest first, read back with GetMetricData."""
    answer = cloudwatch.get_metric_data(
        MetricDataQueries=[
            {
                "Id": "series",
                "MetricStat": {
                    "Metric": {
                        "Namespace": namespace,
                        "MetricName": metric,
                        "Dimensions": [{"Name": key, "Value": value} for key, value in dimensions.items()],
                    },
                    "Period": period_s,
                    "Stat": stat,
                },
            }
        ],
        StartTime=start,
        EndTime=end,
        ScanBy="TimestampAscending",
    )
    (result,) = answer["MetricDataResults"]
    return sorted(zip(result["Timestamps"], result["Values"], strict=True))
