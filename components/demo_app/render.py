"""Fill the demo app's runtime config templates in files/.

Pure Python with no Pulumi import, so the Pulumi component and the tests that run the configs
with real nginx, Apache httpd and Redis binaries render exactly the same text.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from chaoslab.config.topology import HTTP_PORT, REDIS_PORT, Timeouts

FILES_DIR = Path(__file__).parent / "files"

# nginx resolves the backend pods' own addresses (see nginx.conf) through the cluster DNS Service.
# By name, not IP: the ClusterIP differs between clusters (EKS picks 10.100.0.10 or 172.20.0.10 by
# VPC CIDR), and nginx resolves a resolver given by name once, at start-up, with the pod's resolv.conf.
CLUSTER_DNS = "kube-dns.kube-system.svc.cluster.local"
# How long nginx keeps an answer. CoreDNS's kubernetes plugin gives its records a 5 s TTL and its cache
# keeps them no longer, so a pod that left the Service stops getting requests within about twice this.
BACKEND_DNS_VALID_S = 5
# CoreDNS answers from memory in well under a millisecond. nginx resends a lost query only after 5 s,
# so waiting longer than this would only make the 502 slower.
RESOLVER_TIMEOUT_MS = 1000

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


def render_nginx(
    backend_pods: str,
    *,
    resolver: str = CLUSTER_DNS,
    listen: str = str(HTTP_PORT),
    run_dir: str = IMAGE_RUN_DIR,
    timeouts: Timeouts = Timeouts(),
) -> str:
    """nginx.conf proxying /api/ to every address `backend_pods` ("name:port") resolves to, retrying across them.

    `resolver` is the DNS server nginx asks, as "address[:port]" or a name it can resolve at start-up.
    """
    return _fill(
        "nginx.conf",
        {
            "listen": listen,
            "run_dir": run_dir,
            "resolver": resolver,
            "resolver_valid": f"{BACKEND_DNS_VALID_S}s",
            "resolver_timeout": f"{RESOLVER_TIMEOUT_MS}ms",
            "backend_pods": backend_pods,
            "proxy_connect_timeout": f"{timeouts.proxy_connect_ms}ms",
            "proxy_send_timeout": f"{timeouts.proxy_connect_ms}ms",
            "proxy_read_timeout": f"{timeouts.proxy_read_ms}ms",
            "next_upstream_timeout": f"{timeouts.proxy_read_ms}ms",
        },
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


def _fill(template_name: str, tokens: dict[str, str]) -> str:
    """The template with every placeholder replaced by its single config token; all must be given, and no others."""
    template = (FILES_DIR / template_name).read_text()
    values = {name: _token(name, value) for name, value in tokens.items()}
    wanted = set(_PLACEHOLDER.findall(template))
    if wanted != values.keys():
        raise ValueError(f"{template_name}: placeholders {sorted(wanted)} but values for {sorted(values)}")
    return _PLACEHOLDER.sub(lambda match: values[match.group(1)], template)
