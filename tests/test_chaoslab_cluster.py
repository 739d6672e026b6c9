"""The real ClusterWatcher (the `kubernetes` client's CustomObjectsApi) against a real local HTTP
server that speaks the custom-object GET of the Kubernetes API, with status conditions that change
from one read to the next as Chaos Mesh's controller would change them.

Not covered: authentication and TLS (the server is plain HTTP on loopback), the real controller's
timing and reasons, and API errors other than 404.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import pytest
from kubernetes import client

from chaoslab.cluster import ChaosTarget, KubernetesWatcher
from chaoslab.experiments.errors import ActionFailed, ExperimentError
from chaoslab_servers import INJECTED, NOT_YET, RECOVERED, KubeApiServer, chaos_object

NAMESPACE = "chaos-sandbox"
POLL_S = 0.01
TIMEOUT_S = 2.0


@pytest.fixture
def watcher(kube: KubeApiServer) -> KubernetesWatcher:
    api = client.CustomObjectsApi(client.ApiClient(client.Configuration(host=kube.host)))
    return KubernetesWatcher(api, poll_interval_s=POLL_S)


def _serve(kube: KubeApiServer, target: ChaosTarget, states: list[Mapping[str, str] | None]) -> str:
    """Serve `target` in these states, one per read, the last one for ever after (None: 404)."""
    path = KubeApiServer.path(target.namespace, target.plural, target.name)

    def timeline(read: int) -> dict[str, Any] | None:
        state = states[min(read, len(states) - 1)]
        return None if state is None else chaos_object(target.kind, target.name, target.namespace, state)

    kube.serve(path, timeline)
    return path


NETWORK_CHAOS = ChaosTarget("NetworkChaos", NAMESPACE, "api-high-latency")


def test_injected_once_selected_and_all_injected(kube: KubeApiServer, watcher: KubernetesWatcher) -> None:
    states: list[Mapping[str, str] | None] = [None, NOT_YET, {**NOT_YET, "Selected": "True"}, INJECTED]
    path = _serve(kube, NETWORK_CHAOS, states)

    seen = watcher.wait_injected(NETWORK_CHAOS, TIMEOUT_S)

    assert seen.state == "injected" and dict(seen.conditions) == INJECTED
    assert kube.reads(path) == len(states)


def test_all_injected_before_any_pod_is_selected_is_not_injected(
    kube: KubeApiServer, watcher: KubernetesWatcher
) -> None:
    # No records yet: Chaos Mesh's "all records injected" is vacuously true.
    vacuous = {"Selected": "False", "AllInjected": "True", "AllRecovered": "True"}
    path = _serve(kube, NETWORK_CHAOS, [vacuous, vacuous, INJECTED])

    watcher.wait_injected(NETWORK_CHAOS, TIMEOUT_S)

    assert kube.reads(path) == 3


def test_recovered_when_the_object_is_gone(kube: KubeApiServer, watcher: KubernetesWatcher) -> None:
    _serve(kube, NETWORK_CHAOS, [INJECTED, INJECTED, None])

    seen = watcher.wait_recovered(NETWORK_CHAOS, TIMEOUT_S)

    assert seen.state == "gone" and seen.conditions == {}


def test_recovered_when_all_recovered(kube: KubeApiServer, watcher: KubernetesWatcher) -> None:
    _serve(kube, NETWORK_CHAOS, [INJECTED, RECOVERED])

    assert watcher.wait_recovered(NETWORK_CHAOS, TIMEOUT_S).state == "recovered"


def test_a_workflow_is_injected_when_scheduled_and_recovered_when_accomplished(
    kube: KubeApiServer, watcher: KubernetesWatcher
) -> None:
    workflow = ChaosTarget("Workflow", NAMESPACE, "progressive-delay")
    _serve(kube, workflow, [{}, {"Scheduled": "True"}, {"Scheduled": "True", "Accomplished": "True"}])

    assert watcher.wait_injected(workflow, TIMEOUT_S).state == "injected"
    assert watcher.wait_recovered(workflow, TIMEOUT_S).state == "recovered"


def test_not_injected_in_time_names_what_was_last_seen(kube: KubeApiServer, watcher: KubernetesWatcher) -> None:
    short_timeout_s = 0.2
    _serve(kube, NETWORK_CHAOS, [NOT_YET])
    started = time.monotonic()

    with pytest.raises(
        ActionFailed,
        match=r"NetworkChaos chaos-sandbox/api-high-latency was not injected within 0.2s; "
        r'last seen: conditions \{"AllInjected": "False"',
    ):
        watcher.wait_injected(NETWORK_CHAOS, short_timeout_s)
    assert time.monotonic() - started >= short_timeout_s


def test_a_missing_object_is_never_injected(kube: KubeApiServer, watcher: KubernetesWatcher) -> None:
    with pytest.raises(ActionFailed, match="last seen: not found"):
        watcher.wait_injected(NETWORK_CHAOS, POLL_S * 5)


def test_a_kind_run_cannot_watch_is_refused() -> None:
    with pytest.raises(ExperimentError, match="kind: got 'Schedule'"):
        ChaosTarget("Schedule", NAMESPACE, "basic-pod-kill")
