"""The demo app as the stack declares it, under Pulumi mocks: names, labels and replicas the experiments
select on, hardened pods, ConfigMaps holding exactly the rendered files, the checksum that rolls pods when
a file changes, start-up order, outputs, and the Kubernetes schema.

What mocks cannot prove here: that the images exist and run as the UIDs below (files/IMAGES.md says
what was confirmed; pulling them is the remaining check), that the probes pass in the real pods, that
the Services route to them, or that the cluster DNS answers the headless Service's name with the backend
pods. The configs themselves are run with real nginx, httpd and Redis, behind an emulated cluster DNS and
Services, in test_demo_app_configs.py and test_demo_app_e2e.py.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any

import pytest

import k8s_schema
from chaoslab.config import topology
from chaoslab.config.aws_facts import FACTS_AS_OF
from chaoslab.config.model import DEFAULT_SANDBOX_NAMESPACE, LabConfig, parse_config
from components.demo_app import component, render
from components.demo_app import tier as demo_tier
from experiments_support import WORKLOADS
from pulumi_harness import Deployment, Registration, cli_config, run_lab

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
SERVICE = "kubernetes:core/v1:Service"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
PDB = "kubernetes:policy/v1:PodDisruptionBudget"
DEMO_COMPONENT = "chaos-lab:demoapp:DemoApp"
TIER_COMPONENT = "chaos-lab:demoapp:Tier"
SERVING_PORT_NAME = "serve"


@dataclass(frozen=True)
class Tier:
    """One tier as the lab names it (the experiments select on these), and its image's facts."""

    app: str
    service: str
    image: str
    uid: int  # the image's own non-root user (files/IMAGES.md)
    resources: dict[str, dict[str, str]]


FRONTEND = Tier("frontend-app", "frontend-service", component.FRONTEND_IMAGE, 101, component.FRONTEND_RESOURCES)
BACKEND = Tier("backend-api", "backend-api", component.BACKEND_IMAGE, 33, component.BACKEND_RESOURCES)
DATABASE = Tier("database", "database", component.DATABASE_IMAGE, 999, component.DATABASE_RESOURCES)
TIERS = (FRONTEND, BACKEND, DATABASE)
TIER_IDS = [tier.app for tier in TIERS]

FRONTEND_SERVICE_PORT = 80
# An exact version tag (x.y or x.y.z, optionally -variant), never `latest`, from ECR Public.
_PINNED_IMAGE = re.compile(r"^public\.ecr\.aws/[a-z0-9._/-]+:(?P<tag>\d+\.\d+(?:\.\d+)?(?:-[a-z0-9.-]+)?)$")
_QUANTITY = re.compile(r"^(?P<number>\d+(?:\.\d+)?)(?P<suffix>m|Ki|Mi|Gi)?$")
_SCALE = {"m": 1e-3, None: 1.0, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}


def quantity(text: str) -> float:
    match = _QUANTITY.fullmatch(text)
    assert match, f"{text!r} is not a quantity this test understands"
    return float(match["number"]) * _SCALE[match["suffix"]]


# --- helpers -------------------------------------------------------------------------------------


def lab_config(stack: str = "dev", overrides: dict[str, Any] | None = None) -> LabConfig:
    """The typed config the program reads for `stack` with `overrides`, as the CLI would hand it over."""
    prefix = "chaos-lab:"
    raw = {
        key.removeprefix(prefix): value for key, value in cli_config(stack, overrides).items() if key.startswith(prefix)
    }
    return parse_config(raw, stack=stack, today=FACTS_AS_OF)


def rendered_files(tier: Tier, config: LabConfig) -> dict[str, str]:
    """The files a tier's ConfigMap must hold, rendered by render.py for `config`, in the component's order."""
    app = config.app
    if tier is FRONTEND:
        backend_pods = f"{topology.backend_pods_host(config.sandbox_namespace)}:{topology.HTTP_PORT}"
        return {"nginx.conf": render.render_nginx(backend_pods, timeouts=app.timeouts)}
    if tier is BACKEND:
        return {
            "httpd.conf": render.render_httpd(redis_host=topology.DATABASE_SERVICE, timeouts=app.timeouts),
            "api.cgi": render.api_cgi(),
        }
    return {"redis.conf": render.render_redis()}


