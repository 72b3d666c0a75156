r"""``dhag-pipeline alerts``' table fitted to the terminal it is shown in.

Written to a terminal (``out.isatty()``), the table takes no more columns than the terminal has
(:func:`shutil.get_terminal_size`: ``COLUMNS`` when set, else the terminal's own): the free-text
columns (the top sensors, the suspect sensor), the widest first, are cut short and end with ``...``
(three columns in any locale, where ``…``, of ambiguous East Asian Width, takes two in a CJK one),
never inside an escape (``\x1b``, as :func:`~pipeline.textwidth.escaped` and
:func:`dhag.infotext.shown_name` write one) nor inside a wide character; the other columns (ids,
asset, state, times, scores, model, label) are kept whole, and where they cannot share one line each
episode takes more, the next ones indented. Written elsewhere (a pipe, a file), the table is as wide
as its cells, as before, for scripts; ``--json`` is never fitted. In either, an asset id over
:data:`ASSET_COLUMNS`, an alert id over :data:`ALERT_ID_COLUMNS` and a model version over
:data:`MODEL_COLUMNS` are shortened in their middle (:func:`middle_clipped`): one such id would
otherwise widen every row.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Sequence
from typing import TextIO

from pipeline.textwidth import display_width, table_lines

__all__ = [
    "ALERT_ID_COLUMNS",
    "ASSET_COLUMNS",
    "MODEL_COLUMNS",
    "clipped",
    "fitted_lines",
    "middle_clipped",
    "terminal_width",
]

ELLIPSIS = "..."
GAP = "  "
INDENT = "    "
#: The most columns an asset id takes in the table (``--json`` gives it whole): a longer one is
#: shortened in its middle (:func:`middle_clipped`), in a terminal and in a pipe alike.
ASSET_COLUMNS = 40
#: The most columns an alert id takes: the daemon's own (20 hexadecimal digits) are never shortened; a
#: longer one, written to the topic by another client, is (``label`` given it so names the whole one).
ALERT_ID_COLUMNS = 24
#: The most columns a model version takes: default names (``v20261129T101500Z-42``) stay whole, a name
#: given by ``models train --version`` (up to 100 characters) is shortened.
MODEL_COLUMNS = 24
#: The narrowest a cut column gets (its header is never cut).
_NARROWEST = 10
#: One escape as Python writes it (``\x1b``, ``\u200b``, ``\U0001f600``, ``\n``, ``\\``), else one
#: character.
_UNIT = re.compile(r"\\(?:x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|.)|.", re.DOTALL)


def terminal_width(out: TextIO) -> int | None:
    """The columns of the terminal ``out`` is, or None when it is not one (a pipe, a file)."""
    try:
        if not out.isatty():
            return None
    except (OSError, ValueError):  # closed, or no file behind it
        return None
    return shutil.get_terminal_size().columns


def clipped(text: str, width: int, ambiguous: int = 1) -> str:
    r"""``text`` in at most ``width`` terminal columns (``ambiguous``: those a character of ambiguous East
    Asian Width takes, :func:`~pipeline.textwidth.ambiguous_width`): as it is when it fits, else cut
    short with ``...`` after whole escapes and characters (a combining accent kept with its letter).

    >>> clipped("flow_m3h", 8), clipped("flow_m3h,temp", 8), clipped("'a\\x1b[2J'", 7), clipped("山田太郎", 8)
    ('flow_m3h', 'flow_...', "'a...", '山田...')
    """
    if display_width(text, ambiguous) <= width:
        return text
    units = _units(text, ambiguous)
    kept, used = [], display_width(ELLIPSIS)
    for unit in units:
        used += display_width(unit, ambiguous)
        if used > width:
            break
        kept.append(unit)
    return "".join(kept) + ELLIPSIS


def middle_clipped(text: str, width: int, ambiguous: int = 1) -> str:
    r"""``text`` in at most ``width`` terminal columns: as it is when it fits, else its start and its end
    (the larger part: ids tend to differ there) around ``...``, of whole escapes and characters.

    >>> middle_clipped("pump-07", 12), middle_clipped("plant-north/hall-3/line-2/pump-07", 20)
    ('pump-07', 'plant-no...2/pump-07')
    """
    if display_width(text, ambiguous) <= width:
        return text
    units = _units(text, ambiguous)
    room = width - display_width(ELLIPSIS)
    head, used = 0, 0
    while head < len(units) and used + display_width(units[head], ambiguous) <= room // 2:
        used += display_width(units[head], ambiguous)
        head += 1
    tail = len(units)
    while tail > head and used + display_width(units[tail - 1], ambiguous) <= room:
        used += display_width(units[tail - 1], ambiguous)
        tail -= 1
    return "".join(units[:head]) + ELLIPSIS + "".join(units[tail:])


def _units(text: str, ambiguous: int) -> list[str]:
    """``text`` as the pieces a cut keeps or drops whole: escapes, characters with their combining marks."""
    units: list[str] = []
    for match in _UNIT.finditer(text):
        unit = match.group()
        if units and len(unit) == 1 and display_width(unit, ambiguous) == 0:
            units[-1] += unit  # a combining mark stays with what it marks
        else:
            units.append(unit)
    return units


def fitted_lines(
    rows: Sequence[Sequence[str]], width: int, cut: Sequence[int], ambiguous: int = 1
) -> list[str]:
    """The rows (the first the header) as :func:`~pipeline.textwidth.table_lines` writes them, in at most
    ``width`` columns where that can be done: the columns numbered in ``cut`` cut short (the widest
    first, to no less than their header or ten columns), and where the others do not fit one line,
    each row over several, the next ones indented, the cut columns last (``ambiguous``: the columns a
    character of ambiguous East Asian Width takes).

    >>> rows = [("ID", "TOP", "LABEL"), ("a1", "flow_m3h,temp_c,vib", "ok (lee)")]
    >>> print(*fitted_lines(rows, 30, [1]), sep="\\n")
    ID  TOP               LABEL
    a1  flow_m3h,temp...  ok (lee)
    >>> print(*fitted_lines(rows, 14, [1]), sep="\\n")
    ID  LABEL
        TOP
    a1  ok (lee)
        flow_m...
    """
    full = table_lines(rows, GAP, ambiguous)
    if max(display_width(line, ambiguous) for line in full) <= width:
        return full
    natural = [max(display_width(row[i], ambiguous) for row in rows) for i in range(len(rows[0]))]
    least = {i: min(natural[i], max(display_width(rows[0][i]), _NARROWEST)) for i in cut}
    whole = [i for i in range(len(natural)) if i not in least]
    if _span(natural, whole) + _span(least, list(least)) + len(GAP) * bool(whole and least) <= width:
        bands = [list(range(len(natural)))]  # one line: only the cut columns give way
    else:
        bands = _bands(natural, whole, width)
        if _span(natural, bands[-1]) + len(GAP) + _span(least, list(least)) + len(INDENT) > width:
            bands.append([])
        bands[-1] += list(least)
    widths = _shared(natural, least, bands[-1], width - (len(INDENT) if len(bands) > 1 else 0))
    shown = [
        [clipped(cell, widths[i], ambiguous) if i in least else cell for i, cell in enumerate(row)]
        for row in rows
    ]
    banded = [
        [
            (INDENT if k else "") + line
            for line in table_lines([[row[i] for i in band] for row in shown], GAP, ambiguous)
        ]
        for k, band in enumerate(bands)
    ]
    return [line for lines in zip(*banded, strict=True) for line in lines]


def _span(widths: Sequence[int] | dict[int, int], columns: Sequence[int]) -> int:
    """The columns the given columns take side by side."""
    return sum(widths[i] for i in columns) + len(GAP) * max(len(columns) - 1, 0)


def _bands(natural: Sequence[int], whole: Sequence[int], width: int) -> list[list[int]]:
    """The whole columns in order, as many on each line as fit (the second line on indented)."""
    bands: list[list[int]] = [[]]
    for i in whole:
        room = width - (len(INDENT) if len(bands) > 1 else 0)
        if bands[-1] and _span(natural, [*bands[-1], i]) > room:
            bands.append([])
        bands[-1].append(i)
    return bands


def _shared(natural: Sequence[int], least: dict[int, int], band: Sequence[int], room: int) -> dict[int, int]:
    """The widths of the cut columns on the line ``band``: the widest narrowed first until the line fits
    ``room`` columns or each is as narrow as it may be."""
    widths = dict(zip(band, (natural[i] for i in band), strict=True))
    while _span(widths, band) > room:
        widest = max((i for i in least if widths[i] > least[i]), key=lambda i: widths[i], default=None)
        if widest is None:
            break
        widths[widest] -= 1
    return widths
