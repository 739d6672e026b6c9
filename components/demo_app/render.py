"""Fill the demo app's runtime config templates in files/.

Pure Python with no Pulumi import, so the Pulumi component and the tests that run the configs
with real nginx, Apache httpd and Redis binaries render exactly the same text.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from chaoslab.config.topology import HTTP_PORT, REDIS_PORT, Timeouts

FILES_DIR = Path(__file__).parent / "files"

IMAGE_RUN_DIR = "/tmp"  # the one writable path in the pods (an emptyDir)

_PLACEHOLDER = re.compile(r"\{\{ (\w+) \}\}")
# Every placeholder stands for one token of nginx, httpd or Redis syntax.
_TOKEN = re.compile(r"[^\s;{}\"'#\\]+")


@dataclass(frozen=True)
class HttpdPaths:
    """Where httpd finds its modules and api.cgi, and the one directory it may write to."""

    server_root: str
    modules_dir: str
    doc_root: str
    cgi_dir: str  # api.cgi is mounted here, executable (ConfigMap defaultMode 0555)
    run_dir: str


IMAGE_HTTPD_PATHS = HttpdPaths(
    server_root="/usr/local/apache2",
    modules_dir="/usr/local/apache2/modules",
    doc_root="/usr/local/apache2/htdocs",
    cgi_dir="/usr/local/apache2/cgi-bin",
    run_dir=IMAGE_RUN_DIR,
)


def service_backends(address: str, replicas: int) -> tuple[str, ...]:
    """The nginx upstream entries for a ClusterIP Service in front of `replicas` backend pods.

    nginx retries only onto a different entry, and kube-proxy balances every new connection to
    the ClusterIP afresh, so one copy per replica lets a retry reach another pod.
    """
    if replicas < 1:
        raise ValueError(f"replicas must be at least 1, got {replicas}")
    return (_token("address", address),) * replicas


def render_nginx(
    backends: Sequence[str],
    *,
    listen: str = str(HTTP_PORT),
    run_dir: str = IMAGE_RUN_DIR,
    timeouts: Timeouts = Timeouts(),
) -> str:
    """nginx.conf proxying /api/ to `backends` ("host:port" each), retrying across them."""
    if not backends:
        raise ValueError("nginx needs at least one backend")
    servers = "\n".join(f"        server {_token('backend', b)} max_fails=0;" for b in backends)
    return _fill(
        "nginx.conf",
        {
            "listen": listen,
            "run_dir": run_dir,
            "proxy_connect_timeout": f"{timeouts.proxy_connect_ms}ms",
            "proxy_send_timeout": f"{timeouts.proxy_connect_ms}ms",
            "proxy_read_timeout": f"{timeouts.proxy_read_ms}ms",
            "next_upstream_tries": str(len(backends)),
            "next_upstream_timeout": f"{timeouts.proxy_read_ms}ms",
        },
        verbatim={"upstream_servers": servers},
    )


def render_httpd(
    *,
    redis_host: str,
    redis_port: int = REDIS_PORT,
    listen: str = str(HTTP_PORT),
    paths: HttpdPaths = IMAGE_HTTPD_PATHS,
    timeouts: Timeouts = Timeouts(),
) -> str:
    """httpd.conf serving /api/ with api.cgi against Redis at redis_host:redis_port."""
    return _fill(
        "httpd.conf",
        {
            "listen": listen,
            "server_root": paths.server_root,
            "modules_dir": paths.modules_dir,
            "doc_root": paths.doc_root,
            "cgi_dir": paths.cgi_dir,
            "run_dir": paths.run_dir,
            "cgi_timeout": f"{timeouts.proxy_read_ms}ms",
            "redis_host": redis_host,
            "redis_port": str(redis_port),
            "redis_timeout_ms": str(timeouts.redis_ms),
        },
    )


def render_redis(*, bind: str = "0.0.0.0", port: int = REDIS_PORT) -> str:
    """redis.conf; the default bind is every IPv4 address, since clients come over the pod network."""
    return _fill("redis.conf", {"bind": bind, "port": str(port)})


def api_cgi() -> str:
    """The backend's /api/ script. Not a template: it reads its settings from httpd's SetEnv."""
    return (FILES_DIR / "api.cgi").read_text()


def config_checksum(*texts: str) -> str:
    """sha256 over the texts, for a pod-template annotation that rolls pods when config changes.

    Each text is length-prefixed, so moving characters from one file to the next changes the sum.
    """
    digest = hashlib.sha256()
    for text in texts:
        data = text.encode()
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    return digest.hexdigest()


def _token(name: str, value: str) -> str:
    if not _TOKEN.fullmatch(value):
        raise ValueError(f"{name} {value!r} must be a single config token (no spaces, quotes, ;, {{, }} or #)")
    return value


def _fill(template_name: str, tokens: dict[str, str], verbatim: dict[str, str] | None = None) -> str:
    """The template with every placeholder replaced; all of them must be given, and no others.

    tokens are checked to be single config tokens; verbatim values are built by this module.
    """
    template = (FILES_DIR / template_name).read_text()
    values = {name: _token(name, value) for name, value in tokens.items()} | (verbatim or {})
    wanted = set(_PLACEHOLDER.findall(template))
    if wanted != values.keys():
        raise ValueError(f"{template_name}: placeholders {sorted(wanted)} but values for {sorted(values)}")
    return _PLACEHOLDER.sub(lambda match: values[match.group(1)], template)
