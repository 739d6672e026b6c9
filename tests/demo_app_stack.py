"""Run the demo app's tiers on loopback with Debian's nginx, apache2 and redis-server.

Shared by test_demo_app_configs.py and test_demo_app_e2e.py. Every config is rendered from the same
templates the pods get (components/demo_app/render.py); only addresses, ports and paths differ.
When the tests run as root, the servers run as `nobody`, as the pods run without root.

The cluster around them is emulated on 127.0.0.0/8 only: each backend pod gets its own loopback IP
(all on one port, as a Deployment's pods share their containerPort and DNS answers carry no port);
ClusterDns stands in for CoreDNS, answering the headless Service's name with the pods' IPs; and
RandomService stands in for a ClusterIP Service under iptables-mode kube-proxy.
"""

from __future__ import annotations

import contextlib
import ctypes
import http.client
import json
import os
import pwd
import random
import shutil
import signal
import socket
import socketserver
import struct
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import Any, NoReturn

import pytest

from chaoslab.config import topology
from chaoslab.config.topology import Timeouts
from components.demo_app.render import (
    BACKEND_DNS_VALID_S,
    HttpdPaths,
    api_cgi,
    render_httpd,
    render_nginx,
    render_redis,
)

LOOPBACK = "127.0.0.1"
NAMESPACE = "e2e"
BACKEND_PODS_HOST = topology.backend_pods_host(NAMESPACE)
DEBIAN_APACHE_MODULES = "/usr/lib/apache2/modules"
# Bounds a broken start, not a normal one: every server here is ready in well under a second.
STARTUP_DEADLINE_S = 10.0
STOP_DEADLINE_S = 5.0
# Longer than any answer the rendered configs allow (read + connect + read timeouts), so a hang
# fails the test instead of blocking it.
CLIENT_TIMEOUT_S = 10.0
_POLL_INTERVAL_S = 0.02


def missing(what: str, package: str) -> NoReturn:
    """Skip the test for want of a Debian package, or fail it in CI, where the package must be there."""
    reason = f"{what} not found: install the Debian package {package}"
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def require_binary(name: str, package: str) -> str:
    # Daemons live in /usr/sbin, which a non-root PATH often lacks.
    search_path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    return shutil.which(name, path=search_path) or missing(name, package)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return probe.getsockname()[1]


def accepts_connections(port: int, host: str = LOOPBACK) -> bool:
    try:
        socket.create_connection((host, port), timeout=STOP_DEADLINE_S).close()
    except OSError:
        return False
    return True


def wait_until(condition: Callable[[], bool], what: str, *, deadline_s: float = STARTUP_DEADLINE_S) -> None:
    """Poll `condition` until it holds; fail with `what` once the deadline has passed."""
    give_up = time.monotonic() + deadline_s
    while not condition():
        if time.monotonic() > give_up:
            pytest.fail(f"gave up after {deadline_s} s waiting for {what}")
        time.sleep(_POLL_INTERVAL_S)


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Message
    body: bytes
    elapsed_s: float

    def json(self) -> Any:
        return json.loads(self.body)


def get(port: int, path: str, host: str = LOOPBACK) -> Reply:
    connection = http.client.HTTPConnection(host, port, timeout=CLIENT_TIMEOUT_S)
    started = time.monotonic()
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    return Reply(response.status, response.headers, body, time.monotonic() - started)


def redis_command(port: int, *words: str) -> bytes:
    """One RESP command's raw reply; enough for PING and CONFIG GET."""
    command = f"*{len(words)}\r\n" + "".join(f"${len(word)}\r\n{word}\r\n" for word in words)
    with socket.create_connection((LOOPBACK, port), timeout=CLIENT_TIMEOUT_S) as connection:
        connection.sendall(command.encode())
        return connection.recv(4096)


class Blackhole:
    """A TCP port that never answers: a listening socket nobody accept()s on.

    completes_handshake=True: the kernel still completes connections into the backlog, so clients
    connect, send, and wait for an answer that never comes - a hung peer.
    completes_handshake=False: a backlog of 0, filled by one connection of our own, so the kernel
    drops further SYNs and clients hang in connect() - a partitioned host or a killed pod's IP.
    """

    def __init__(self, *, completes_handshake: bool, host: str = LOOPBACK, port: int = 0) -> None:
        self._listener = socket.create_server((host, port), backlog=socket.SOMAXCONN if completes_handshake else 0)
        self.host = host
        self.port: int = self._listener.getsockname()[1]
        self.address = f"{host}:{self.port}"
        self._filler = None if completes_handshake else socket.create_connection((host, self.port))

    def close(self) -> None:
        if self._filler is not None:
            self._filler.close()
        self._listener.close()


