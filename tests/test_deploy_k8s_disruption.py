"""deploy/k8s: what a voluntary disruption (a node drain, a cluster upgrade) may take of the daemons."""

from __future__ import annotations

from typing import Any

import yaml
from deploy_support import DEPLOY


def _daemons() -> tuple[dict[str, Any], dict[str, Any]]:
    docs = [doc for doc in yaml.safe_load_all((DEPLOY / "k8s" / "deployment.yaml").read_text()) if doc]
    (deployment,) = [doc for doc in docs if doc["kind"] == "Deployment"]
    (budget,) = [doc for doc in docs if doc["kind"] == "PodDisruptionBudget"]
    return deployment, budget


def test_the_disruption_budget_keeps_daemons_scoring_and_lets_unready_ones_be_evicted() -> None:
    deployment, budget = _daemons()
    pods = deployment["spec"]["template"]["metadata"]["labels"]
    selector = budget["spec"]["selector"]["matchLabels"]
    assert selector.items() <= pods.items() and selector == deployment["spec"]["selector"]["matchLabels"]
    # A drain takes one replica at a time, never every one.
    assert 0 < budget["spec"]["maxUnavailable"] < deployment["spec"]["replicas"]
    # A daemon that is not ready (crash-looping, or every one while Kafka is away: /ready fails) scores
    # nothing, so evicting it costs nothing; under the default policy it counts against the budget and
    # a drain waits on it for good.
    assert budget["spec"].get("unhealthyPodEvictionPolicy") == "AlwaysAllow"


def test_the_daemons_are_spread_over_nodes_where_there_are_several() -> None:
    deployment, _ = _daemons()
    pod = deployment["spec"]["template"]
    (spread,) = pod["spec"]["topologySpreadConstraints"]
    # One node lost must not take every replica with it; a cluster of one node still runs them all.
    assert spread["topologyKey"] == "kubernetes.io/hostname" and spread["maxSkew"] == 1
    assert spread["whenUnsatisfiable"] == "ScheduleAnyway"
    assert spread["labelSelector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
    # Only the pods of one revision count: a rollout's surge pod is placed as if the old ones were gone.
    assert spread["matchLabelKeys"] == ["pod-template-hash"]
