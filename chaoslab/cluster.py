"""Watching Chaos Mesh inject and recover one experiment, through the Kubernetes API.

Chaos Mesh reports progress in `status.conditions` (v2.8, the CRDs in tests/data/chaos-mesh-crds):
- PodChaos, NetworkChaos, StressChaos: `Selected`, `AllInjected`, `AllRecovered`, `Paused`. Before any
  pod is selected there are no records, and "all records injected" is vacuously true, so injected
  means Selected and AllInjected both True.
- Workflow: `Scheduled` (its entry node is running) and `Accomplished` (its entry node is done).
Recovered also means the object is gone: `run` disables an experiment by removing it from the stack.

Halting one object (an abort in `run`, and every object `halt` stops) is a merge patch of Chaos Mesh's
pause annotation, which recovers the fault at once, or the deletion of a Workflow, which cannot be paused.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from chaoslab.experiments.errors import ActionFailed, ExperimentError

from .journal import one_line
from .kinds import WATCHABLE_RESOURCES
from .retrying import ATTEMPT_TIMEOUT_S, HALT_DEADLINE_S, Deadline, RetriesExhausted, call_with_retries

GROUP = "chaos-mesh.org"
VERSION = "v1alpha1"
NOT_FOUND = 404
TRUE = "True"
PAUSE_ANNOTATION = "experiment.chaos-mesh.org/pause"
# Marks what chaoslab paused, so `resume` un-pauses that and leaves alone what someone else paused.
PAUSED_BY_ANNOTATION = "chaos-lab.dev/paused-by"
PAUSED_BY = "chaoslab"
# Which halt paused it: `resume` undoes one halt's pauses, not every pause chaoslab ever made.
HALT_ID_ANNOTATION = "chaos-lab.dev/halt-id"
MERGE_PATCH = "application/merge-patch+json"
# Every API call is bounded: a hung API server must not hang a halt.
REQUEST_TIMEOUT_S = ATTEMPT_TIMEOUT_S
# Chaos Mesh reconciles within seconds; a minute means the controller is down or the selector
# matches no pod.
INJECT_TIMEOUT_S = 60.0
# Removing the object is immediate once `up` returns, but Chaos Mesh first undoes the netem rules or
# stress processes in every pod, which can take a while on a busy node.
RECOVER_TIMEOUT_S = 120.0
DEFAULT_POLL_INTERVAL_S = 1.0


@dataclass(frozen=True)
class ChaosTarget:
    """Raises ExperimentError for a kind `run` cannot watch."""

    kind: str
    namespace: str
    name: str

    def __post_init__(self) -> None:
        if self.kind not in WATCHABLE_RESOURCES:
            raise ExperimentError(f"kind: got {self.kind!r}; accepted {', '.join(WATCHABLE_RESOURCES)}")

    @property
    def plural(self) -> str:
        return WATCHABLE_RESOURCES[self.kind]

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"


@dataclass(frozen=True)
class Observation:
    state: str  # "injected", "recovered" or "gone"
    conditions: Mapping[str, str]  # condition type -> status, as last seen
    waited_s: float

    def to_dict(self) -> dict[str, Any]:
        return {"state": self.state, "conditions": dict(self.conditions), "waited_s": round(self.waited_s, 3)}


class ClusterWatcher(Protocol):
    """What `run` needs from the cluster: watch its chaos object, and halt it when an abort condition holds."""

    def wait_injected(self, target: ChaosTarget, timeout_s: float) -> Observation:
        """Raises ActionFailed when the chaos is not injected within timeout_s."""

    def wait_recovered(self, target: ChaosTarget, timeout_s: float) -> Observation:
        """Raises ActionFailed when the chaos is neither recovered nor gone within timeout_s."""

    def halt(self, target: ChaosTarget) -> float:
        """Pause the chaos (delete a Workflow); return the monotonic time the request was issued.

        An object already gone is fine. Raises ActionFailed for any other API error.
        """


def conditions(chaos_object: Mapping[str, Any]) -> dict[str, str]:
    return {item["type"]: item.get("status", "") for item in chaos_object.get("status", {}).get("conditions") or []}


def is_injected(kind: str, seen: Mapping[str, str]) -> bool:
    if kind == "Workflow":
        return seen.get("Scheduled") == TRUE
    return seen.get("Selected") == TRUE and seen.get("AllInjected") == TRUE


def is_recovered(kind: str, seen: Mapping[str, str]) -> bool:
    return seen.get("Accomplished" if kind == "Workflow" else "AllRecovered") == TRUE


def custom_objects_api(access: KubeAccess) -> Any:
    """The `kubernetes` client's CustomObjectsApi for this access.

    Raises kubernetes.config.ConfigException when the kubeconfig or context is unusable.
    """
    from kubernetes import client, config

    kubeconfig = None if access.kubeconfig is None else str(access.kubeconfig)
    return client.CustomObjectsApi(config.new_client_from_config(config_file=kubeconfig, context=access.context))


def new_halt_id() -> str:
    """A halt's identity: its UTC start to the millisecond, so IDs sort by time, and random hex, so two
    operators' halts in the same millisecond still differ."""
    now = time.time()
    return f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime(now))}.{int(now * 1000) % 1000:03d}Z-{secrets.token_hex(3)}"


def get_object(
    api: Any, namespace: str, plural: str, name: str, timeout_s: float = REQUEST_TIMEOUT_S
) -> dict[str, Any] | None:
    """The object, or None when it does not exist. Raises ApiException for any other API error."""
    from kubernetes.client.exceptions import ApiException

    try:
        found: dict[str, Any] = api.get_namespaced_custom_object(
            GROUP, VERSION, namespace, plural, name, _request_timeout=timeout_s
        )
        return found
    except ApiException as error:
        if error.status == NOT_FOUND:
            return None
        raise


