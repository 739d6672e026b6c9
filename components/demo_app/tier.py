"""One tier of the demo app: its config, its pods and the Service in front of them, as one component.

The preview tree then shows each tier under the DemoApp, the way pulumi/examples kubernetes-py-guestbook
gives each tier its own ServiceDeployment (kubernetes-py-guestbook/components/service_deployment.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from chaoslab.config import topology
from components.demo_app import render

CONFIG_DIR = "/etc/chaos-lab"
CHECKSUM_ANNOTATION = "chaos-lab.dev/config-checksum"
# Readable and executable, not writable: api.cgi runs as the backend's user straight from the ConfigMap.
CGI_FILE_MODE = 0o555
CGI_FILE = "api.cgi"
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


def http_probe(failure_threshold: int, timeout_s: int) -> k8s.core.v1.ProbeArgs:
    return k8s.core.v1.ProbeArgs(
        http_get=k8s.core.v1.HTTPGetActionArgs(path="/healthz", port=topology.HTTP_PORT),
        period_seconds=PROBE_PERIOD_S,
        failure_threshold=failure_threshold,
        timeout_seconds=timeout_s,
    )


def tcp_probe(failure_threshold: int, timeout_s: int) -> k8s.core.v1.ProbeArgs:
    return k8s.core.v1.ProbeArgs(
        tcp_socket=k8s.core.v1.TCPSocketActionArgs(port=topology.REDIS_PORT),
        period_seconds=PROBE_PERIOD_S,
        failure_threshold=failure_threshold,
        timeout_seconds=timeout_s,
    )


def config_mount(file_name: str) -> k8s.core.v1.VolumeMountArgs:
    return k8s.core.v1.VolumeMountArgs(
        name="config", mount_path=f"{CONFIG_DIR}/{file_name}", sub_path=file_name, read_only=True
    )


@dataclass(frozen=True)
class TierArgs:
    namespace: pulumi.Input[str]
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
    # A second, headless Service: its name resolves to the ready pods' own IPs, with no kube-proxy between.
    pods_service: str | None = None
    # A PodDisruptionBudget: at most this many pods drained at once.
    max_unavailable: int | None = None
    # What the tier's pods need before they start (the Deployment waits for them).
    depends_on: Sequence[pulumi.Resource] = ()


class Tier(pulumi.ComponentResource):
    """ConfigMap, Deployment and Service of one tier (plus its headless Service and disruption budget, if any)."""

    service: k8s.core.v1.Service
    pods_service: k8s.core.v1.Service | None
    service_name: pulumi.Output[str]

    def __init__(self, name: str, args: TierArgs, opts: pulumi.ResourceOptions) -> None:
        super().__init__("chaos-lab:demoapp:Tier", name, None, opts)
        self._name = name
        self._args = args
        self._labels = {"app": args.app}
        # Before tiers were components their resources were children of the tier's own parent (the DemoApp).
        # The alias reproduces those URNs, so an existing stack updates them in place: without it Pulumi
        # would delete and re-create every ConfigMap, Deployment and Service of the app.
        self._child = pulumi.ResourceOptions(parent=self, aliases=[pulumi.Alias(parent=opts.parent)])

        config_map = k8s.core.v1.ConfigMap(
            name,
            metadata=self._metadata(f"{args.app}-config"),
            data=dict(args.config),
            opts=self._child,
        )
        k8s.apps.v1.Deployment(
            name,
            metadata=self._metadata(args.app),
            spec=self._deployment_spec(config_map),
            opts=pulumi.ResourceOptions.merge(self._child, pulumi.ResourceOptions(depends_on=list(args.depends_on))),
        )
        self.service = self._service(f"{name}-service", args.service, args.service_port)
        self.pods_service = (
            self._service(f"{name}-pods-service", args.pods_service, args.port, headless=True)
            if args.pods_service
            else None
        )
        if args.max_unavailable is not None:
            k8s.policy.v1.PodDisruptionBudget(
                name,
                metadata=k8s.meta.v1.ObjectMetaArgs(name=args.app, namespace=args.namespace),
                spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                    max_unavailable=args.max_unavailable,
                    selector=k8s.meta.v1.LabelSelectorArgs(match_labels=self._labels),
                ),
                opts=self._child,
            )
        self.service_name = self.service.metadata.name
        self.register_outputs({"service_name": self.service_name})

    def _metadata(self, name: str) -> k8s.meta.v1.ObjectMetaArgs:
        return k8s.meta.v1.ObjectMetaArgs(name=name, namespace=self._args.namespace, labels=self._labels)

    def _volumes(self, config_map: k8s.core.v1.ConfigMap) -> list[k8s.core.v1.VolumeArgs]:
        volumes = [
            k8s.core.v1.VolumeArgs(
                name="config", config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(name=config_map.metadata.name)
            ),
            # The one writable path: pid files, sockets and temp files; the root filesystem is read-only.
            k8s.core.v1.VolumeArgs(name="run", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(medium="Memory")),
        ]
        if CGI_FILE in self._args.config:
            volumes.append(
                k8s.core.v1.VolumeArgs(
                    name="cgi",
                    config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(
                        name=config_map.metadata.name,
                        items=[k8s.core.v1.KeyToPathArgs(key=CGI_FILE, path=CGI_FILE, mode=CGI_FILE_MODE)],
                    ),
                )
            )
        return volumes

    def _deployment_spec(self, config_map: k8s.core.v1.ConfigMap) -> k8s.apps.v1.DeploymentSpecArgs:
        args = self._args
        return k8s.apps.v1.DeploymentSpecArgs(
            replicas=args.replicas,
            selector=k8s.meta.v1.LabelSelectorArgs(match_labels=self._labels),
            template=k8s.core.v1.PodTemplateSpecArgs(
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    labels=self._labels,
                    # A changed config file changes this, which rolls the pods onto it.
                    annotations={
                        CHECKSUM_ANNOTATION: pulumi.Output.all(*args.config.values()).apply(
                            lambda texts: render.config_checksum(*texts)
                        )
                    },
                ),
                spec=k8s.core.v1.PodSpecArgs(
                    automount_service_account_token=False,
                    topology_spread_constraints=self._spread() if args.replicas > 1 else None,
                    security_context=k8s.core.v1.PodSecurityContextArgs(
                        run_as_non_root=True,
                        run_as_user=args.uid,
                        run_as_group=args.uid,
                        seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
                    ),
                    containers=[self._container()],
                    volumes=self._volumes(config_map),
                ),
            ),
        )

    def _container(self) -> k8s.core.v1.ContainerArgs:
        args = self._args
        return k8s.core.v1.ContainerArgs(
            name=args.app,
            image=args.image,
            command=list(args.command),
            ports=[k8s.core.v1.ContainerPortArgs(container_port=args.port, name="serve")],
            readiness_probe=args.probe(READINESS_FAILURE_THRESHOLD, READINESS_TIMEOUT_S),
            liveness_probe=args.probe(LIVENESS_FAILURE_THRESHOLD, LIVENESS_TIMEOUT_S),
            resources=k8s.core.v1.ResourceRequirementsArgs(
                requests=dict(args.resources["requests"]), limits=dict(args.resources["limits"])
            ),
            security_context=k8s.core.v1.SecurityContextArgs(
                allow_privilege_escalation=False,
                read_only_root_filesystem=True,
                capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]),
            ),
            volume_mounts=[
                *args.mounts,
                k8s.core.v1.VolumeMountArgs(name="run", mount_path=render.IMAGE_RUN_DIR),
            ],
        )

    def _spread(self) -> list[k8s.core.v1.TopologySpreadConstraintArgs]:
        return [
            k8s.core.v1.TopologySpreadConstraintArgs(
                max_skew=1,
                topology_key=key,
                when_unsatisfiable="ScheduleAnyway",
                label_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=self._labels),
            )
            for key in SPREAD_TOPOLOGY_KEYS
        ]

    def _service(self, resource_name: str, name: str, port: int, *, headless: bool = False) -> k8s.core.v1.Service:
        """A Service in front of the tier's serving port; headless: no ClusterIP, the name resolves to the pods."""
        return k8s.core.v1.Service(
            resource_name,
            metadata=self._metadata(name),
            spec=k8s.core.v1.ServiceSpecArgs(
                cluster_ip="None" if headless else None,
                selector=self._labels,
                ports=[k8s.core.v1.ServicePortArgs(name="serve", port=port, target_port="serve", protocol="TCP")],
            ),
            opts=self._child,
        )
