"""How every ``dhag-pipeline bench`` command reports: the JSON summary on stdout, and in ``--json FILE``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["emit"]


def emit(result: dict[str, Any], out: Path | None) -> None:
    """Print ``result`` as indented JSON; also write it to ``out`` (creating its folder) when given.

    A ``meta`` block is added first when the result has none: the command, the machine (CPU model and
    the kernels torch picked: DHAG's numbers depend on them), the library versions and the date, as
    ``dhag bench`` records them.
    """
    from dhag.bench import run_meta

    if "meta" not in result:
        result = {"meta": run_meta(), **result}
    text = json.dumps(result, indent=2)
    sys.stdout.write(text + "\n")
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n")
