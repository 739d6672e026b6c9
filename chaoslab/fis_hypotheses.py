"""The steady-state hypotheses of the FIS entries, as data in the shape of `chaoslab.hypotheses`.

`run` judges a FIS entry by `FIS_HYPOTHESES[name]`, as it judges a Chaos Mesh entry by `HYPOTHESES[name]`
(a Chaos Mesh entry run through FIS keeps its own hypothesis: the fault is the same). Each states what
should happen and, honestly, what the lab's one Redis does to it: it is the write-up's deliberate single
point of failure (one replica, no persistence), so an infrastructure fault that lands on its node takes
every request down to a quick 503 until Redis runs again, and its counter restarts from zero. A run
that deviates for that reason has found the single point of failure, which is the finding.

Timings the texts rely on: Kubernetes marks a silent node NotReady after `node-monitor-grace-period`
(40 s by default) and evicts its pods after the `not-ready`/`unreachable` tolerations (300 s by default)
(https://kubernetes.io/docs/concepts/scheduling-eviction/taint-and-toleration/#taint-based-evictions).
EKS managed node groups drain a spot node when it gets its rebalance recommendation or interruption
notice (https://docs.aws.amazon.com/eks/latest/userguide/managed-node-groups.html, Spot capacity).
"""

from __future__ import annotations

from collections.abc import Mapping

from .hypotheses import SUCCESS_TARGET_PERCENT, Hypothesis, NoErrorsOfKind, SuccessRateAtLeast
from .samples import ErrorKind

FIS_HYPOTHESES: Mapping[str, Hypothesis] = {
    # A drain, not a crash: pods are evicted one by one (the backend's PodDisruptionBudget holds one back)
    # and start elsewhere before the instance goes, and nginx retries a request on another backend pod.
    "spot-interruption": Hypothesis(
        "A reclaimed spot node is drained within its two minutes' notice: its pods start on the other nodes and "
        "the frontend keeps serving, losing at most one request in a hundred and none to a hang. If Redis was on "
        "that node, requests get a quick 503 while it restarts elsewhere, with its counter back at zero.",
        (SuccessRateAtLeast(SUCCESS_TARGET_PERCENT), NoErrorsOfKind(ErrorKind.TIMEOUT)),
    ),
    # A crash, not a drain: the node's pods stay in their Services until the node is marked NotReady.
    "node-group-loss": Hypothesis(
        "Losing a node without warning costs no answer an error: nginx retries a backend request that meets a "
        "dead backend pod on a surviving one, and the node group launches a replacement. A frontend pod on the "
        "lost node takes requests that time out until Kubernetes marks the node NotReady (about 40 s). If Redis "
        "was on that node, every request is a quick 503 until its pod is evicted and rescheduled (about 5 min), "
        "and its counter restarts from zero.",
        (NoErrorsOfKind(ErrorKind.HTTP_5XX),),
    ),
    # The zone's nodes are cut off, not gone: they come back with their pods when the network ACL is restored.
    "zone-outage": Hypothesis(
        "With one zone cut off, the replicas spread to the other zone keep answering: nginx retries a backend "
        "request that cannot reach the cut-off zone on a pod in the other, so no answer is an error, and a "
        "frontend pod in the cut-off zone times out until it leaves its Service (about 40 s). Redis lives in "
        "one zone: if it is the cut-off one, every request is a quick 503 for the whole outage (shorter than "
        "the 5 min eviction wait), and Redis comes back with the zone, its counter intact.",
        (NoErrorsOfKind(ErrorKind.HTTP_5XX),),
    ),
}
