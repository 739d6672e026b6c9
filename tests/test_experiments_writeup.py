"""The five write-up experiments keep exactly the write-up's parameters.

The YAML below is transcribed from the write-up "Building Resilience Through Chaos: Chaos Engineering on AWS EKS". One change is
ours, on purpose: the write-up creates the objects in `namespace: chaos-mesh`, but our fence admits chaos
objects only in the sandbox (the admission policy and chaos-manager's Role both hold there), so experiment
objects live in the sandbox namespace. `_as_fenced` swaps that one field; every selector already names the sandbox
(`chaos-sandbox`, which is also our default).
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from chaoslab.experiments import CATALOG, parse_experiments
from experiments_support import FENCE, PROBE_URL, SANDBOX, all_enabled

WRITE_UP = yaml.safe_load_all("""
apiVersion: chaos-mesh.org/v1alpha1
kind: PodChaos
metadata:
  name: basic-pod-kill
  namespace: chaos-mesh
  annotations:
    chaos.alpha.kubernetes.io/experiment: "pod-resilience-test"
spec:
  action: pod-kill
  mode: one                     # Kill only one pod at a time
  duration: "60s"               # Run for 1 minute to observe recovery
  selector:
    namespaces:
      - chaos-sandbox
    labelSelectors:
      app: backend-api           # Target our backend services
---
apiVersion: chaos-mesh.org/v1alpha1
kind: NetworkChaos
metadata:
  name: api-high-latency
  namespace: chaos-mesh
  annotations:
    chaos.alpha.kubernetes.io/experiment: "high-latency-api"
spec:
  action: delay
  mode: all                    # Affect all frontend pods
  duration: "120s"             # 2 minutes for observation
  selector:
    namespaces:
      - chaos-sandbox
    labelSelectors:
      app: frontend-app         # Target frontend pods
  delay:
    latency: "500ms"           # Half-second delay - users notice this
    correlation: "90"          # 90% of packets affected (realistic)
    jitter: "100ms"            # ±100ms variance for realism
  direction: to                # Only outgoing traffic (to backend)
  target:
    mode: all
    selector:
      namespaces:
        - chaos-sandbox
      labelSelectors:
        app: backend-api        # Only affect traffic to backend
---
apiVersion: chaos-mesh.org/v1alpha1
kind: NetworkChaos
metadata:
  name: packet-loss-scenario
  namespace: chaos-mesh
  annotations:
    chaos.alpha.kubernetes.io/experiment: "packet-loss"
spec:
  action: loss
  mode: one                    # Affect one backend pod at a time
  duration: "90s"              # 1.5 minutes observation window
  selector:
    namespaces:
      - chaos-sandbox
    labelSelectors:
      app: backend-api
  loss:
    loss: "15"                 # 15% packet loss
    correlation: "50"          # 50% correlation
  direction: both              # Affect both request and response traffic
---
apiVersion: chaos-mesh.org/v1alpha1
kind: NetworkChaos
metadata:
  name: database-partition
  namespace: chaos-mesh
  annotations:
    chaos.alpha.kubernetes.io/experiment: "database-isolation"
spec:
  action: partition
  mode: all                    # Isolate all database instances
  duration: "120s"              # Short duration - this breaks the app
  selector:
    namespaces:
      - chaos-sandbox
    labelSelectors:
      app: database             # Target database pods
  direction: both              # isolate database
  target:
    mode: all
    selector:
      namespaces:
        - chaos-sandbox
      labelSelectors:
        app: backend-api        # From backend API pods
---
apiVersion: chaos-mesh.org/v1alpha1
kind: NetworkChaos
metadata:
  name: progressive-delay
  namespace: chaos-mesh
  annotations:
    chaos.alpha.kubernetes.io/experiment: "progressive-degradation"
spec:
  action: delay
  mode: all                    # Affect all backend pods
  duration: "300s"             # 5 minutes total observation
  selector:
    namespaces:
      - chaos-sandbox
    labelSelectors:
      app: backend-api
  delay:
    latency: "50ms"            # Start with small delay
    correlation: "100"         # Affect all traffic for consistency
    jitter: "10ms"             # Small jitter in intervals
  direction: both              # Affect both directions

  # For progressive testing, you'd run multiple experiments
  # with increasing latency values: 100ms -> 500ms -> 1000ms -> 3000ms
""")
WRITE_UP_BY_NAME = {document["metadata"]["name"]: document for document in WRITE_UP}
WRITE_UP_RAMP = ["50ms", "100ms", "500ms", "1000ms", "3000ms"]  # the first step, then the comment's ramp
SINGLE_OBJECTS = ["basic-pod-kill", "api-high-latency", "packet-loss-scenario", "database-partition"]


def _as_fenced(document: dict[str, Any]) -> dict[str, Any]:
    """The write-up's object with its one deliberate difference: it lives in the sandbox."""
    return {**document, "metadata": {**document["metadata"], "namespace": SANDBOX}}