def set_paused(
    api: Any,
    namespace: str,
    plural: str,
    name: str,
    *,
    halt_id: str | None,
    timeout_s: float = REQUEST_TIMEOUT_S,
) -> None:
    """Pause the object, marked as chaoslab's and as halt `halt_id`'s; with halt_id None, remove the pause
    and both marks (null deletes a key in a merge patch).

    Raises ApiException (404 when the object is gone).
    """
    annotations = (
        {PAUSE_ANNOTATION: "true", PAUSED_BY_ANNOTATION: PAUSED_BY, HALT_ID_ANNOTATION: halt_id}
        if halt_id is not None
        else {PAUSE_ANNOTATION: None, PAUSED_BY_ANNOTATION: None, HALT_ID_ANNOTATION: None}
    )
    api.patch_namespaced_custom_object(
        GROUP,
        VERSION,
        namespace,
        plural,
        name,
        {"metadata": {"annotations": annotations}},
        _content_type=MERGE_PATCH,
        _request_timeout=timeout_s,
    )


def delete_object(api: Any, namespace: str, plural: str, name: str, timeout_s: float = REQUEST_TIMEOUT_S) -> None:
    """Raises ApiException (404 when the object is gone already)."""
    api.delete_namespaced_custom_object(GROUP, VERSION, namespace, plural, name, _request_timeout=timeout_s)


def api_error(error: BaseException) -> str:
    """An API failure in a few words: the HTTP status for an ApiException, `Type: message` otherwise."""
    from kubernetes.client.exceptions import ApiException

    if isinstance(error, RetriesExhausted):
        return f"{api_error(error.last)} ({error})"
    if isinstance(error, ApiException):
        return f"{error.status} {error.reason}"
    return one_line(error)


class KubernetesWatcher:
    """Polls the chaos object with the `kubernetes` client's CustomObjectsApi."""

    def __init__(self, api: Any, poll_interval_s: float = DEFAULT_POLL_INTERVAL_S) -> None:
        self._api = api
        self._poll_interval_s = poll_interval_s

    def wait_injected(self, target: ChaosTarget, timeout_s: float) -> Observation:
        return self._wait(target, timeout_s, "injected", lambda seen: is_injected(target.kind, seen))

    def wait_recovered(self, target: ChaosTarget, timeout_s: float) -> Observation:
        return self._wait(target, timeout_s, "recovered", lambda seen: is_recovered(target.kind, seen))

    def halt(self, target: ChaosTarget) -> float:
        """Retried on connection errors, 429 and 5xx until HALT_DEADLINE_S: a single 503 must not leave the chaos running."""
        from kubernetes.client.exceptions import ApiException

        attempts: list[float] = []
        halt_id = new_halt_id()

        def request(timeout_s: float) -> None:
            if target.kind == "Workflow":
                delete_object(self._api, target.namespace, target.plural, target.name, timeout_s)
            else:
                set_paused(
                    self._api, target.namespace, target.plural, target.name, halt_id=halt_id, timeout_s=timeout_s
                )

        try:
            call_with_retries(request, Deadline(HALT_DEADLINE_S), on_attempt=lambda: attempts.append(time.monotonic()))
        except Exception as error:
            if not (isinstance(error, ApiException) and error.status == NOT_FOUND):  # gone already is halted
                raise ActionFailed(f"Kubernetes API: halting {target}: {api_error(error)}") from error
        return attempts[-1]

    def _wait(
        self, target: ChaosTarget, timeout_s: float, goal: str, reached: Callable[[Mapping[str, str]], bool]
    ) -> Observation:
        started = time.monotonic()
        last_seen = "not found"
        while True:
            chaos_object = self._get(target)
            waited_s = time.monotonic() - started
            if chaos_object is None and goal == "recovered":
                return Observation("gone", {}, waited_s)
            if chaos_object is not None:
                seen = conditions(chaos_object)
                if reached(seen):
                    return Observation(goal, seen, waited_s)
                last_seen = f"conditions {json.dumps(seen, sort_keys=True)}"
            if waited_s >= timeout_s:
                raise ActionFailed(f"{target} was not {goal} within {timeout_s:g}s; last seen: {last_seen}")
            time.sleep(self._poll_interval_s)

    def _get(self, target: ChaosTarget) -> dict[str, Any] | None:
        """The object, or None when it does not exist. Raises ActionFailed for any other API error."""
        from kubernetes.client.exceptions import ApiException

        try:
            return get_object(self._api, target.namespace, target.plural, target.name)
        except ApiException as error:
            raise ActionFailed(f"Kubernetes API: reading {target}: {api_error(error)}") from error


@dataclass(frozen=True)
class KubeAccess:
    """Which kubeconfig and context reach the lab's cluster; None for each means the ambient defaults."""

    kubeconfig: Path | None
    context: str | None


@contextlib.contextmanager
def kube_access(stack_outputs: Mapping[str, Any], configured_context: str | None) -> Iterator[KubeAccess]:
    """The EKS stack exports its kubeconfig; an existing-cluster stack uses the ambient one and its
    configured context. An exported kubeconfig goes to a private temporary file for the run's length,
    so kubectl and the client read the same one."""
    exported = stack_outputs.get("kubeconfig")
    if exported is None:
        yield KubeAccess(None, configured_context)
        return
    with tempfile.TemporaryDirectory(prefix="chaoslab-kube-") as directory:
        path = Path(directory) / "kubeconfig"
        text = exported if isinstance(exported, str) else json.dumps(exported)
        # Written private: a kubeconfig is a credential, even one that only names an exec plugin.
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as stream:
            stream.write(text)
        yield KubeAccess(path, None)