class PodNetwork:
    """Pod IPs for one lab: a random 127.x.y.0/24, so labs running side by side never share an address."""

    def __init__(self) -> None:
        # 127.0.0.0/24 holds 127.0.0.1, which everything else on the machine uses.
        self._prefix = f"127.{random.randint(1, 254)}.{random.randint(0, 255)}"
        self._hosts = iter(range(1, 255))
        self.port = free_port()  # every backend pod's containerPort

    def next_ip(self) -> str:
        return f"{self._prefix}.{next(self._hosts)}"


class ClusterDns:
    """CoreDNS's part, on a loopback UDP port: A records for the names published here, NXDOMAIN otherwise.

    Each answer lists the addresses in a new seeded random order, as CoreDNS's loadbalance plugin does
    (https://coredns.io/plugins/loadbalance/). The TTL is the kubernetes plugin's default, which
    nginx's `valid` overrides anyway.
    """

    _HEADER = struct.Struct("!HHHHHH")
    _QUESTION_TAIL = struct.Struct("!HH")  # type, class
    _A, _IN = 1, 1
    _NXDOMAIN = 3

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)
        self._records: dict[str, list[str]] = {}
        self._lock = threading.Lock()
        self.queries = 0
        dns = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                query, reply_socket = self.request
                with contextlib.suppress(ValueError, struct.error):
                    reply_socket.sendto(dns.answer(query), self.client_address)

        self._server = socketserver.UDPServer((LOOPBACK, 0), Handler)
        self.address = f"{LOOPBACK}:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(_POLL_INTERVAL_S,), daemon=True)
        self._thread.start()

    def publish(self, name: str, ips: Sequence[str]) -> None:
        """What `name` resolves to from now on; no addresses makes it NXDOMAIN."""
        with self._lock:
            self._records[name.lower()] = list(ips)

    def answer(self, query: bytes) -> bytes:
        ident, flags, questions, *_ = self._HEADER.unpack_from(query)
        if questions != 1:
            raise ValueError(f"{questions} questions in one query")
        labels, offset = [], self._HEADER.size
        while length := query[offset]:
            labels.append(query[offset + 1 : offset + 1 + length].decode("ascii").lower())
            offset += 1 + length
        end = offset + 1 + self._QUESTION_TAIL.size
        qtype, qclass = self._QUESTION_TAIL.unpack_from(query, offset + 1)
        with self._lock:
            self.queries += 1
            ips = list(self._records.get(".".join(labels), ()))
            self._rng.shuffle(ips)
        if qtype != self._A or qclass != self._IN:
            ips = []
        rcode = 0 if ips else self._NXDOMAIN
        # QR, AA and RA set; RD copied from the query.
        reply_flags = 0x8000 | 0x0400 | (flags & 0x0100) | 0x0080 | rcode
        records = b"".join(
            struct.pack("!HHHIH", 0xC00C, self._A, self._IN, BACKEND_DNS_VALID_S, 4) + socket.inet_aton(ip)
            for ip in ips
        )
        return self._HEADER.pack(ident, reply_flags, 1, len(ips), 0, 0) + query[self._HEADER.size : end] + records

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class RandomService:
    """A ClusterIP Service as iptables-mode kube-proxy balances it: each new connection goes to an endpoint
    picked at random (seeded), up or not.

    A relay, not address translation: the client's connect succeeds here first, so an endpoint that
    refuses shows as a reset connection rather than a refused one. nginx treats both as `error`.
    """

    def __init__(self, endpoints: Sequence[str], seed: int) -> None:
        self._endpoints = [(host, int(port)) for host, _, port in (endpoint.rpartition(":") for endpoint in endpoints)]
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.picks: list[str] = []
        service = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                service.relay(self.request)

        self._server = socketserver.ThreadingTCPServer((LOOPBACK, 0), Handler)
        self._server.daemon_threads = True
        self.port: int = self._server.server_address[1]
        self.address = f"{LOOPBACK}:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(_POLL_INTERVAL_S,), daemon=True)
        self._thread.start()

    def relay(self, client: socket.socket) -> None:
        with self._lock:
            host, port = self._rng.choice(self._endpoints)
            self.picks.append(f"{host}:{port}")
        try:
            endpoint = socket.create_connection((host, port), timeout=CLIENT_TIMEOUT_S)
        except OSError:
            # SO_LINGER 0: close with a reset, what the client sees of a refused endpoint.
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return
        with endpoint:
            client.settimeout(CLIENT_TIMEOUT_S)
            to_endpoint = threading.Thread(target=_pipe, args=(client, endpoint), daemon=True)
            to_endpoint.start()
            _pipe(endpoint, client)
            to_endpoint.join(CLIENT_TIMEOUT_S)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    """Copy until source's end of stream, then pass the end of stream on."""
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            sink.sendall(data)
        sink.shutdown(socket.SHUT_WR)