@pytest.fixture(scope="module")
def manifests() -> dict[str, dict[str, Any]]:
    experiments, problems = parse_experiments(all_enabled(), FENCE)
    assert problems == []
    return {experiment.name: experiment.manifest() for experiment in experiments}


def test_the_write_up_names_are_in_the_catalog() -> None:
    assert set(WRITE_UP_BY_NAME) <= set(CATALOG)


@pytest.mark.parametrize("name", SINGLE_OBJECTS)
def test_single_objects_equal_the_write_up(name: str, manifests: dict[str, dict[str, Any]]) -> None:
    expected = _as_fenced(WRITE_UP_BY_NAME[name])
    manifest = manifests[name]
    assert manifest["apiVersion"] == expected["apiVersion"]
    assert manifest["kind"] == expected["kind"]
    assert manifest["spec"] == expected["spec"]
    # Our labels come on top of the write-up's metadata.
    assert {key: manifest["metadata"][key] for key in expected["metadata"]} == expected["metadata"]


def test_progressive_delay_is_one_workflow_running_the_write_up_ramp(manifests: dict[str, dict[str, Any]]) -> None:
    expected = _as_fenced(WRITE_UP_BY_NAME["progressive-delay"])
    manifest = manifests["progressive-delay"]
    assert manifest["kind"] == "Workflow"
    assert {key: manifest["metadata"][key] for key in expected["metadata"]} == expected["metadata"]
    templates = {template["name"]: template for template in manifest["spec"]["templates"]}
    ramp = templates[manifest["spec"]["entry"]]
    assert ramp["templateType"] == "Serial"

    delays = []
    for step_name in ramp["children"]:
        step = templates[step_name]
        assert step["templateType"] == "Parallel"
        chaos, probe = (templates[child] for child in step["children"])
        assert chaos["templateType"] == "NetworkChaos"
        delays.append(chaos)
        # The probe runs beside each step for as long as it lasts and aborts the ramp on failure.
        assert probe["templateType"] == "StatusCheck"
        assert probe["deadline"] == chaos["deadline"]
        assert probe["abortWithStatusCheck"] is True
        assert probe["statusCheck"]["mode"] == "Continuous"
        assert probe["statusCheck"]["failureThreshold"] == 3
        assert probe["statusCheck"]["http"]["url"] == PROBE_URL

    # Each step is the write-up's spec with the ramp's latency and no duration (its deadline bounds it).
    write_up_spec = {key: value for key, value in expected["spec"].items() if key != "duration"}
    assert [delay["networkChaos"]["delay"]["latency"] for delay in delays] == WRITE_UP_RAMP
    for delay, latency in zip(delays, WRITE_UP_RAMP, strict=True):
        assert delay["networkChaos"] == {**write_up_spec, "delay": {**write_up_spec["delay"], "latency": latency}}
    # The write-up's 300s split evenly over the 5 steps.
    assert [delay["deadline"] for delay in delays] == ["60s"] * 5


def test_catalog_parameters_match_the_write_up_field_by_field() -> None:
    assert CATALOG["basic-pod-kill"].parameters() == {
        "app": "backend-api",
        "mode": "one",
        "value": None,
        "duration": "60s",
        "action": "pod-kill",
        "containerNames": [],
        "allowSingleReplica": False,
    }
    assert CATALOG["api-high-latency"].parameters() == {
        "app": "frontend-app",
        "mode": "all",
        "value": None,
        "duration": "120s",
        "direction": "to",
        "targetApp": "backend-api",
        "targetMode": "all",
        "targetValue": None,
        "latency": "500ms",
        "jitter": "100ms",
        "correlation": "90",
    }
    assert CATALOG["packet-loss-scenario"].parameters() == {
        "app": "backend-api",
        "mode": "one",
        "value": None,
        "duration": "90s",
        "loss": "15",
        "correlation": "50",
        "direction": "both",
    }
    assert CATALOG["database-partition"].parameters() == {
        "app": "database",
        "mode": "all",
        "value": None,
        "duration": "120s",
        "direction": "both",
        "targetApp": "backend-api",
        "targetMode": "all",
        "targetValue": None,
    }
    assert CATALOG["progressive-delay"].parameters() == {
        "app": "backend-api",
        "mode": "all",
        "value": None,
        "steps": WRITE_UP_RAMP,
        "stepDuration": "60s",
        "jitter": "10ms",
        "correlation": "100",
        "direction": "both",
    }


def test_every_entry_says_what_it_simulates() -> None:
    for entry in CATALOG.values():
        assert entry.simulates.endswith(".") and len(entry.simulates) > 30
    assert CATALOG["packet-loss-scenario"].simulates == "Network reliability issues common in cloud environments."
