"""The list ``dhag-pipeline alerts`` writes (:mod:`pipeline.alertscmd`): a table of the episodes, fitted
to a terminal (:mod:`pipeline.alertsfit`), or one JSON object a line."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TextIO

from pipeline.alertepisodes import COLUMNS, Episode
from pipeline.alertsfit import (
    ALERT_ID_COLUMNS,
    ASSET_COLUMNS,
    MODEL_COLUMNS,
    fitted_lines,
    middle_clipped,
    terminal_width,
)
from pipeline.textwidth import ambiguous_width, table_lines

__all__ = ["write_list"]

_CUT = (COLUMNS.index("TOP SENSORS"), COLUMNS.index("SUSPECT"))  # cut short to fit a terminal
#: The columns shortened in their middle when long, with the most columns each takes.
_SHORTENED = {
    COLUMNS.index("ALERT_ID"): ALERT_ID_COLUMNS,
    COLUMNS.index("ASSET"): ASSET_COLUMNS,
    COLUMNS.index("MODEL"): MODEL_COLUMNS,
}


def write_list(out: TextIO, chosen: list[Episode], *, as_json: bool) -> None:
    """The episodes listed, as a table (by terminal columns: wide scripts too; fitted to a terminal:
    :mod:`pipeline.alertsfit`) or one JSON object a line, flushed: a write the system refuses is found
    here, not at the interpreter's exit."""
    if as_json:
        lines: Iterable[str] = (json.dumps(episode.as_dict()) for episode in chosen)
    elif not chosen:
        lines = ["no alerts"]
    else:
        wide = ambiguous_width()
        rows = [COLUMNS, *(_shortened(e.row(), wide) for e in chosen)]
        width = terminal_width(out)
        lines = table_lines(rows, ambiguous=wide) if width is None else fitted_lines(rows, width, _CUT, wide)
    out.writelines(line + "\n" for line in lines)
    out.flush()


def _shortened(row: tuple[str, ...], ambiguous: int) -> tuple[str, ...]:
    """A table row with its alert id, asset id and model version shortened in their middle
    (:data:`_SHORTENED`)."""
    return tuple(
        middle_clipped(cell, _SHORTENED[i], ambiguous) if i in _SHORTENED else cell
        for i, cell in enumerate(row)
    )