def named(deployment: Deployment, type_token: str, name: str) -> Registration:
    matches = [item for item in deployment.of_type(type_token) if item.inputs["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {type_token} named {name!r}, found {[item.name for item in matches]}"
    return matches[0]


def workload(deployment: Deployment, tier: Tier) -> Registration:
    return named(deployment, DEPLOYMENT, tier.app)


def pod_spec(item: Registration) -> dict[str, Any]:
    return item.inputs["spec"]["template"]["spec"]


def only_container(item: Registration) -> dict[str, Any]:
    containers = pod_spec(item)["containers"]
    assert len(containers) == 1, f"{item.name}: {len(containers)} containers"
    return containers[0]


def serving_port(item: Registration) -> int:
    ports = [port for port in only_container(item)["ports"] if port.get("name") == SERVING_PORT_NAME]
    assert len(ports) == 1, f"{item.name}: no single container port named {SERVING_PORT_NAME!r}"
    return ports[0]["containerPort"]


def config_map_of(deployment: Deployment, item: Registration) -> Registration:
    volume = next(volume for volume in pod_spec(item)["volumes"] if volume["name"] == "config")
    return named(deployment, CONFIG_MAP, volume["configMap"]["name"])


def checksum(item: Registration) -> str:
    return item.inputs["spec"]["template"]["metadata"]["annotations"][demo_tier.CHECKSUM_ANNOTATION]


# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dev() -> Deployment:
    return run_lab("dev")


SCALED = {"app.backendReplicas": 4, "app.frontendReplicas": 3}
SLOWER_READ = {"app.proxyReadTimeout": "3s"}


@pytest.fixture(scope="module")
def scaled() -> Deployment:
    return run_lab("dev", SCALED)


@pytest.fixture(scope="module")
def slower_read() -> Deployment:
    return run_lab("dev", SLOWER_READ)


# --- names, labels, replicas, ports --------------------------------------------------------------


@pytest.mark.parametrize("tier", TIERS, ids=TIER_IDS)
def test_tier_names_labels_and_replicas_are_the_write_ups(dev, tier):
    item = workload(dev, tier)
    labels = {"app": tier.app}
    spec = item.inputs["spec"]
    assert item.inputs["metadata"]["labels"] == labels, f"{item.name}: labels {item.inputs['metadata']['labels']}"
    assert spec["selector"] == {"matchLabels": labels}, f"{item.name}: selector {spec['selector']}"
    assert spec["template"]["metadata"]["labels"] == labels, f"{item.name}: pod labels"
    assert spec["replicas"] == WORKLOADS[tier.app], f"{item.name}: replicas {spec['replicas']}"
    assert item.inputs["metadata"]["namespace"] == DEFAULT_SANDBOX_NAMESPACE, f"{item.name}: namespace"
    service = named(dev, SERVICE, tier.service)
    assert service.inputs["spec"]["selector"] == labels, (
        f"{service.name}: selector {service.inputs['spec']['selector']}"
    )
    assert service.inputs["metadata"]["namespace"] == DEFAULT_SANDBOX_NAMESPACE, f"{service.name}: namespace"
    assert {item.parent, service.parent} == {tier_component(dev, tier).urn}, (
        f"{item.name}/{service.name}: not in its Tier"
    )


def tier_component(deployment: Deployment, tier: Tier) -> Registration:
    return deployment.one(TIER_COMPONENT, f"demo-{tier.app}")


def demo_objects(deployment: Deployment) -> list[Registration]:
    """The demo app's Kubernetes objects: the children of its tiers."""
    demo = deployment.one(DEMO_COMPONENT).urn
    tiers = {item.urn for item in deployment.of_type(TIER_COMPONENT) if item.parent == demo}
    return [item for item in deployment.registrations if item.parent in tiers]


def test_each_tier_is_a_component_under_the_demo_app(dev):
    """The preview tree: DemoApp, then one Tier per app tier, each holding its own objects and outputs."""
    demo = dev.one(DEMO_COMPONENT).urn
    tiers = {tier.app: tier_component(dev, tier) for tier in TIERS}
    assert {item.parent for item in tiers.values()} == {demo}
    assert len(dev.of_type(TIER_COMPONENT)) == len(TIERS)
    for app, item in tiers.items():
        children = {child.type for child in dev.registrations if child.parent == item.urn}
        assert {DEPLOYMENT, CONFIG_MAP, SERVICE} <= children, app
        assert dev.registered_outputs[item.urn]["service_name"] == next(
            tier.service for tier in TIERS if tier.app == app
        )
    backend_children = [child for child in dev.registrations if child.parent == tiers[BACKEND.app].urn]
    assert sorted(child.type for child in backend_children) == sorted([CONFIG_MAP, DEPLOYMENT, SERVICE, SERVICE, PDB])


def test_default_replicas_come_from_the_config_defaults():
    app = lab_config().app
    assert (app.frontend_replicas, app.backend_replicas, topology.DATABASE_REPLICAS) == tuple(
        WORKLOADS[tier.app] for tier in TIERS
    )


@pytest.mark.parametrize("tier", TIERS, ids=TIER_IDS)
def test_service_targets_the_named_serving_port(dev, tier):
    service = named(dev, SERVICE, tier.service)
    (port,) = service.inputs["spec"]["ports"]
    assert port["targetPort"] == SERVING_PORT_NAME, f"{service.name}: targetPort {port['targetPort']!r}"
    container_port = serving_port(workload(dev, tier))
    expected_port = FRONTEND_SERVICE_PORT if tier is FRONTEND else container_port
    assert port["port"] == expected_port, f"{service.name}: port {port['port']}"
    expected_container_port = topology.REDIS_PORT if tier is DATABASE else topology.HTTP_PORT
    assert container_port == expected_container_port, f"{tier.app}: serving port {container_port}"


def test_frontend_service_is_port_80_to_8080(dev):
    (port,) = named(dev, SERVICE, FRONTEND.service).inputs["spec"]["ports"]
    assert (port["port"], port["targetPort"], serving_port(workload(dev, FRONTEND))) == (80, SERVING_PORT_NAME, 8080)


def test_replicas_follow_config(scaled):
    assert workload(scaled, BACKEND).inputs["spec"]["replicas"] == SCALED["app.backendReplicas"]
    assert workload(scaled, FRONTEND).inputs["spec"]["replicas"] == SCALED["app.frontendReplicas"]
    assert workload(scaled, DATABASE).inputs["spec"]["replicas"] == topology.DATABASE_REPLICAS


@pytest.mark.parametrize("sandbox", [DEFAULT_SANDBOX_NAMESPACE, "game-day"])
def test_nginx_proxies_to_the_backend_pods_through_a_headless_service_in_the_sandbox(sandbox):
    """nginx picks the pod and retries on another one; a ClusterIP would leave the choice to kube-proxy."""
    deployment = run_lab("dev", {} if sandbox == DEFAULT_SANDBOX_NAMESPACE else {"sandboxNamespace": sandbox})
    headless = named(deployment, SERVICE, topology.BACKEND_PODS_SERVICE)
    spec = headless.inputs["spec"]
    assert spec["clusterIP"] == "None", f"{headless.name}: clusterIP {spec.get('clusterIP')!r}"
    assert spec["selector"] == workload(deployment, BACKEND).inputs["spec"]["selector"]["matchLabels"]
    # Only ready pods are published, so a pod failing readiness leaves nginx's answer too.
    assert not spec.get("publishNotReadyAddresses")
    (port,) = spec["ports"]
    assert (port["port"], port["targetPort"]) == (topology.HTTP_PORT, SERVING_PORT_NAME), port
    assert headless.inputs["metadata"]["namespace"] == sandbox
    nginx_conf = config_map_of(deployment, workload(deployment, FRONTEND)).inputs["data"]["nginx.conf"]
    [target] = re.findall(r"^\s*set \$backend_pods (\S+);", nginx_conf, flags=re.MULTILINE)
    assert target == f"{headless.inputs['metadata']['name']}.{sandbox}.svc.cluster.local:{int(port['port'])}"
    assert re.search(rf"^\s*resolver {re.escape(render.CLUSTER_DNS)} ", nginx_conf, flags=re.MULTILINE)


# --- pods: probes, resources, users, lock-down, images -------------------------------------------


@pytest.mark.parametrize("tier", TIERS, ids=TIER_IDS)
def test_every_container_has_readiness_and_liveness_probes_on_its_serving_port(dev, tier):
    item = workload(dev, tier)
    container = only_container(item)
    port = serving_port(item)
    files = "".join(config_map_of(dev, item).inputs["data"].values())
    for kind in ("readinessProbe", "livenessProbe"):
        probe = container.get(kind)
        assert probe, f"{item.name}: no {kind}"
        handler = probe.get("httpGet") or probe.get("tcpSocket")
        assert handler, f"{item.name}: {kind} has no httpGet or tcpSocket"
        assert handler["port"] in (port, SERVING_PORT_NAME), f"{item.name}: {kind} probes port {handler['port']}"
        if "httpGet" in probe:
            assert probe["httpGet"]["path"] in files, (
                f"{item.name}: {kind} path {probe['httpGet']['path']} is not served"
            )
    readiness, liveness = container["readinessProbe"], container["livenessProbe"]
    # A slow pod must leave the Service before it is restarted.
    assert (
        liveness["failureThreshold"] * liveness["periodSeconds"]
        > readiness["failureThreshold"] * readiness["periodSeconds"]
    ), item.name


@pytest.mark.parametrize("tier", TIERS, ids=TIER_IDS)
def test_every_container_has_cpu_and_memory_requests_and_limits(dev, tier):
    item = workload(dev, tier)
    resources = only_container(item)["resources"]
    assert resources == tier.resources, f"{item.name}: resources {resources}"
    for bound in ("requests", "limits"):
        assert set(resources.get(bound, {})) == {"cpu", "memory"}, f"{item.name}: {bound} {resources.get(bound)}"
    for resource in ("cpu", "memory"):
        assert quantity(resources["limits"][resource]) >= quantity(resources["requests"][resource]), (
            f"{item.name}: {resource}"
        )


@pytest.mark.parametrize("tier", TIERS, ids=TIER_IDS)
def test_pod_runs_as_its_images_non_root_user(dev, tier):
    item = workload(dev, tier)
    pod_security = pod_spec(item)["securityContext"]
    assert only_container(item)["image"] == tier.image, f"{item.name}: image"
    assert pod_security.get("runAsNonRoot") is True, f"{item.name}: runAsNonRoot {pod_security.get('runAsNonRoot')!r}"
    assert pod_security.get("runAsUser") == tier.uid != 0, f"{item.name}: runAsUser {pod_security.get('runAsUser')!r}"
    container_security = only_container(item).get("securityContext", {})
    assert container_security.get("runAsUser", tier.uid) == tier.uid, f"{item.name}: container overrides the user"


@pytest.mark.parametrize("tier", TIERS, ids=TIER_IDS)
def test_pod_is_locked_down(dev, tier):
    item = workload(dev, tier)
    pod = pod_spec(item)
    security = only_container(item).get("securityContext", {})
    assert security.get("allowPrivilegeEscalation") is False, f"{item.name}: allowPrivilegeEscalation"
    assert security.get("capabilities", {}).get("drop") == ["ALL"], (
        f"{item.name}: capabilities {security.get('capabilities')}"
    )
    assert not security.get("capabilities", {}).get("add"), f"{item.name}: adds capabilities"
    assert security.get("readOnlyRootFilesystem") is True, f"{item.name}: readOnlyRootFilesystem"
    assert not security.get("privileged"), f"{item.name}: privileged"
    seccomp = security.get("seccompProfile") or pod["securityContext"].get("seccompProfile")
    assert seccomp == {"type": "RuntimeDefault"}, f"{item.name}: seccompProfile {seccomp}"
    assert pod.get("automountServiceAccountToken") is False, f"{item.name}: service account token mounted"
    assert not any(pod.get(key) for key in ("hostNetwork", "hostPID", "hostIPC")), (
        f"{item.name}: shares a host namespace"
    )


@pytest.mark.parametrize("tier", TIERS, ids=TIER_IDS)
def test_the_only_writable_path_is_an_in_memory_empty_dir_at_the_run_dir(dev, tier):
    """readOnlyRootFilesystem works only if everything the server writes goes to a volume."""
    item = workload(dev, tier)
    volumes = {volume["name"]: volume for volume in pod_spec(item)["volumes"]}
    writable = {
        mount["mountPath"]: mount["name"] for mount in only_container(item)["volumeMounts"] if not mount.get("readOnly")
    }
    assert list(writable) == [render.IMAGE_RUN_DIR], f"{item.name}: writable mounts {writable}"
    assert volumes[writable[render.IMAGE_RUN_DIR]].get("emptyDir") == {"medium": "Memory"}, (
        f"{item.name}: run dir volume"
    )


@pytest.mark.parametrize("tier", TIERS, ids=TIER_IDS)
def test_image_is_a_pinned_version_from_ecr_public(dev, tier):
    image = only_container(workload(dev, tier))["image"]
    match = _PINNED_IMAGE.fullmatch(image)
    assert match and match["tag"] != "latest", f"{tier.app}: image {image!r} is not a pinned ECR Public version tag"


@pytest.mark.parametrize("tier", [FRONTEND, BACKEND], ids=lambda tier: tier.app)
def test_replicated_tiers_spread_over_zones_then_nodes(dev, tier):
    spec = pod_spec(workload(dev, tier))
    assert [
        (item["topologyKey"], item["whenUnsatisfiable"], item["maxSkew"]) for item in spec["topologySpreadConstraints"]
    ] == [
        ("topology.kubernetes.io/zone", "ScheduleAnyway", 1),
        ("kubernetes.io/hostname", "ScheduleAnyway", 1),
    ]
    assert all(
        item["labelSelector"] == {"matchLabels": {"app": tier.app}} for item in spec["topologySpreadConstraints"]
    )


def test_the_single_redis_has_nothing_to_spread(dev):
    assert "topologySpreadConstraints" not in pod_spec(workload(dev, DATABASE))


def test_backend_pod_disruption_budget_selects_the_backend_pods(dev):
    budget = named(dev, PDB, BACKEND.app)
    spec = budget.inputs["spec"]
    assert spec["selector"] == {"matchLabels": {"app": "backend-api"}}, f"{budget.name}: selector {spec['selector']}"
    assert spec["selector"] == workload(dev, BACKEND).inputs["spec"]["selector"], (
        f"{budget.name}: not the backend's selector"
    )
    assert spec["maxUnavailable"] == component.BACKEND_MAX_UNAVAILABLE < WORKLOADS[BACKEND.app], (
        f"{budget.name}: {spec}"
    )
    assert budget.inputs["metadata"]["namespace"] == DEFAULT_SANDBOX_NAMESPACE, f"{budget.name}: namespace"
    assert [item.name for item in dev.of_type(PDB)] == [budget.name], "unexpected PodDisruptionBudgets"


# --- config files and the checksum ---------------------------------------------------------------


@pytest.mark.parametrize("overrides", [{}, SCALED, SLOWER_READ], ids=["defaults", "scaled", "slower-read"])
@pytest.mark.parametrize("tier", TIERS, ids=TIER_IDS)
def test_config_map_holds_exactly_the_rendered_files_and_the_pod_mounts_them(tier, overrides):
    deployment = run_lab("dev", overrides)
    item = workload(deployment, tier)
    config_map = config_map_of(deployment, item)
    files = rendered_files(tier, lab_config("dev", overrides))
    assert config_map.inputs["data"] == files, f"{config_map.name}: data differs from render.py's output"
    assert config_map.inputs["metadata"]["labels"] == {"app": tier.app}, f"{config_map.name}: labels"
    assert checksum(item) == render.config_checksum(*files.values()), f"{item.name}: checksum annotation"
    # Every file the container is told to read is mounted from this ConfigMap.
    mounts = {mount["mountPath"]: mount for mount in only_container(item)["volumeMounts"]}
    for argument in only_container(item)["command"]:
        if argument.startswith(demo_tier.CONFIG_DIR + "/"):
            mount = mounts.get(argument)
            assert mount and mount["name"] == "config" and mount["subPath"] in files, (
                f"{item.name}: {argument} is not mounted"
            )


def test_cgi_script_is_mounted_executable_where_httpd_runs_it(dev):
    item = workload(dev, BACKEND)
    (cgi,) = [volume for volume in pod_spec(item)["volumes"] if volume["name"] == "cgi"]
    assert cgi["configMap"]["name"] == config_map_of(dev, item).inputs["metadata"]["name"], f"{item.name}: cgi volume"
    assert cgi["configMap"]["items"] == [{"key": "api.cgi", "path": "api.cgi", "mode": demo_tier.CGI_FILE_MODE}]
    assert demo_tier.CGI_FILE_MODE & 0o111 and not demo_tier.CGI_FILE_MODE & 0o222, oct(demo_tier.CGI_FILE_MODE)
    (mount,) = [mount for mount in only_container(item)["volumeMounts"] if mount["name"] == "cgi"]
    assert mount["mountPath"] == render.IMAGE_HTTPD_PATHS.cgi_dir and mount.get("readOnly") is True, mount


def test_a_changed_timeout_rolls_exactly_the_tiers_whose_files_changed(dev, slower_read):
    changed_files, changed_checksums = set(), set()
    for tier in TIERS:
        before, after = workload(dev, tier), workload(slower_read, tier)
        if config_map_of(dev, before).inputs["data"] != config_map_of(slower_read, after).inputs["data"]:
            changed_files.add(tier.app)
        if checksum(before) != checksum(after):
            changed_checksums.add(tier.app)
    # proxyReadTimeout is nginx's read timeout and the backend's CGI timeout; Redis does not see it.
    assert changed_files == {FRONTEND.app, BACKEND.app}, changed_files
    assert changed_checksums == changed_files, f"pods roll for {changed_checksums}, files changed for {changed_files}"


# --- order and outputs ---------------------------------------------------------------------------


def test_frontend_is_created_after_the_headless_backend_service(dev):
    """nginx starts without it, but would answer every request with a 502 until the name exists."""
    frontend, backend_service = workload(dev, FRONTEND), named(dev, SERVICE, topology.BACKEND_PODS_SERVICE)
    assert backend_service.urn in frontend.dependencies, (
        f"{frontend.name} does not depend on {backend_service.name}: {[urn.rsplit('::', 1)[-1] for urn in frontend.dependencies]}"
    )


@pytest.mark.parametrize("sandbox", [DEFAULT_SANDBOX_NAMESPACE, "game-day"])
def test_outputs_port_forward_to_the_frontend_and_probe_through_it(sandbox):
    deployment = run_lab("dev", {} if sandbox == DEFAULT_SANDBOX_NAMESPACE else {"sandboxNamespace": sandbox})
    exports = deployment.exports
    assert exports["frontendPortForwardCommand"] == f"kubectl -n {sandbox} port-forward svc/frontend-service 8080:80"
    assert exports["probeUrl"] == f"http://localhost:{component.LOCAL_PORT}/api/"
    local_port = exports["frontendPortForwardCommand"].rsplit(" ", 1)[-1].split(":")[0]
    assert exports["probeUrl"].startswith(f"http://localhost:{local_port}/"), "probeUrl is not the forwarded port"
    outside = [item.name for item in demo_objects(deployment) if item.inputs["metadata"].get("namespace") != sandbox]
    assert outside == [], f"demo resources outside the sandbox {sandbox!r}: {outside}"


# --- the Kubernetes schema -----------------------------------------------------------------------


@pytest.mark.parametrize("overrides", [{}, SCALED], ids=["defaults", "scaled"])
def test_demo_app_manifests_pass_the_kubernetes_schema(overrides):
    deployment = run_lab("dev", overrides)
    children = demo_objects(deployment)
    checked, errors = k8s_schema.check_registrations(children)
    assert errors == []
    assert sorted(checked) == sorted([CONFIG_MAP] * 3 + [DEPLOYMENT] * 3 + [SERVICE] * 4 + [PDB])


def test_schema_check_is_strict_and_typed(dev):
    """The checker can fail: a misspelt field (strict mode) and a wrong type are both reported."""
    manifest = k8s_schema.to_manifest(DEPLOYMENT, workload(dev, FRONTEND).inputs)
    assert k8s_schema.schema_errors(manifest) == []
    misspelt = copy.deepcopy(manifest)
    misspelt["spec"]["template"]["spec"]["containers"][0]["imagePullPolice"] = "Always"
    assert any("imagePullPolice" in error for error in k8s_schema.schema_errors(misspelt))
    fractional = copy.deepcopy(manifest)
    fractional["spec"]["replicas"] = 2.5
    assert k8s_schema.schema_errors(fractional) != []
    assert k8s_schema.to_manifest(DEPLOYMENT, {"spec": {"replicas": 2.0, "paused": None}})["spec"] == {"replicas": 2}
