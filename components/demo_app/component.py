"""The three-tier demo app in the sandbox: nginx (frontend) -> Apache httpd + api.cgi (backend) -> Redis.

Every request to /api/ on the frontend really crosses all three tiers, so an experiment on any one of
them shows at the front door. The config files are the ones in files/, rendered by render.py, the same
text the end-to-end test runs with real nginx, httpd and Redis binaries. Each tier is a component of its
own (tier.py), so the preview tree reads DemoApp -> database, backend-api, frontend-app.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from chaoslab.config import topology
from components.demo_app import render
from components.demo_app.tier import CONFIG_DIR, Tier, TierArgs, config_mount, http_probe, tcp_probe

# ECR Public mirrors of the official images: EKS nodes pull them without Docker Hub's rate limit.
# See files/IMAGES.md for what was confirmed about each tag and user.
FRONTEND_IMAGE = "public.ecr.aws/nginx/nginx-unprivileged:1.30.5-alpine-slim"
BACKEND_IMAGE = "public.ecr.aws/docker/library/httpd:2.4.68"
DATABASE_IMAGE = "public.ecr.aws/docker/library/redis:8.2.3-alpine"
FRONTEND_UID = 101
BACKEND_UID = 33  # www-data in the Debian-based httpd image
DATABASE_UID = 999

# Requests fit three t3.medium nodes beside Chaos Mesh. The backend's memory limit leaves room for
# backend-memory-stress (256 MB by default) on top of httpd, so the stress shows as pressure, not an OOM kill.
FRONTEND_RESOURCES = {"requests": {"cpu": "25m", "memory": "32Mi"}, "limits": {"cpu": "250m", "memory": "64Mi"}}
BACKEND_RESOURCES = {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "500m", "memory": "512Mi"}}
DATABASE_RESOURCES = {"requests": {"cpu": "25m", "memory": "32Mi"}, "limits": {"cpu": "250m", "memory": "128Mi"}}
# One backend pod may be drained at a time; Chaos Mesh deletes pods directly, so this never blocks a pod-kill.
BACKEND_MAX_UNAVAILABLE = 1
LOCAL_PORT = 8080


@dataclass
class DemoAppArgs:
    namespace: pulumi.Input[str]
    frontend_replicas: int
    backend_replicas: int
    timeouts: topology.Timeouts


class DemoApp(pulumi.ComponentResource):
    port_forward_command: pulumi.Output[str]
    probe_url: pulumi.Output[str]
    database: Tier
    backend: Tier
    frontend: Tier

    def __init__(self, name: str, args: DemoAppArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("chaos-lab:demoapp:DemoApp", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.database = Tier(f"{name}-{topology.DATABASE_APP}", _database(args), child)
        self.backend = Tier(f"{name}-{topology.BACKEND_APP}", _backend(args, depends_on=[self.database.service]), child)
        assert self.backend.pods_service is not None, "the backend tier declares its headless Service"
        # nginx starts without the headless Service (it resolves the backend pods per request), but would
        # answer every request with a 502 until the name exists.
        self.frontend = Tier(
            f"{name}-{topology.FRONTEND_APP}", _frontend(args, depends_on=[self.backend.pods_service]), child
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


def _database(args: DemoAppArgs) -> TierArgs:
    return TierArgs(
        namespace=args.namespace,
        app=topology.DATABASE_APP,
        replicas=topology.DATABASE_REPLICAS,
        image=DATABASE_IMAGE,
        uid=DATABASE_UID,
        command=("redis-server", f"{CONFIG_DIR}/redis.conf"),
        port=topology.REDIS_PORT,
        probe=tcp_probe,
        config={"redis.conf": render.render_redis()},
        mounts=(config_mount("redis.conf"),),
        resources=DATABASE_RESOURCES,
        service=topology.DATABASE_SERVICE,
        service_port=topology.REDIS_PORT,
    )


def _backend(args: DemoAppArgs, *, depends_on: list[pulumi.Resource]) -> TierArgs:
    # A short Service name: the pod's own namespace is first in its DNS search list, so it resolves
    # on the first query, and httpd's config does not depend on which namespace is the sandbox.
    httpd_conf = render.render_httpd(redis_host=topology.DATABASE_SERVICE, timeouts=args.timeouts)
    return TierArgs(
        namespace=args.namespace,
        app=topology.BACKEND_APP,
        replicas=args.backend_replicas,
        image=BACKEND_IMAGE,
        uid=BACKEND_UID,
        command=("httpd", "-DFOREGROUND", "-f", f"{CONFIG_DIR}/httpd.conf"),
        port=topology.HTTP_PORT,
        probe=http_probe,
        config={"httpd.conf": httpd_conf, "api.cgi": render.api_cgi()},
        mounts=(
            config_mount("httpd.conf"),
            k8s.core.v1.VolumeMountArgs(name="cgi", mount_path=render.IMAGE_HTTPD_PATHS.cgi_dir, read_only=True),
        ),
        resources=BACKEND_RESOURCES,
        service=topology.BACKEND_SERVICE,
        service_port=topology.HTTP_PORT,
        pods_service=topology.BACKEND_PODS_SERVICE,
        max_unavailable=BACKEND_MAX_UNAVAILABLE,
        depends_on=depends_on,
    )


def _frontend(args: DemoAppArgs, *, depends_on: list[pulumi.Resource]) -> TierArgs:
    # nginx's resolver does not use the search list, so its config names the sandbox namespace.
    nginx_conf = pulumi.Output.from_input(args.namespace).apply(
        lambda namespace: render.render_nginx(
            f"{topology.backend_pods_host(namespace)}:{topology.HTTP_PORT}", timeouts=args.timeouts
        )
    )
    return TierArgs(
        namespace=args.namespace,
        app=topology.FRONTEND_APP,
        replicas=args.frontend_replicas,
        image=FRONTEND_IMAGE,
        uid=FRONTEND_UID,
        command=("nginx", "-c", f"{CONFIG_DIR}/nginx.conf", "-g", "daemon off;"),
        port=topology.HTTP_PORT,
        probe=http_probe,
        config={"nginx.conf": nginx_conf},
        mounts=(config_mount("nginx.conf"),),
        resources=FRONTEND_RESOURCES,
        service=topology.FRONTEND_SERVICE,
        service_port=topology.FRONTEND_SERVICE_PORT,
        depends_on=depends_on,
    )
