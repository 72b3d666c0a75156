"""The CPUs a container may use, from its cgroup's CPU quota: torch sizes its thread pool by the
machine's cores, and a pod limited to two CPUs on a 64-core node would run 64 threads, throttled."""

from __future__ import annotations

import logging
import math
from pathlib import Path

__all__ = ["cpu_quota", "limit_torch_threads"]

log = logging.getLogger(__name__)


def cpu_quota(root: str | Path = "/sys/fs/cgroup") -> int | None:
    """The CPU limit of this process's cgroup, rounded up to whole CPUs; None when there is none (or
    no cgroup file says). Reads cgroup v2's ``cpu.max``, else v1's ``cpu/cpu.cfs_quota_us``.

    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> _ = (d / "cpu.max").write_text("150000 100000\\n")
    >>> cpu_quota(d), cpu_quota(d / "missing")
    (2, None)
    >>> _ = (d / "cpu.max").write_text("max 100000\\n")
    >>> cpu_quota(d) is None
    True
    """
    root = Path(root)
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
    except (OSError, ValueError):
        try:
            quota = (root / "cpu" / "cpu.cfs_quota_us").read_text().strip()
            period = (root / "cpu" / "cpu.cfs_period_us").read_text().strip()
        except OSError:
            return None
    try:
        q, p = int(quota), int(period)
    except ValueError:  # "max": no limit
        return None
    return max(1, math.ceil(q / p)) if q > 0 and p > 0 else None


def limit_torch_threads(what: str) -> None:
    """Cap torch's CPU threads at the cgroup's CPU limit, when that is lower than what torch took."""
    import torch

    quota, threads = cpu_quota(), torch.get_num_threads()
    if quota is not None and quota < threads:
        log.info("%s: %d CPU thread(s), the container's CPU limit (not %d)", what, quota, threads)
        torch.set_num_threads(quota)
