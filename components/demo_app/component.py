"""The three-tier demo app in the sandbox: nginx (frontend) -> Apache httpd + api.cgi (backend) -> Redis.

Every request to /api/ on the frontend really crosses all three tiers, so an experiment on any one of
them shows at the front door. The config files are the ones in files/, rendered by render.py, the same
text the end-to-end test runs with real nginx, httpd and Redis binaries.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from chaoslab.config import topology
from components.demo_app import render

# ECR Public mirrors of the official images: EKS nodes pull them without Docker Hub's rate limit.
# See files/IMAGES.md for what was confirmed about each tag and user.
FRONTEND_IMAGE = "public.ecr.aws/nginx/nginx-unprivileged:1.30.5-alpine-slim"
BACKEND_IMAGE = "public.ecr.aws/docker/library/httpd:2.4.68"
DATABASE_IMAGE = "public.ecr.aws/docker/library/redis:8.2.3-alpine"
FRONTEND_UID = 101
BACKEND_UID = 33  # www-data in the Debian-based httpd image
DATABASE_UID = 999
CONFIG_DIR = "/etc/chaos-lab"
CHECKSUM_ANNOTATION = "chaos-lab.dev/config-checksum"
# Readable and executable, not writable: api.cgi runs as the backend's user straight from the ConfigMap.
CGI_FILE_MODE = 0o555

# Requests fit three t3.medium nodes beside Chaos Mesh. The backend's memory limit leaves room for
# backend-memory-stress (256 MB by default) on top of httpd, so the stress shows as pressure, not an OOM kill.
FRONTEND_RESOURCES = {"requests": {"cpu": "25m", "memory": "32Mi"}, "limits": {"cpu": "250m", "memory": "64Mi"}}
BACKEND_RESOURCES = {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "500m", "memory": "512Mi"}}
DATABASE_RESOURCES = {"requests": {"cpu": "25m", "memory": "32Mi"}, "limits": {"cpu": "250m", "memory": "128Mi"}}
# One backend pod may be drained at a time; Chaos Mesh deletes pods directly, so this never blocks a pod-kill.
BACKEND_MAX_UNAVAILABLE = 1
PROBE_PERIOD_S = 5
# Replicas of a tier spread over zones, then nodes, so losing one node, one spot instance or one zone (the
# FIS experiments) takes only part of a tier. A preference (ScheduleAnyway), not a rule: a rule would
# leave pods Pending while a lost node is still counted, which is exactly when they must reschedule.
SPREAD_TOPOLOGY_KEYS = ("topology.kubernetes.io/zone", "kubernetes.io/hostname")
# Liveness waits longer than readiness: a slow pod should leave the Service before it is restarted.
LIVENESS_FAILURE_THRESHOLD = 6
READINESS_FAILURE_THRESHOLD = 2
# Network experiments delay the pod's replies to the kubelet too. Readiness keeps Kubernetes' 1 s, so a
# pod too slow to serve leaves the Service (what users would see); liveness outwaits a delayed reply by
# far (the progressive ramp ends at 3 s, about 6 s for a probe's round trip), so a slow pod is not
# mistaken for a dead one and restarted in the middle of the experiment.
READINESS_TIMEOUT_S = 1
LIVENESS_TIMEOUT_S = 10
LOCAL_PORT = 8080


@dataclass
class DemoAppArgs:
    namespace: pulumi.Input[str]
    frontend_replicas: int
    backend_replicas: int
    timeouts: topology.Timeouts


@dataclass(frozen=True)
class _Tier:
    app: str
    replicas: int
    image: str
    uid: int
    command: Sequence[str]
    port: int
    probe: Callable[[int, int], k8s.core.v1.ProbeArgs]  # the probe, given its failure threshold and timeout
    config: Mapping[str, pulumi.Input[str]]
    mounts: Sequence[k8s.core.v1.VolumeMountArgs]
    resources: Mapping[str, Mapping[str, str]]
    service: str
    service_port: int


def _http_probe(failure_threshold: int, timeout_s: int) -> k8s.core.v1.ProbeArgs:
    return k8s.core.v1.ProbeArgs(
        http_get=k8s.core.v1.HTTPGetActionArgs(path="/healthz", port=topology.HTTP_PORT),
        period_seconds=PROBE_PERIOD_S,
        failure_threshold=failure_threshold,
        timeout_seconds=timeout_s,
    )


def _tcp_probe(failure_threshold: int, timeout_s: int) -> k8s.core.v1.ProbeArgs:
    return k8s.core.v1.ProbeArgs(
        tcp_socket=k8s.core.v1.TCPSocketActionArgs(port=topology.REDIS_PORT),
        period_seconds=PROBE_PERIOD_S,
        failure_threshold=failure_threshold,
        timeout_seconds=timeout_s,
    )


def _spread(labels: Mapping[str, str]) -> list[k8s.core.v1.TopologySpreadConstraintArgs]:
    return [
        k8s.core.v1.TopologySpreadConstraintArgs(
            max_skew=1,
            topology_key=key,
            when_unsatisfiable="ScheduleAnyway",
            label_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(labels)),
        )
        for key in SPREAD_TOPOLOGY_KEYS
    ]


def _config_mount(file_name: str) -> k8s.core.v1.VolumeMountArgs:
    return k8s.core.v1.VolumeMountArgs(name="config", mount_path=f"{CONFIG_DIR}/{file_name}", sub_path=file_name, read_only=True)


class DemoApp(pulumi.ComponentResource):
    port_forward_command: pulumi.Output[str]
    probe_url: pulumi.Output[str]

    def __init__(self, name: str, args: DemoAppArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("chaos-lab:demoapp:DemoApp", name, None, opts)
        self._name = name
        self._namespace = args.namespace
        # A short Service name: the pod's own namespace is first in its DNS search list, so it resolves
        # on the first query, and httpd's config does not depend on which namespace is the sandbox.
        redis_host = topology.DATABASE_SERVICE

        database = self._tier(
            _Tier(
                app=topology.DATABASE_APP,
                replicas=topology.DATABASE_REPLICAS,
                image=DATABASE_IMAGE,
                uid=DATABASE_UID,
                command=("redis-server", f"{CONFIG_DIR}/redis.conf"),
                port=topology.REDIS_PORT,
                probe=_tcp_probe,
                config={"redis.conf": render.render_redis()},
                mounts=(_config_mount("redis.conf"),),
                resources=DATABASE_RESOURCES,
                service=topology.DATABASE_SERVICE,
                service_port=topology.REDIS_PORT,
            )
        )
        backend = self._tier(
            _Tier(
                app=topology.BACKEND_APP,
                replicas=args.backend_replicas,
                image=BACKEND_IMAGE,
                uid=BACKEND_UID,
                command=("httpd", "-DFOREGROUND", "-f", f"{CONFIG_DIR}/httpd.conf"),
                port=topology.HTTP_PORT,
                probe=_http_probe,
                config={
                    "httpd.conf": render.render_httpd(redis_host=redis_host, timeouts=args.timeouts),
                    "api.cgi": render.api_cgi(),
                },
                mounts=(
                    _config_mount("httpd.conf"),
                    k8s.core.v1.VolumeMountArgs(
                        name="cgi", mount_path=render.IMAGE_HTTPD_PATHS.cgi_dir, read_only=True
                    ),
                ),
                resources=BACKEND_RESOURCES,
                service=topology.BACKEND_SERVICE,
                service_port=topology.HTTP_PORT,
            ),
            depends_on=[database],
        )
        backend_pods = self._service(
            topology.BACKEND_APP, topology.BACKEND_PODS_SERVICE, topology.HTTP_PORT, headless=True
        )
        k8s.policy.v1.PodDisruptionBudget(
            f"{name}-{topology.BACKEND_APP}",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=topology.BACKEND_APP, namespace=args.namespace),
            spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                max_unavailable=BACKEND_MAX_UNAVAILABLE,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels={"app": topology.BACKEND_APP}),
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        # nginx's resolver does not use the search list, so its config names the sandbox namespace.
        frontend_config = pulumi.Output.from_input(args.namespace).apply(
            lambda namespace: render.render_nginx(
                f"{topology.backend_pods_host(namespace)}:{topology.HTTP_PORT}", timeouts=args.timeouts
            )
        )
        self._tier(
            _Tier(
                app=topology.FRONTEND_APP,
                replicas=args.frontend_replicas,
                image=FRONTEND_IMAGE,
                uid=FRONTEND_UID,
                command=("nginx", "-c", f"{CONFIG_DIR}/nginx.conf", "-g", "daemon off;"),
                port=topology.HTTP_PORT,
                probe=_http_probe,
                config={"nginx.conf": frontend_config},
                mounts=(_config_mount("nginx.conf"),),
                resources=FRONTEND_RESOURCES,
                service=topology.FRONTEND_SERVICE,
                service_port=topology.FRONTEND_SERVICE_PORT,
            ),
            # nginx starts without it (it resolves the backend pods per request), but would answer every
            # request with a 502 until the name exists.
            depends_on=[backend_pods],
        )

        self.port_forward_command = pulumi.Output.format(
            "kubectl -n {0} port-forward svc/{1} {2}:{3}",
            args.namespace,
            topology.FRONTEND_SERVICE,
            LOCAL_PORT,
            topology.FRONTEND_SERVICE_PORT,
        )
        self.probe_url = pulumi.Output.from_input(f"http://localhost:{LOCAL_PORT}/api/")
        self.register_outputs(
            {
                "port_forward_command": self.port_forward_command,
                "probe_url": self.probe_url,
            }
        )

    def _tier(
        self,
        tier: _Tier,
        *,
        depends_on: Sequence[pulumi.Resource] = (),
    ) -> k8s.core.v1.Service:
        """ConfigMap, Deployment and Service of one tier; returns the Service the next tier talks to."""
        labels = {"app": tier.app}
        child = pulumi.ResourceOptions(parent=self)
        config_map = k8s.core.v1.ConfigMap(
            f"{self._name}-{tier.app}",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=f"{tier.app}-config", namespace=self._namespace, labels=labels),
            data=dict(tier.config),
            opts=child,
        )
        volumes = [
            k8s.core.v1.VolumeArgs(
                name="config", config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(name=config_map.metadata.name)
            ),
            # The one writable path: pid files, sockets and temp files; the root filesystem is read-only.
            k8s.core.v1.VolumeArgs(name="run", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(medium="Memory")),
        ]
        if "api.cgi" in tier.config:
            volumes.append(
                k8s.core.v1.VolumeArgs(
                    name="cgi",
                    config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(
                        name=config_map.metadata.name,
                        items=[k8s.core.v1.KeyToPathArgs(key="api.cgi", path="api.cgi", mode=CGI_FILE_MODE)],
                    ),
                )
            )
        k8s.apps.v1.Deployment(
            f"{self._name}-{tier.app}",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=tier.app, namespace=self._namespace, labels=labels),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=tier.replicas,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=labels),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        labels=labels,
                        # A changed config file changes this, which rolls the pods onto it.
                        annotations={
                            CHECKSUM_ANNOTATION: pulumi.Output.all(*tier.config.values()).apply(
                                lambda texts: render.config_checksum(*texts)
                            )
                        },
                    ),
                    spec=k8s.core.v1.PodSpecArgs(
                        automount_service_account_token=False,
                        topology_spread_constraints=_spread(labels) if tier.replicas > 1 else None,
                        security_context=k8s.core.v1.PodSecurityContextArgs(
                            run_as_non_root=True,
                            run_as_user=tier.uid,
                            run_as_group=tier.uid,
                            seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
                        ),
                        containers=[
                            k8s.core.v1.ContainerArgs(
                                name=tier.app,
                                image=tier.image,
                                command=list(tier.command),
                                ports=[k8s.core.v1.ContainerPortArgs(container_port=tier.port, name="serve")],
                                readiness_probe=tier.probe(READINESS_FAILURE_THRESHOLD, READINESS_TIMEOUT_S),
                                liveness_probe=tier.probe(LIVENESS_FAILURE_THRESHOLD, LIVENESS_TIMEOUT_S),
                                resources=k8s.core.v1.ResourceRequirementsArgs(
                                    requests=dict(tier.resources["requests"]), limits=dict(tier.resources["limits"])
                                ),
                                security_context=k8s.core.v1.SecurityContextArgs(
                                    allow_privilege_escalation=False,
                                    read_only_root_filesystem=True,
                                    capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]),
                                ),
                                volume_mounts=[
                                    *tier.mounts,
                                    k8s.core.v1.VolumeMountArgs(name="run", mount_path=render.IMAGE_RUN_DIR),
                                ],
                            )
                        ],
                        volumes=volumes,
                    ),
                ),
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(depends_on)),
        )
        return self._service(tier.app, tier.service, tier.service_port)

    def _service(self, app: str, name: str, port: int, *, headless: bool = False) -> k8s.core.v1.Service:
        """A Service in front of the `app` pods' serving port.

        headless: no ClusterIP, so the name resolves to the ready pods' own IPs and kube-proxy plays no part.
        """
        labels = {"app": app}
        return k8s.core.v1.Service(
            f"{self._name}-{name}-service" if headless else f"{self._name}-{app}-service",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=name, namespace=self._namespace, labels=labels),
            spec=k8s.core.v1.ServiceSpecArgs(
                cluster_ip="None" if headless else None,
                selector=labels,
                ports=[k8s.core.v1.ServicePortArgs(name="serve", port=port, target_port="serve", protocol="TCP")],
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
