"""Every scratch folder of the Kubernetes pods (an ``emptyDir``, as ``/tmp`` under a read-only root) has a
size limit: one without filled the node's disk when something wrote to it without end (a core dump, a
library's cache), and the kubelet then evicted every pod of the node rather than the one that wrote."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import yaml
from deploy_support import DEPLOY


def _volumes() -> Iterator[tuple[str, dict[str, Any]]]:
    for path in sorted([*(DEPLOY / "k8s").glob("*.yaml"), *(DEPLOY / "k8s-gpu").glob("*.yaml")]):
        for doc in yaml.safe_load_all(path.read_text()):
            spec = (doc or {}).get("spec", {})
            pod = spec.get("template", {}).get("spec", spec.get("jobTemplate", {}).get("spec", {}))
            for volume in pod.get("volumes", []) if isinstance(pod, dict) else []:
                yield f"{path.name}: {doc['metadata']['name']}/{volume['name']}", volume


def test_every_scratch_folder_is_size_limited() -> None:
    scratch = [(where, v["emptyDir"]) for where, v in _volumes() if "emptyDir" in v]
    assert len(scratch) >= 3  # the daemons', the retrainer's and the toolbox's /tmp
    unlimited = [where for where, empty in scratch if not (empty or {}).get("sizeLimit")]
    assert not unlimited, f"emptyDir volumes without a sizeLimit: {unlimited}"