class Server:
    """A server process in its own session, so stop() reaches its workers and CGI children too."""

    def __init__(self, name: str, argv: Sequence[str], host: str, port: int, workdir: Workdir) -> None:
        self.name = name
        self.host = host
        self.port = port
        self.address = f"{host}:{port}"
        # Owned by the servers' user: nginx and httpd reopen their stdout through /proc/self/fd.
        self.log_path = workdir.file(f"{name}.log", "")
        self._stopped = False
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=workdir.path,
                start_new_session=True,
                **workdir.drop_privileges,
            )

    def wait_ready(self, ready: Callable[[], bool]) -> None:
        def up() -> bool:
            if self.process.poll() is not None:
                pytest.fail(f"{self.name} exited with {self.process.returncode}:\n{self.log()}")
            with contextlib.suppress(OSError, http.client.HTTPException):
                return ready()
            return False

        wait_until(up, f"{self.name} to be ready on port {self.port}:\n{self.log()}")

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(STOP_DEADLINE_S)
        # Workers or CGI scripts that outlived their master would keep the port open.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        wait_until(
            lambda: not accepts_connections(self.port, self.host),
            f"{self.name} to close {self.address}",
            deadline_s=STOP_DEADLINE_S,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


class Workdir:
    """A scratch directory the servers can use; owned by their unprivileged user when run by root."""

    def __init__(self) -> None:
        self.path = Path(tempfile.mkdtemp(prefix="chaoslab-demo-"))
        self._owner = pwd.getpwnam("nobody") if os.geteuid() == 0 else None
        self.drop_privileges: dict[str, Any] = (
            {"user": self._owner.pw_uid, "group": self._owner.pw_gid, "extra_groups": []} if self._owner else {}
        )
        self.path.chmod(0o755)
        self._own(self.path)

    def file(self, name: str, text: str, mode: int = 0o644) -> Path:
        path = self.path / name
        path.write_text(text)
        path.chmod(mode)
        self._own(path)
        return path

    def directory(self, name: str) -> Path:
        path = self.path / name
        path.mkdir()
        self._own(path)
        return path

    def run(self, argv: Sequence[str]) -> tuple[int, str]:
        """Run a command as the servers' user; its exit code and output."""
        log_path = self.file(f"{Path(argv[0]).name}-{time.monotonic_ns()}.log", "")
        with log_path.open("ab") as log:
            returncode = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.path,
                timeout=CLIENT_TIMEOUT_S,
                check=False,
                **self.drop_privileges,
            ).returncode
        return returncode, log_path.read_text(errors="replace")

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)

    def _own(self, path: Path) -> None:
        if self._owner:
            os.chown(path, self._owner.pw_uid, self._owner.pw_gid)


# A /30 that exists only between the two namespaces below; the link-local range keeps it off any
# network the machine is on.
_NODE_VETH_IP, _POD_VETH_IP, _VETH_PREFIX = "169.254.217.1", "169.254.217.2", 30
_CLONE_NEWNET = 0x40000000


def _enter_network_namespace(namespace: Any) -> None:
    """setns(2) for the calling thread; `namespace` is an open file of a network namespace."""
    if ctypes.CDLL(None, use_errno=True).setns(namespace.fileno(), _CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), f"setns {namespace.name}")


