"""Stopping a child process: SIGTERM, a grace period, then SIGKILL."""

from __future__ import annotations

import subprocess

__all__ = ["stop_process"]


def stop_process(proc: subprocess.Popen, grace_s: float, *, kill_wait_s: float = 10.0) -> None:
    """SIGTERM ``proc`` (unless it has exited), wait ``grace_s``, then SIGKILL it if it lingers."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(kill_wait_s)
