"""`python -m chaoslab.prober`: the prober pod's entry point (see the Deployment in components/steady_state.py).

Runs until SIGTERM or SIGINT, then lets the intervals in flight finish and publish.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

import boto3
from botocore.config import Config

from chaoslab.errors import UsageError

from .service import CloudWatchPublisher, Health, ProberSettings, Publish, SteadyStateProber, serve

# A call that has not finished within these has missed its interval's slot anyway; botocore's
# standard retry mode retries throttling and 5xx with backoff, three attempts in all.
CLOUDWATCH_CONNECT_TIMEOUT_S = 2
CLOUDWATCH_READ_TIMEOUT_S = 5
CLOUDWATCH_MAX_ATTEMPTS = 3


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m chaoslab.prober", description=__doc__)
    parser.add_argument("--url", required=True, help="the target, e.g. the frontend Service's cluster DNS name")
    parser.add_argument("--rate", type=float, required=True, help="requests started per second")
    parser.add_argument("--timeout", type=float, required=True, help="seconds per request, connect to last body byte")
    parser.add_argument(
        "--stack", required=True, help="the stack's name: CloudWatch namespace suffix and Stack dimension"
    )
    parser.add_argument(
        "--cloudwatch",
        action="store_true",
        help="also publish to CloudWatch (region and credentials from the environment)",
    )
    parser.add_argument("--host", default="0.0.0.0", help="address of the metrics and health endpoints")
    parser.add_argument("--port", type=int, required=True, help="port of the metrics and health endpoints")
    return parser.parse_args(argv)


def cloudwatch_client() -> object:
    return boto3.client(
        "cloudwatch",
        config=Config(
            connect_timeout=CLOUDWATCH_CONNECT_TIMEOUT_S,
            read_timeout=CLOUDWATCH_READ_TIMEOUT_S,
            retries={"mode": "standard", "max_attempts": CLOUDWATCH_MAX_ATTEMPTS},
        ),
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    settings = ProberSettings(url=args.url, rate=args.rate, timeout_s=args.timeout, stack=args.stack)
    publishers: list[Publish] = [CloudWatchPublisher(cloudwatch_client(), settings)] if args.cloudwatch else []
    health = Health(settings)
    try:
        prober = SteadyStateProber(settings, publishers, health)
    except UsageError as error:
        print(f"chaoslab.prober: {error}", file=sys.stderr)
        return 2
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        del signum, frame
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    server = serve(health, args.host, args.port)
    logging.getLogger("chaoslab.prober").info(
        "probing %s at %g/s, publishing to %s",
        settings.url,
        settings.rate,
        "CloudWatch and Prometheus" if publishers else "Prometheus",
    )
    try:
        prober.run(stop)
    finally:
        server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
