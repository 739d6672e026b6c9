"""Run the demo app's tiers on loopback with Debian's nginx, apache2 and redis-server.

Shared by test_demo_app_configs.py and test_demo_app_e2e.py. Every config is rendered from the same
templates the pods get (components/demo_app/render.py); only addresses, ports and paths differ.
When the tests run as root, the servers run as `nobody`, as the pods run without root.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import Any, NoReturn

import pytest

from chaoslab.config.topology import Timeouts
from components.demo_app.render import HttpdPaths, api_cgi, render_httpd, render_nginx, render_redis

LOOPBACK = "127.0.0.1"
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


def accepts_connections(port: int) -> bool:
    try:
        socket.create_connection((LOOPBACK, port), timeout=STOP_DEADLINE_S).close()
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


def get(port: int, path: str) -> Reply:
    connection = http.client.HTTPConnection(LOOPBACK, port, timeout=CLIENT_TIMEOUT_S)
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

    def __init__(self, *, completes_handshake: bool) -> None:
        self._listener = socket.create_server((LOOPBACK, 0), backlog=socket.SOMAXCONN if completes_handshake else 0)
        self.port: int = self._listener.getsockname()[1]
        self.address = f"{LOOPBACK}:{self.port}"
        self._filler = None if completes_handshake else socket.create_connection((LOOPBACK, self.port))

    def close(self) -> None:
        if self._filler is not None:
            self._filler.close()
        self._listener.close()


class Server:
    """A server process in its own session, so stop() reaches its workers and CGI children too."""

    def __init__(self, name: str, argv: Sequence[str], port: int, workdir: Workdir) -> None:
        self.name = name
        self.port = port
        self.address = f"{LOOPBACK}:{port}"
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
        wait_until(lambda: not accepts_connections(self.port), f"{self.name} to close port {self.port}",
                   deadline_s=STOP_DEADLINE_S)

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
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                cwd=self.path, timeout=CLIENT_TIMEOUT_S, check=False, **self.drop_privileges,
            ).returncode
        return returncode, log_path.read_text(errors="replace")

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)

    def _own(self, path: Path) -> None:
        if self._owner:
            os.chown(path, self._owner.pw_uid, self._owner.pw_gid)


class DemoLab:
    """Renders and starts the demo app's tiers; close() stops everything it started."""

    def __init__(self, timeouts: Timeouts = Timeouts()) -> None:
        self.timeouts = timeouts
        self.workdir = Workdir()
        self._servers: list[Server] = []
        self._blackholes: list[Blackhole] = []

    def __enter__(self) -> DemoLab:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        # Every callback runs even if an earlier one fails; servers stop first, files go last.
        with contextlib.ExitStack() as cleanup:
            cleanup.callback(self.workdir.remove)
            for blackhole in self._blackholes:
                cleanup.callback(blackhole.close)
            for server in self._servers:
                cleanup.callback(server.stop)

    # Rendered configs, as the servers below get them.

    def nginx_conf(self, backends: Sequence[str], port: int) -> Path:
        run_dir = self.workdir.directory(f"nginx-{port}")
        text = render_nginx(backends, listen=f"{LOOPBACK}:{port}", run_dir=str(run_dir), timeouts=self.timeouts)
        return self.workdir.file(f"nginx-{port}.conf", text)

    def httpd_conf(self, port: int, redis_port: int) -> Path:
        run_dir = self.workdir.directory(f"httpd-{port}")
        cgi_dir = self.workdir.directory(f"httpd-{port}-cgi-bin")
        # 0555 as the pod's ConfigMap mounts it.
        self.workdir.file(f"{cgi_dir.name}/api.cgi", api_cgi(), mode=0o555)
        paths = HttpdPaths(
            server_root=str(run_dir),
            modules_dir=DEBIAN_APACHE_MODULES,
            doc_root=str(self.workdir.directory(f"httpd-{port}-htdocs")),
            cgi_dir=str(cgi_dir),
            run_dir=str(run_dir),
        )
        text = render_httpd(
            redis_host=LOOPBACK, redis_port=redis_port, listen=f"{LOOPBACK}:{port}", paths=paths, timeouts=self.timeouts
        )
        return self.workdir.file(f"httpd-{port}.conf", text)

    def redis_conf(self, port: int) -> Path:
        return self.workdir.file(f"redis-{port}.conf", render_redis(bind=LOOPBACK, port=port))

    # Running tiers.

    def redis(self) -> Server:
        binary = require_binary("redis-server", "redis-server")
        port = free_port()
        server = self._start(f"redis-{port}", [binary, str(self.redis_conf(port))], port)
        server.wait_ready(lambda: redis_command(port, "PING") == b"+PONG\r\n")
        return server

    def backend(self, redis_port: int) -> Server:
        binary = require_binary("apache2", "apache2")
        require_binary("perl", "perl-base")  # api.cgi's interpreter
        port = free_port()
        server = self._start(f"httpd-{port}", [binary, "-f", str(self.httpd_conf(port, redis_port)), "-DFOREGROUND"], port)
        server.wait_ready(lambda: get(port, "/healthz").status == http.HTTPStatus.OK)
        return server

    def frontend(self, backends: Sequence[str]) -> Server:
        binary = require_binary("nginx", "nginx")
        port = free_port()
        # -e: the compiled-in error log path is opened before the config is read, and is not
        # writable here; -g "daemon off;": as the image's command runs it.
        argv = [binary, "-e", "stderr", "-c", str(self.nginx_conf(backends, port)), "-g", "daemon off;"]
        server = self._start(f"nginx-{port}", argv, port)
        server.wait_ready(lambda: get(port, "/healthz").status == http.HTTPStatus.OK)
        return server

    def blackhole(self, *, completes_handshake: bool) -> Blackhole:
        blackhole = Blackhole(completes_handshake=completes_handshake)
        self._blackholes.append(blackhole)
        return blackhole

    def _start(self, name: str, argv: Sequence[str], port: int) -> Server:
        server = Server(name, argv, port, self.workdir)
        self._servers.append(server)
        return server
