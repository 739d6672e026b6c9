"""Real loopback servers for the chaoslab tests: an HTTP app whose behaviour a test sets (and may
switch while a probe runs), and a stateful stand-in for the Kubernetes API's custom objects that the
real `kubernetes` client talks to over HTTP.
"""

from __future__ import annotations

import copy
import json
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

LOOPBACK = "127.0.0.1"
# How often serve_forever checks for shutdown; its 0.5 s default would add that much to every test.
SHUTDOWN_POLL_S = 0.02
# SO_LINGER on, timeout 0: close() sends a RST instead of a FIN.
_RESET_ON_CLOSE = struct.pack("ii", 1, 0)


@dataclass(frozen=True)
class Answer:
    """Answer with `status` after `delay_s`, or as soon as `early` is set; a body of `body_bytes`, dripped
    one byte per `drip_s` if set."""

    status: int = 200
    delay_s: float = 0.0
    body_bytes: int = 2
    drip_s: float | None = None
    early: threading.Event | None = None


@dataclass(frozen=True)
class Reset:
    """Read the request, then reset the connection without answering."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a test ends without waiting for handlers still sleeping
    behaviour: Answer | Reset
    received: threading.Event  # set at the first request
    last_headers: Mapping[str, str]  # of the latest request

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that time out or reset are what these tests are about, not server errors.
        pass


class _AppHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as nginx answers
    # One segment per write reaches the client at once instead of waiting on delayed ACKs.
    disable_nagle_algorithm = True
    server: _Server

    def do_GET(self) -> None:
        self.server.last_headers = dict(self.headers)
        self.server.received.set()
        behaviour = self.server.behaviour
        if isinstance(behaviour, Reset):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET_ON_CLOSE)
            self.close_connection = True
            return
        if behaviour.early is None:
            time.sleep(behaviour.delay_s)
        else:
            behaviour.early.wait(behaviour.delay_s)
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
    """Serves HTTP, or HTTPS with `tls` (a server context holding its certificate)."""

    def __init__(self, behaviour: Answer | Reset, tls: ssl.SSLContext | None = None) -> None:
        self._server = _Server((LOOPBACK, 0), _AppHandler)
        if tls is not None:
            # The handshake happens on accept; one that fails is an OSError, which the server ignores.
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self._server.behaviour = behaviour
        self._server.received = threading.Event()
        self.received = self._server.received
        self.port = self._server.server_address[1]
        self.url = f"{'http' if tls is None else 'https'}://{LOOPBACK}:{self.port}/api/"
        threading.Thread(target=self._server.serve_forever, args=(SHUTDOWN_POLL_S,), daemon=True).start()

    @property
    def last_headers(self) -> Mapping[str, str]:
        """The headers of the latest request received."""
        return self._server.last_headers

    def behave(self, behaviour: Answer | Reset) -> None:
        self._server.behaviour = behaviour

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@contextmanager
def app_server(behaviour: Answer | Reset = Answer(), tls: ssl.SSLContext | None = None) -> Iterator[AppServer]:
    server = AppServer(behaviour, tls)
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


# The Kubernetes API for chaos-mesh.org/v1alpha1 custom objects, under
# /apis/chaos-mesh.org/v1alpha1/namespaces/<namespace>/<plural>[/<name>].

GROUP_PATH = "/apis/chaos-mesh.org/v1alpha1"
PAUSE_ANNOTATION = "experiment.chaos-mesh.org/pause"
MERGE_PATCH = "application/merge-patch+json"
# How long the simulated controller takes to recover a paused experiment: long enough for a test to
# see the wait poll more than once, short enough for a quick suite.
RECOVERY_DELAY_S = 0.2
# Status conditions of a chaos object in each phase, as Chaos Mesh reports them.
NOT_YET = {"Selected": "False", "AllInjected": "False", "AllRecovered": "False"}
INJECTED = {"Selected": "True", "AllInjected": "True", "AllRecovered": "False"}
RECOVERED = {"Selected": "True", "AllInjected": "False", "AllRecovered": "True"}

# The object's state as a function of how many times it has been read: None means 404.
Timeline = Callable[[int], Mapping[str, Any] | None]
Key = tuple[str, str, str]  # namespace, plural, name


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    at: float  # time.time() when the request arrived
    content_type: str | None
    body: Any
    status: int | None = None  # what it was answered; None: the connection was dropped


@dataclass
class _Trouble:
    """The next `count` requests (of `method`, or any) are answered `status`, with Retry-After if set,
    or, with status None, dropped: read, then the connection reset without an answer."""

    count: int
    status: int | None
    retry_after: str | None = None
    method: str | None = None


# What handle() answers: the status (None: drop the connection), the body and extra headers.
Reply = tuple[int | None, Mapping[str, Any], Mapping[str, str]]


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: objects merge key by key, null removes a key, anything else replaces."""
    if not isinstance(patch, dict):
        return patch
    merged = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge_patch(merged.get(key), value)
    return merged


