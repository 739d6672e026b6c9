"""`kubectl port-forward` to the demo app's frontend Service, for as long as a run needs it.

kubectl forwards a Service to ONE of its pods, chosen when it starts, so probes through it bypass
the Service's load balancing; the write-up's curl loop measured the same way. Pass --url to probe
through a load balancer or ingress instead.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from chaoslab.config.topology import FRONTEND_SERVICE, FRONTEND_SERVICE_PORT
from chaoslab.experiments.errors import ActionFailed, MissingTool

from .cluster import KubeAccess
from .files import PRIVATE_FILE_MODE

LOOPBACK = "127.0.0.1"
# The path that crosses all three tiers, as the write-up's curl loop probes it.
APP_PATH = "/api/"
# kubectl needs a round trip to the API server and the pod's node before it listens.
READY_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 5.0
_POLL_INTERVAL_S = 0.1


def free_port() -> int:
    """A port free on loopback now; kubectl binds it a moment later, a race a lab can live with."""
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
        return port


def port_forward_argv(kubectl: str, access: KubeAccess, namespace: str, local_port: int) -> list[str]:
    argv = [kubectl]
    if access.kubeconfig is not None:
        argv += ["--kubeconfig", str(access.kubeconfig)]
    if access.context is not None:
        argv += ["--context", access.context]
    return [
        *argv,
        "--namespace",
        namespace,
        "port-forward",
        f"svc/{FRONTEND_SERVICE}",
        f"{local_port}:{FRONTEND_SERVICE_PORT}",
        "--address",
        LOOPBACK,
    ]


@contextlib.contextmanager
def forwarded_frontend(
    access: KubeAccess,
    namespace: str,
    *,
    kubectl: str = "kubectl",
    log_dir: Path,
    ready_timeout_s: float = READY_TIMEOUT_S,
) -> Iterator[str]:
    """The frontend's /api/ URL through a port-forward, stopped when the context ends.

    kubectl's output goes to `log_dir/port-forward.log`. Raises MissingTool when kubectl is
    missing, ActionFailed when it exits or does not listen within ready_timeout_s.
    """
    port = free_port()
    argv = port_forward_argv(kubectl, access, namespace, port)
    log_path = log_dir / "port-forward.log"
    # Private, as every run file is (chaoslab.files).
    with os.fdopen(os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE_MODE), "wb") as log:
        try:
            process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        except FileNotFoundError:
            raise MissingTool(
                kubectl, "port-forward needs it: install it from https://kubernetes.io/docs/tasks/tools/, or pass --url"
            ) from None
        try:
            _wait_listening(process, port, ready_timeout_s, log_path)
            yield f"http://{LOOPBACK}:{port}{APP_PATH}"
        finally:
            _stop(process)


def _wait_listening(process: subprocess.Popen[bytes], port: int, timeout_s: float, log_path: Path) -> None:
    give_up = time.monotonic() + timeout_s
    while True:
        if process.poll() is not None:
            raise ActionFailed(f"kubectl port-forward exited with {process.returncode}: {_tail(log_path)}")
        with contextlib.suppress(OSError), socket.create_connection((LOOPBACK, port), timeout=_POLL_INTERVAL_S):
            return
        if time.monotonic() > give_up:
            raise ActionFailed(
                f"kubectl port-forward did not listen on {LOOPBACK}:{port} within {timeout_s:g}s: {_tail(log_path)}"
            )
        time.sleep(_POLL_INTERVAL_S)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _tail(log_path: Path, lines: int = 3) -> str:
    text = log_path.read_text(errors="replace").strip().splitlines()
    return " | ".join(text[-lines:]) or "no output"
