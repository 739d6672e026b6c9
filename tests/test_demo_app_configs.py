"""The demo app's rendered configs, checked by the binaries that run them, and the renderer's guarantees."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaoslab.config.topology import REDIS_TIMEOUT_MS, Timeouts
from components.demo_app.render import (
    BACKEND_DNS_VALID_S,
    RESOLVER_TIMEOUT_MS,
    api_cgi,
    config_checksum,
    render_httpd,
    render_nginx,
    render_redis,
)
from demo_app_stack import (
    BACKEND_PODS_HOST,
    CLIENT_TIMEOUT_S,
    LOOPBACK,
    DemoLab,
    free_port,
    missing,
    redis_command,
    require_binary,
)


@pytest.fixture
def lab() -> Iterator[DemoLab]:
    with DemoLab() as lab:
        yield lab


@pytest.mark.parametrize("resolver", [f"{LOOPBACK}:{free_port()}", "localhost"], ids=["address", "name"])
def test_nginx_accepts_its_config_with_the_resolver_as_an_address_or_a_name(lab: DemoLab, resolver: str) -> None:
    """The e2e tests give an address; the pods give the cluster DNS Service's name (localhost stands in)."""
    nginx = require_binary("nginx", "nginx")
    config = lab.nginx_conf(f"{BACKEND_PODS_HOST}:{free_port()}", free_port(), resolver=resolver)
    returncode, output = lab.workdir.run([nginx, "-t", "-e", "stderr", "-c", str(config)])
    assert returncode == 0, output
    assert "[warn]" not in output, output


def test_apache_accepts_its_config_without_a_warning(lab: DemoLab) -> None:
    apache2 = require_binary("apache2", "apache2")
    returncode, output = lab.workdir.run(
        [apache2, "-t", "-f", str(lab.httpd_conf(free_port(), redis_port=free_port()))]
    )
    assert returncode == 0, output
    # No "module already loaded", no missing DocumentRoot, no unknown ServerName.
    assert output.strip() == "Syntax OK", output


def _redis_config(port: int, name: str) -> str:
    # CONFIG GET answers a two-element array: *2, $len, name, $len, value.
    return redis_command(port, "CONFIG", "GET", name).split(b"\r\n")[4].decode()


def test_redis_runs_its_config_keeping_nothing_on_disk(lab: DemoLab) -> None:
    redis = lab.redis()
    assert _redis_config(redis.port, "save") == ""
    assert _redis_config(redis.port, "appendonly") == "no"
    assert _redis_config(redis.port, "protected-mode") == "no"


def _perl_base_dir(perl: str) -> str:
    include_dirs = subprocess.run(
        [perl, "-e", 'print "$_\\n" for @INC'], capture_output=True, text=True, check=True
    ).stdout.split()
    return next((d for d in include_dirs if d.endswith("/perl-base")), None) or missing(
        "perl-base's module directory", "perl-base"
    )


def test_api_cgi_runs_on_perl_base_alone(tmp_path: Path) -> None:
    """The httpd image has perl-base but not perl-modules: api.cgi must work with only the former."""
    perl = require_binary("perl", "perl-base")
    script = tmp_path / "api.cgi"
    script.write_text(api_cgi())
    only_perl_base = "BEGIN { @INC = (shift) } do(shift) or die($@ || $!)"
    result = subprocess.run(
        [perl, "-e", only_perl_base, _perl_base_dir(perl), str(script)],
        env={"REDIS_HOST": LOOPBACK, "REDIS_PORT": str(free_port()), "REDIS_TIMEOUT_MS": str(REDIS_TIMEOUT_MS)},
        capture_output=True,
        timeout=CLIENT_TIMEOUT_S,
        check=False,
    )
    # Bytes, not text: CGI headers end in CRLF, which text mode would translate.
    headers, _, body = result.stdout.partition(b"\r\n\r\n")
    assert result.returncode == 0, result.stderr
    assert headers.split(b"\r\n")[0] == b"Status: 503 Service Unavailable", result.stdout
    assert json.loads(body)["error"].endswith("connect: Connection refused")


def test_timeouts_refuse_a_read_timeout_the_backend_cannot_answer_within() -> None:
    with pytest.raises(ValueError, match="must exceed redis_ms"):
        Timeouts(proxy_read_ms=REDIS_TIMEOUT_MS, redis_ms=REDIS_TIMEOUT_MS)


@pytest.mark.parametrize("value", [0, -1, 1.5, True])
def test_timeouts_are_positive_whole_milliseconds(value: object) -> None:
    with pytest.raises(ValueError, match="proxy_connect_ms"):
        Timeouts(proxy_connect_ms=value)  # type: ignore[arg-type]  # wrong types on purpose: the runtime check


@pytest.mark.parametrize("backend", ["", "a b:80", "a:80; evil", "a:80}", "'a:80'", "a:80 # c"])
def test_values_must_be_single_config_tokens(backend: str) -> None:
    with pytest.raises(ValueError, match="single config token"):
        render_nginx(backend)


def _directive(config: str, name: str) -> str:
    values = re.findall(rf"^\s*{name}\s+(\S+);", config, flags=re.MULTILINE)
    assert len(values) == 1, f"{name}: {values}"
    return values[0]


def test_nginx_tries_each_resolved_pod_and_never_retries_after_a_read_timeout() -> None:
    config = render_nginx("backend-api-pods.lab.svc.cluster.local:8080")
    assert _directive(config, "proxy_pass") == "http://$backend_pods"
    assert re.search(r"^\s*set \$backend_pods backend-api-pods\.lab\.svc\.cluster\.local:8080;", config, re.MULTILINE)
    # 0: no cap below the number of resolved pods, each of which nginx tries at most once.
    assert _directive(config, "proxy_next_upstream_tries") == "0"
    # The retry window closes when a read timeout fires: see the comment in nginx.conf.
    assert _directive(config, "proxy_next_upstream_timeout") == _directive(config, "proxy_read_timeout")


def test_nginx_bounds_how_long_it_trusts_and_waits_for_dns() -> None:
    config = render_nginx("backend:8080", resolver="10.100.0.10")
    assert re.search(rf"^\s*resolver 10\.100\.0\.10 valid={BACKEND_DNS_VALID_S}s ipv6=off;", config, re.MULTILINE)
    assert _directive(config, "resolver_timeout") == f"{RESOLVER_TIMEOUT_MS}ms"


def test_rendering_leaves_no_placeholder() -> None:
    for text in (render_nginx("backend:8080"), render_httpd(redis_host="redis"), render_redis()):
        assert "{{" not in text and "}}" not in text


def test_config_checksum_changes_with_any_text_and_with_the_boundary_between_texts() -> None:
    checksum = config_checksum("nginx", "httpd")
    assert config_checksum("nginx", "httpd") == checksum
    assert config_checksum("nginx", "httpD") != checksum
    assert config_checksum("nginxh", "ttpd") != checksum
