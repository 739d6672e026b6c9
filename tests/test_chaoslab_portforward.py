"""The port-forward's process handling, with a stand-in `kubectl` (a Python script) that records its
arguments and serves HTTP on the local port it was given, or fails as kubectl does.

Not covered: the real kubectl, a cluster, or a Service with pods behind it.
"""

from __future__ import annotations

import json
import re
import socket
import sys
import textwrap
import urllib.request
from pathlib import Path

import pytest

from chaoslab.cluster import KubeAccess
from chaoslab.experiments.errors import ActionFailed, MissingTool
from chaoslab.portforward import LOOPBACK, forwarded_frontend, port_forward_argv

NAMESPACE = "chaos-sandbox"
READY_TIMEOUT_S = 10.0
ACCESS = KubeAccess(Path("/tmp/lab-kubeconfig"), "kind-chaos")

FAKE_KUBECTL = """\
    import http.server, json, sys
    from pathlib import Path
    Path(sys.argv[0] + ".argv").write_text(json.dumps(sys.argv[1:]))
    if {fail!r}:
        print('error: services "frontend-service" not found', file=sys.stderr)
        sys.exit(1)
    local_port = int(next(arg for arg in sys.argv if ":" in arg and arg.split(":")[0].isdigit()).split(":")[0])
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers(); self.wfile.write(b"ok")
    print(f"Forwarding from 127.0.0.1:{{local_port}} -> 8080", flush=True)
    http.server.HTTPServer(("127.0.0.1", local_port), Handler).serve_forever()
"""


def _kubectl(tmp_path: Path, *, fail: bool = False) -> Path:
    script = tmp_path / "kubectl"
    script.write_text(f"#!{sys.executable}\n" + textwrap.dedent(FAKE_KUBECTL.format(fail=fail)))
    script.chmod(0o755)
    return script


def _listening(port: int) -> bool:
    try:
        socket.create_connection((LOOPBACK, port), timeout=1).close()
    except OSError:
        return False
    return True


def test_the_frontend_is_reachable_while_the_context_lasts(tmp_path: Path) -> None:
    kubectl = _kubectl(tmp_path)

    with forwarded_frontend(
        ACCESS, NAMESPACE, kubectl=str(kubectl), log_dir=tmp_path, ready_timeout_s=READY_TIMEOUT_S
    ) as url:
        port = int(url.split(":")[2].split("/")[0])
        with urllib.request.urlopen(url, timeout=READY_TIMEOUT_S) as answer:
            assert (answer.status, answer.read()) == (200, b"ok")
        assert url == f"http://{LOOPBACK}:{port}/api/"

    assert (
        json.loads(Path(f"{kubectl}.argv").read_text()) == port_forward_argv(str(kubectl), ACCESS, NAMESPACE, port)[1:]
    )
    assert not _listening(port)  # kubectl was stopped


def test_the_arguments_name_the_kubeconfig_context_namespace_and_service() -> None:
    argv = port_forward_argv("kubectl", ACCESS, NAMESPACE, 18080)

    assert argv == [
        "kubectl",
        "--kubeconfig",
        "/tmp/lab-kubeconfig",
        "--context",
        "kind-chaos",
        "--namespace",
        NAMESPACE,
        "port-forward",
        "svc/frontend-service",
        "18080:80",
        "--address",
        LOOPBACK,
    ]
    assert port_forward_argv("kubectl", KubeAccess(None, None), NAMESPACE, 18080)[:3] == [
        "kubectl",
        "--namespace",
        NAMESPACE,
    ]


def test_a_failing_kubectl_is_an_error_with_its_message(tmp_path: Path) -> None:
    kubectl = _kubectl(tmp_path, fail=True)

    with (
        pytest.raises(ActionFailed, match='exited with 1: error: services "frontend-service" not found'),
        forwarded_frontend(ACCESS, NAMESPACE, kubectl=str(kubectl), log_dir=tmp_path, ready_timeout_s=READY_TIMEOUT_S),
    ):
        pytest.fail("the body must not run without a port-forward")


def test_a_missing_kubectl_says_what_to_do(tmp_path: Path) -> None:
    with (
        pytest.raises(
            MissingTool,
            match=re.escape(
                "no-kubectl is not on PATH; port-forward needs it: install it from https://kubernetes.io/docs/tasks/tools/, or pass --url"
            ),
        ),
        forwarded_frontend(ACCESS, NAMESPACE, kubectl=str(tmp_path / "no-kubectl"), log_dir=tmp_path),
    ):
        pytest.fail("the body must not run without a port-forward")