@contextlib.contextmanager
def node_with_a_dead_pod() -> Iterator[str]:
    """Run the calling thread (and every thread, socket and process it starts) in a network namespace
    of its own, the node, linked by a veth to a second namespace, the pod, whose end is down: a killed
    pod's IP, which drops packets rather than refusing them. Yields that IP.

    Needs root (skips otherwise, also in CI, which runs unprivileged) and iproute2's `ip`. Nothing
    leaves the two namespaces, and both are deleted on the way out.
    """
    if os.geteuid() != 0:
        pytest.skip("creating network namespaces needs root")
    ip = require_binary("ip", "iproute2")
    node, pod = (f"chaoslab-{os.getpid()}-{role}" for role in ("node", "pod"))
    with contextlib.ExitStack() as cleanup:

        def run(*argv: str) -> None:
            subprocess.run([ip, *argv], check=True, capture_output=True, timeout=CLIENT_TIMEOUT_S)

        for namespace in (node, pod):
            run("netns", "add", namespace)
            cleanup.callback(run, "netns", "delete", namespace)
            run("-n", namespace, "link", "set", "lo", "up")
        run("link", "add", "veth-node", "netns", node, "type", "veth", "peer", "name", "veth-pod", "netns", pod)
        run("-n", node, "addr", "add", f"{_NODE_VETH_IP}/{_VETH_PREFIX}", "dev", "veth-node")
        run("-n", pod, "addr", "add", f"{_POD_VETH_IP}/{_VETH_PREFIX}", "dev", "veth-pod")
        run("-n", node, "link", "set", "veth-node", "up")
        # The pod's end stays down: the node keeps its route to the pod IP, but nothing ever answers
        # there, not even the ARP request, so a connect waits until the caller gives up.
        home = cleanup.enter_context(open("/proc/thread-self/ns/net"))
        with open(f"/run/netns/{node}") as node_namespace:
            _enter_network_namespace(node_namespace)
        cleanup.callback(_enter_network_namespace, home)
        yield _POD_VETH_IP


