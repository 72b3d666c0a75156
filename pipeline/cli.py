"""The ``dhag-pipeline`` command. The service is not built yet, so every invocation says so."""

from __future__ import annotations

import sys

__all__ = ["main"]

NOT_BUILT = 2


def main() -> int:
    """Tell the user the streaming service does not exist yet; return exit code 2."""
    sys.stderr.write(
        "dhag-pipeline: the streaming service is not built yet; it arrives with the pipeline issue.\n"
        "The detector library is usable now: see 'dhag --help'.\n"
    )
    return NOT_BUILT