def _status(code: int, reason: str) -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": reason, "code": code}


class _KubeServer(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default backlog of 5 drops the SYNs of a halt's parallel requests, and the
    # client's retransmit a second later would be measured as the halt's own slowness.
    request_queue_size = 128
    api: KubeApiServer


class _KubeHandler(BaseHTTPRequestHandler):
    server: _KubeServer

    def do_GET(self) -> None:
        self._answer(self.server.api.handle("GET", self.path, self.headers.get("Content-Type"), None))

    def do_PATCH(self) -> None:
        self._answer(self.server.api.handle("PATCH", self.path, self.headers.get("Content-Type"), self._body()))

    def do_DELETE(self) -> None:
        self._answer(self.server.api.handle("DELETE", self.path, self.headers.get("Content-Type"), self._body()))

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length)) if length else None

    def _answer(self, reply: Reply) -> None:
        status, body, headers = reply
        if status is None:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET_ON_CLOSE)
            self.close_connection = True
            return
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class KubeApiServer:
    """A stand-in for the API server's custom-object endpoints, two ways:

    - `serve(path, timeline)`: GET of one object whose status changes with every read, as a
      controller would change it (for the watcher's tests);
    - a store (`put`, `get`) answering GET list, GET one, PATCH (merge patch only), DELETE, with a
      simulated Chaos Mesh controller: an experiment whose pause annotation becomes "true" reports
      `AllRecovered` and `Paused` True RECOVERY_DELAY_S later. `fail` makes one request answer an
      error; `requests` logs every request;
    - an API server having a bad day: `fail_next` answers the next requests 429/5xx (with
      Retry-After if asked), `drop_next` resets their connections unanswered, and `spawn_when`
      creates a chaos object the moment a given request arrives, as a Schedule or a concurrent
      `pulumi up` would while a halt runs.

    Not simulated: watches, resourceVersion conflicts, finalizers (a DELETE removes at once),
    garbage collection of a Workflow's children, authentication.
    """

    def __init__(self, recovery_delay_s: float = RECOVERY_DELAY_S) -> None:
        self.recovery_delay_s = recovery_delay_s
        self.requests: list[Request] = []
        self._timelines: dict[str, Timeline] = {}
        self._reads: dict[str, int] = {}
        self._objects: dict[Key, dict[str, Any]] = {}
        self._recover_at: dict[Key, float] = {}
        self._failures: dict[tuple[str, str], int] = {}
        self._troubles: list[_Trouble] = []
        # Changes to the store made the first time a request arrives, before it is answered.
        self._on_arrival: dict[tuple[str, str], list[Callable[[], None]]] = {}
        self._lock = threading.Lock()
        self._server = _KubeServer((LOOPBACK, 0), _KubeHandler)
        self._server.api = self
        self.host = f"http://{LOOPBACK}:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, args=(SHUTDOWN_POLL_S,), daemon=True).start()

    @staticmethod
    def path(namespace: str, plural: str, name: str | None = None) -> str:
        return f"{GROUP_PATH}/namespaces/{namespace}/{plural}" + ("" if name is None else f"/{name}")

    def serve(self, path: str, timeline: Timeline) -> None:
        self._timelines[path] = timeline

    def reads(self, path: str) -> int:
        return self._reads.get(path, 0)

    def put(self, plural: str, chaos: Mapping[str, Any]) -> None:
        metadata = chaos["metadata"]
        with self._lock:
            self._objects[(metadata["namespace"], plural, metadata["name"])] = copy.deepcopy(dict(chaos))

    def get(self, namespace: str, plural: str, name: str) -> dict[str, Any] | None:
        with self._lock:
            self._reconcile()
            found = self._objects.get((namespace, plural, name))
            return copy.deepcopy(found)

    def remove(self, namespace: str, plural: str, name: str) -> None:
        with self._lock:
            self._objects.pop((namespace, plural, name), None)

    def fail(self, method: str, path: str, status: int) -> None:
        """Answer `status` to every `method` request on `path`."""
        self._failures[(method, path)] = status

    def fail_next(self, count: int, status: int, *, retry_after: str | None = None, method: str | None = None) -> None:
        """Answer the next `count` requests (of `method`, or any) with `status`, and Retry-After if given."""
        with self._lock:
            self._troubles.append(_Trouble(count, status, retry_after, method))

    def drop_next(self, count: int, *, method: str | None = None) -> None:
        """Reset the connection of the next `count` requests (of `method`, or any) without answering."""
        with self._lock:
            self._troubles.append(_Trouble(count, None, None, method))

    def spawn_when(self, method: str, path: str, plural: str, chaos: Mapping[str, Any]) -> None:
        """Create (or reset) `chaos` when a `method` request on `path` arrives, before answering it."""
        metadata = chaos["metadata"]
        created = copy.deepcopy(dict(chaos))
        self._when(
            method, path, lambda: self._objects.__setitem__((metadata["namespace"], plural, metadata["name"]), created)
        )

    def vanish_when(self, method: str, path: str, namespace: str, plural: str, name: str) -> None:
        """Remove an object the first time a `method` request on `path` arrives, before answering it:
        gone between a client's list and its request."""
        self._when(method, path, lambda: self._objects.pop((namespace, plural, name), None))

    def _when(self, method: str, path: str, change: Callable[[], None]) -> None:
        with self._lock:
            self._on_arrival.setdefault((method, path), []).append(change)

    def requested(self, method: str | None = None) -> list[Request]:
        return [request for request in list(self.requests) if method is None or request.method == method]

    def handle(self, method: str, raw_path: str, content_type: str | None, body: Any) -> Reply:
        path = urlsplit(raw_path).path
        with self._lock:
            status, answer, headers = self._reply(method, path, content_type, body)
            self.requests.append(Request(method, path, time.time(), content_type, body, status))
            return status, answer, headers

    def _trouble(self, method: str) -> _Trouble | None:
        for trouble in self._troubles:
            if trouble.count > 0 and trouble.method in (None, method):
                trouble.count -= 1
                return trouble
        return None

    def _reply(self, method: str, path: str, content_type: str | None, body: Any) -> Reply:
        trouble = self._trouble(method)
        if trouble is not None:
            if trouble.status is None:
                return None, {}, {}
            headers = {} if trouble.retry_after is None else {"Retry-After": trouble.retry_after}
            reason = {429: "TooManyRequests", 500: "InternalError"}.get(trouble.status, "ServiceUnavailable")
            return trouble.status, _status(trouble.status, reason), headers
        changes = self._on_arrival.get((method, path))
        if changes:
            changes.pop(0)()  # one change per arrival: given twice, the second comes with the next request
        if (method, path) in self._failures:
            status = self._failures[(method, path)]
            return status, _status(status, "InternalError" if status >= 500 else "Failure"), {}
        if method == "GET" and path in self._timelines:
            read = self._reads.get(path, 0)
            self._reads[path] = read + 1
            state = self._timelines[path](read)
            return (404, _status(404, "NotFound"), {}) if state is None else (200, dict(state), {})
        self._reconcile()
        parts = path.removeprefix(GROUP_PATH + "/").split("/")
        if len(parts) == 3 and parts[0] == "namespaces" and method == "GET":
            items = [
                chaos
                for (namespace, plural, _), chaos in sorted(self._objects.items())
                if (namespace, plural) == (parts[1], parts[2])
            ]
            return 200, {"apiVersion": "chaos-mesh.org/v1alpha1", "kind": "List", "metadata": {}, "items": items}, {}
        if len(parts) != 4 or parts[0] != "namespaces":
            return 404, _status(404, "NotFound"), {}
        key = (parts[1], parts[2], parts[3])
        if key not in self._objects:
            return 404, _status(404, "NotFound"), {}
        if method == "GET":
            return 200, self._objects[key], {}
        if method == "DELETE":
            del self._objects[key]
            return 200, {"kind": "Status", "apiVersion": "v1", "status": "Success"}, {}
        if content_type != MERGE_PATCH:
            return 415, _status(415, "UnsupportedMediaType"), {}
        return 200, self._patch(key, body), {}

    def _patch(self, key: Key, patch: Any) -> dict[str, Any]:
        was_paused = _paused(self._objects[key])
        self._objects[key] = merge_patch(self._objects[key], patch)
        if _paused(self._objects[key]) and not was_paused:
            self._recover_at[key] = time.monotonic() + self.recovery_delay_s
        elif not _paused(self._objects[key]):
            self._recover_at.pop(key, None)
        return self._objects[key]

    def _reconcile(self) -> None:
        """What Chaos Mesh's controller would have done by now: paused experiments recovered."""
        now = time.monotonic()
        for key, moment in list(self._recover_at.items()):
            if moment <= now and key in self._objects:
                set_conditions(self._objects[key], {"AllInjected": "False", "AllRecovered": "True", "Paused": "True"})
                del self._recover_at[key]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _paused(chaos: Mapping[str, Any]) -> bool:
    return (chaos.get("metadata", {}).get("annotations") or {}).get(PAUSE_ANNOTATION) == "true"


def set_conditions(chaos: dict[str, Any], conditions: Mapping[str, str]) -> None:
    chaos["status"] = {
        "conditions": [{"type": condition, "status": status} for condition, status in conditions.items()]
    }


def chaos_object(kind: str, name: str, namespace: str, conditions: Mapping[str, str]) -> dict[str, Any]:
    chaos: dict[str, Any] = {
        "apiVersion": "chaos-mesh.org/v1alpha1",
        "kind": kind,
        "metadata": {"name": name, "namespace": namespace},
    }
    set_conditions(chaos, conditions)
    return chaos