class DemoLab:
    """Renders and starts the demo app's tiers in an emulated cluster; close() stops everything it started.

    seed: the emulated cluster's randomness (DNS answer order, Services' endpoint picks).
    """

    def __init__(self, timeouts: Timeouts = Timeouts(), *, seed: int = 0) -> None:
        self.timeouts = timeouts
        self.seed = seed
        self.workdir = Workdir()
        self.pods = PodNetwork()
        self.dns = ClusterDns(seed)
        self._servers: list[Server] = []
        self._blackholes: list[Blackhole] = []
        self._services: list[RandomService] = []

    def __enter__(self) -> DemoLab:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        # Every callback runs even if an earlier one fails; servers stop first, files go last.
        with contextlib.ExitStack() as cleanup:
            cleanup.callback(self.workdir.remove)
            cleanup.callback(self.dns.close)
            for blackhole in self._blackholes:
                cleanup.callback(blackhole.close)
            for service in self._services:
                cleanup.callback(service.close)
            for server in self._servers:
                cleanup.callback(server.stop)

    # Rendered configs, as the servers below get them.

    def nginx_conf(self, backend_pods: str, port: int, *, resolver: str | None = None) -> Path:
        """nginx.conf for a frontend on `port` proxying to `backend_pods` ("name:port"), resolved by the lab's DNS."""
        run_dir = self.workdir.directory(f"nginx-{port}")
        text = render_nginx(
            backend_pods,
            resolver=resolver or self.dns.address,
            listen=f"{LOOPBACK}:{port}",
            run_dir=str(run_dir),
            timeouts=self.timeouts,
        )
        return self.workdir.file(f"nginx-{port}.conf", text)

    def httpd_conf(self, port: int, redis_port: int, host: str = LOOPBACK) -> Path:
        name = f"httpd-{host}-{port}"
        run_dir = self.workdir.directory(name)
        cgi_dir = self.workdir.directory(f"{name}-cgi-bin")
        # 0555 as the pod's ConfigMap mounts it.
        self.workdir.file(f"{cgi_dir.name}/api.cgi", api_cgi(), mode=0o555)
        paths = HttpdPaths(
            server_root=str(run_dir),
            modules_dir=DEBIAN_APACHE_MODULES,
            doc_root=str(self.workdir.directory(f"{name}-htdocs")),
            cgi_dir=str(cgi_dir),
            run_dir=str(run_dir),
        )
        text = render_httpd(
            redis_host=LOOPBACK, redis_port=redis_port, listen=f"{host}:{port}", paths=paths, timeouts=self.timeouts
        )
        return self.workdir.file(f"{name}.conf", text)

    def redis_conf(self, port: int) -> Path:
        return self.workdir.file(f"redis-{port}.conf", render_redis(bind=LOOPBACK, port=port))

    # Running tiers.

    def redis(self) -> Server:
        binary = require_binary("redis-server", "redis-server")
        port = free_port()
        server = self._start(f"redis-{port}", [binary, str(self.redis_conf(port))], LOOPBACK, port)
        server.wait_ready(lambda: redis_command(port, "PING") == b"+PONG\r\n")
        return server

    def backend(self, redis_port: int) -> Server:
        """A backend pod: httpd on a pod IP of its own, on the pods' shared port."""
        binary = require_binary("apache2", "apache2")
        require_binary("perl", "perl-base")  # api.cgi's interpreter
        host, port = self.pods.next_ip(), self.pods.port
        argv = [binary, "-f", str(self.httpd_conf(port, redis_port, host)), "-DFOREGROUND"]
        server = self._start(f"httpd-{host}", argv, host, port)
        server.wait_ready(lambda: get(port, "/healthz", host).status == http.HTTPStatus.OK)
        return server

    def frontend(self, backends: Sequence[str]) -> Server:
        """nginx proxying to the headless backend Service, which the lab's DNS answers with `backends`' IPs."""
        addresses = [backend.rpartition(":") for backend in backends]
        if any(port != str(self.pods.port) for _, _, port in addresses):
            raise ValueError(f"backends {list(backends)} must be pods, on port {self.pods.port}")
        self.dns.publish(BACKEND_PODS_HOST, [host for host, _, _ in addresses])
        return self.frontend_to(f"{BACKEND_PODS_HOST}:{self.pods.port}")

    def frontend_to(self, backend_pods: str, *, resolver: str | None = None) -> Server:
        """nginx proxying to whatever DNS answers for `backend_pods` ("name:port"); the lab's DNS unless `resolver`."""
        binary = require_binary("nginx", "nginx")
        port = free_port()
        config = self.nginx_conf(backend_pods, port, resolver=resolver)
        # -e: the compiled-in error log path is opened before the config is read, and is not
        # writable here; -g "daemon off;": as the image's command runs it.
        argv = [binary, "-e", "stderr", "-c", str(config), "-g", "daemon off;"]
        server = self._start(f"nginx-{port}", argv, LOOPBACK, port)
        server.wait_ready(lambda: get(port, "/healthz").status == http.HTTPStatus.OK)
        return server

    def service(self, name: str, endpoints: Sequence[str]) -> RandomService:
        """A ClusterIP Service called `name` in front of `endpoints`, balanced as iptables-mode kube-proxy does."""
        service = RandomService(endpoints, seed=self.seed + len(self._services))
        self._services.append(service)
        self.dns.publish(f"{name}.{NAMESPACE}.svc.cluster.local", [LOOPBACK])
        return service

    def blackhole(self, *, completes_handshake: bool, pod: bool = False) -> Blackhole:
        """A port that never answers; pod=True puts it on a pod IP of its own, on the pods' port."""
        where = {"host": self.pods.next_ip(), "port": self.pods.port} if pod else {}
        blackhole = Blackhole(completes_handshake=completes_handshake, **where)
        self._blackholes.append(blackhole)
        return blackhole

    def silence(self, pod: Server) -> Blackhole:
        """Kill a pod and leave its IP silent, as a killed pod's IP is: connections time out, nothing refuses."""
        pod.stop()
        blackhole = Blackhole(completes_handshake=False, host=pod.host, port=pod.port)
        self._blackholes.append(blackhole)
        return blackhole

    def _start(self, name: str, argv: Sequence[str], host: str, port: int) -> Server:
        server = Server(name, argv, host, port, self.workdir)
        self._servers.append(server)
        return server
