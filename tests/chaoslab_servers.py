"""Real loopback servers for the chaoslab tests: an HTTP app whose behaviour a test sets (and may
switch while a probe runs), and a stateful stand-in for the Kubernetes API's custom-object reads.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

LOOPBACK = "127.0.0.1"
# How often serve_forever checks for shutdown; its 0.5 s default would add that much to every test.
SHUTDOWN_POLL_S = 0.02
# SO_LINGER on, timeout 0: close() sends a RST instead of a FIN.
_RESET_ON_CLOSE = struct.pack("ii", 1, 0)


@dataclass(frozen=True)
class Answer:
    """Answer with `status` after `delay_s`; a body of `body_bytes`, dripped one byte per `drip_s` if set."""

    status: int = 200
    delay_s: float = 0.0
    body_bytes: int = 2
    drip_s: float | None = None


@dataclass(frozen=True)
class Reset:
    """Read the request, then reset the connection without answering."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a test ends without waiting for handlers still sleeping
    behaviour: Answer | Reset

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that time out or reset are what these tests are about, not server errors.
        pass


class _AppHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as nginx answers
    # One segment per write reaches the client at once instead of waiting on delayed ACKs.
    disable_nagle_algorithm = True
    server: _Server

    def do_GET(self) -> None:
        behaviour = self.server.behaviour
        if isinstance(behaviour, Reset):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET_ON_CLOSE)
            self.close_connection = True
            return
        time.sleep(behaviour.delay_s)
        self.send_response(behaviour.status)
        self.send_header("Content-Length", str(behaviour.body_bytes))
        self.end_headers()
        if behaviour.drip_s is None:
            self.wfile.write(b"x" * behaviour.body_bytes)
            return
        for _ in range(behaviour.body_bytes):
            self.wfile.write(b"x")
            time.sleep(behaviour.drip_s)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class AppServer:
    def __init__(self, behaviour: Answer | Reset) -> None:
        self._server = _Server((LOOPBACK, 0), _AppHandler)
        self._server.behaviour = behaviour
        self.url = f"http://{LOOPBACK}:{self._server.server_address[1]}/api/"
        threading.Thread(target=self._server.serve_forever, args=(SHUTDOWN_POLL_S,), daemon=True).start()

    def behave(self, behaviour: Answer | Reset) -> None:
        self._server.behaviour = behaviour

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@contextmanager
def app_server(behaviour: Answer | Reset = Answer()) -> Iterator[AppServer]:
    server = AppServer(behaviour)
    try:
        yield server
    finally:
        server.close()


def closed_port_url() -> str:
    """A loopback URL nothing listens on: connecting is refused at once."""
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        port = probe.getsockname()[1]
    return f"http://{LOOPBACK}:{port}/api/"


# The Kubernetes API: GET /apis/<group>/<version>/namespaces/<ns>/<plural>/<name>.

# The object's state as a function of how many times it has been read: None means 404.
Timeline = Callable[[int], Mapping[str, Any] | None]


class _KubeServer(ThreadingHTTPServer):
    daemon_threads = True
    objects: dict[str, Timeline]
    reads: dict[str, int]
    lock: threading.Lock


class _KubeHandler(BaseHTTPRequestHandler):
    server: _KubeServer

    def do_GET(self) -> None:
        with self.server.lock:
            timeline = self.server.objects.get(self.path)
            read = self.server.reads.get(self.path, 0)
            self.server.reads[self.path] = read + 1
        chaos_object = None if timeline is None else timeline(read)
        if chaos_object is None:
            status, body = 404, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404}
        else:
            status, body = 200, dict(chaos_object)
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class KubeApiServer:
    """Serves custom objects whose status changes with every read, as a controller would change it."""

    def __init__(self) -> None:
        self._server = _KubeServer((LOOPBACK, 0), _KubeHandler)
        self._server.objects, self._server.reads, self._server.lock = {}, {}, threading.Lock()
        self.host = f"http://{LOOPBACK}:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, args=(SHUTDOWN_POLL_S,), daemon=True).start()

    @staticmethod
    def path(namespace: str, plural: str, name: str) -> str:
        return f"/apis/chaos-mesh.org/v1alpha1/namespaces/{namespace}/{plural}/{name}"

    def serve(self, path: str, timeline: Timeline) -> None:
        self._server.objects[path] = timeline

    def reads(self, path: str) -> int:
        return self._server.reads.get(path, 0)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def chaos_object(kind: str, name: str, namespace: str, conditions: Mapping[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "chaos-mesh.org/v1alpha1",
        "kind": kind,
        "metadata": {"name": name, "namespace": namespace},
        "status": {"conditions": [{"type": condition, "status": status} for condition, status in conditions.items()]},
    }
