"""How the options that name columns (``dhag train --id-columns``, ``--categorical``, ``--passthrough``,
``dhag score --id-columns``) read their value: names separated by commas, as a CSV line writes them.

A name is stripped of the spaces around it and an empty one is skipped (``"a, ,b"`` names ``a`` and
``b``), unless it is in double quotes: then it is taken as written between them, commas and spaces
included, with ``""`` standing for one ``"`` (``'"zone, site", flow'`` names ``zone, site`` and
``flow``). A name that begins with ``"`` is so written in quotes, its own quotes doubled; a ``"``
further on, in a name not in quotes, is taken as it is. A name given twice is refused. This module
imports nothing of the model (the suggestions of :mod:`dhag.infotext` use it).
"""

from __future__ import annotations

import argparse

__all__ = ["COLUMN_LIST_HELP", "COLUMN_LIST_OPTIONS", "column_list", "listed_name"]

#: The options whose value :func:`column_list` reads (each other option naming a column takes one name,
#: as it is: ``--label-column``).
COLUMN_LIST_OPTIONS = frozenset({"--id-columns", "--categorical", "--passthrough"})
#: How the help of such an option says what it takes.
COLUMN_LIST_HELP = (
    'separated by commas, a name holding a comma or a space at either end in double quotes: "a, b"'
)


def column_list(value: str) -> list[str]:
    """The names of a column option's ``value``: an :mod:`argparse` ``type``, refusing a quote that is
    not closed or is followed by more than spaces before the next comma, and a name given twice (an id
    column taken out of the rows twice would be missing the second time).

    >>> column_list("flow, site"), column_list(" a, ,b "), column_list('"zone, site", " x", say "hi"')
    (['flow', 'site'], ['a', 'b'], ['zone, site', ' x', 'say "hi"'])
    """
    names, at = [], 0
    while at <= len(value):
        comma = value.find(",", at)
        end = len(value) if comma < 0 else comma
        if not value[at:end].lstrip().startswith('"'):
            if value[at:end].strip():
                names.append(value[at:end].strip())
            at = end + 1
            continue
        name, at = _quoted(value, value.index('"', at))
        names.append(name)
    if twice := next((n for n in names if names.count(n) > 1), None):
        raise argparse.ArgumentTypeError(f"{twice!r} is named more than once; name each column once")
    return names


def _quoted(value: str, opening: int) -> tuple[str, int]:
    """The name in quotes that opens at ``opening`` of ``value``, and where the next name begins."""
    name, at = [], opening + 1
    while True:
        closing = value.find('"', at)
        if closing < 0:
            raise argparse.ArgumentTypeError(
                f"the quote opened at {value[opening:][:40]!r} is not closed (in a name in double quotes, "
                '"" stands for one ")'
            )
        name.append(value[at:closing])
        if value.startswith('"', closing + 1):  # "" inside the quotes: one " of the name
            name.append('"')
            at = closing + 2
            continue
        comma = value.find(",", closing + 1)
        end = len(value) if comma < 0 else comma
        if value[closing + 1 : end].strip():
            raise argparse.ArgumentTypeError(
                f"{value[closing + 1 : end].strip()[:40]!r} follows the closing quote of "
                f"{value[opening : closing + 1]!r}: names are separated by commas"
            )
        return "".join(name), end + 1


def listed_name(name: str) -> str:
    """``name`` as a column option writes it for :func:`column_list` to read it back, alone: as it is,
    or in double quotes where it holds a comma, begins or ends with a space, begins with a quote or is
    empty, or is ``--`` (which :mod:`argparse` drops, even as an option's value).

    >>> print(listed_name("flow"), listed_name("zone, site"), listed_name(" x"), listed_name('say "hi"'))
    flow "zone, site" " x" say "hi"
    """
    if name not in ("", "--") and "," not in name and name == name.strip() and not name.startswith('"'):
        return name
    return '"' + name.replace('"', '""') + '"'
