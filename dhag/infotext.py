"""How ``dhag info`` keeps its lines short: long lists named in part, large metadata by its size."""

from __future__ import annotations

import json
import shlex

from dhag.columnlist import COLUMN_LIST_OPTIONS, listed_name

__all__ = [
    "SHOWN",
    "column_kinds",
    "counted",
    "kept_weights",
    "listed_in_part",
    "shown_metadata",
    "bash_quoted",
    "shown_name",
    "suggested_option",
    "threshold_rule",
    "trained_rows",
]


SHOWN = 20  # features and ranges named on one line of `dhag info`
CATEGORIES_SHOWN = 10  # categories named per categorical feature


def counted(n: object, noun: str, plural: str | None = None) -> str:
    """``n`` and ``noun``, in the plural unless ``n`` is 1 (a count a record may lack shows as None).

    >>> counted(1, "epoch"), counted(3, "epoch"), counted(1, "known anomaly", "known anomalies")
    ('1 epoch', '3 epochs', '1 known anomaly')
    """
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


def shown_name(name: object) -> str:
    r"""A feature's name, or a category, as ``dhag info`` prints it: as it is when every character of it
    prints, else escaped as Python writes it, in quotes, so that a line break, a tab or a terminal's
    control sequence in a name neither breaks the line nor acts on the terminal.

    >>> shown_name("flow_m3h"), shown_name("débit"), shown_name("flow\nrate"), shown_name("temp\x1b[2J")
    ('flow_m3h', 'débit', "'flow\\nrate'", "'temp\\x1b[2J'")
    """
    text = str(name)
    return text if text.isprintable() else repr(text)


# What a shell takes as one word as it is, beside letters and digits of any script (shlex.quote's set).
_PLAIN = frozenset("_@%+=:,./-")


def suggested_option(option: str, name: object) -> str:
    r"""The option ``option`` naming the column ``name``, as a refusal or a warning suggests it (``dhag
    train --id-columns NAME``), to paste into bash or zsh: for an option that takes a list of columns,
    the name as the list writes it (:func:`dhag.columnlist.listed_name`: in double quotes where it holds
    a comma or a space at either end); then, a word of letters, digits and ``_@%+=:,./-`` as it is, one
    holding a space or a character the shell acts on quoted (:func:`shlex.quote`), one holding a
    character that does not print quoted as ``$'...'``, each such character escaped (:func:`bash_quoted`);
    one that begins with ``-`` joined to the option by ``=``, else it would be read as an option.

    >>> suggested_option("--id-columns", "flow_m3h"), suggested_option("--id-columns", "my zone")
    ('--id-columns flow_m3h', "--id-columns 'my zone'")
    >>> suggested_option("--categorical", "débit"), suggested_option("--id-columns", "-x")
    ('--categorical débit', '--id-columns=-x')
    >>> print(suggested_option("--categorical", "zone, site"), suggested_option("--label-column", "a, b"))
    --categorical '"zone, site"' --label-column 'a, b'
    >>> print(suggested_option("--id-columns", "flow\nrate"))
    --id-columns $'flow\nrate'

    A list of names, for an option that takes one, is written as the list: ``--categorical zone,site``.
    """
    if isinstance(name, list) and option in COLUMN_LIST_OPTIONS:
        word = ",".join(listed_name(str(n)) for n in name)
    else:
        word = listed_name(str(name)) if option in COLUMN_LIST_OPTIONS else str(name)
    if not word.isprintable():
        quoted = bash_quoted(word)
    elif word and all(c.isalnum() or c in _PLAIN for c in word):
        quoted = word
    else:
        quoted = shlex.quote(word)
    return f"{option}={quoted}" if word.startswith("-") else f"{option} {quoted}"


def bash_quoted(word: str) -> str:
    r"""``word`` in bash's (and zsh's) ``$'...'`` quotes, each character that does not print escaped
    (``\n``, ``\t``, ``\r``, ``\xHH`` below 128, else ``\uHHHH`` or ``\UHHHHHHHH``, which those
    shells write in UTF-8 in a UTF-8 locale), and ``\`` and ``'`` too: a shell gives the word back,
    and the line stays one line that does not act on the terminal.

    >>> print(bash_quoted("flow\nrate\x1b[2J"), bash_quoted("it's\u200b"))
    $'flow\nrate\x1b[2J' $'it\'s\u200b'
    """
    return "$'" + "".join(map(_bash_escaped, word)) + "'"


def _bash_escaped(char: str) -> str:
    if char in "\\'":
        return "\\" + char
    if char.isprintable():
        return char
    short = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}.get(char)
    code = ord(char)
    # \xHH is a byte: above 127 it would be half of a UTF-8 character, \u names the character.
    return short or (
        f"\\x{code:02x}" if code < 0x80 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
    )


def listed_in_part(items: list[str]) -> str:
    """The first items, and how many more there are."""
    more = f" and {len(items) - SHOWN} more" if len(items) > SHOWN else ""
    return ", ".join(items[:SHOWN]) + more


def column_kinds(preprocessing: dict) -> list[str]:
    """The lines of ``dhag info`` naming the features a model does not z-score: its categorical ones,
    each with the categories it knows (a value outside them scores as in none), and the passed-through
    ones; none for a model of numbers alone. The categorical ones come in the order of the features.

    >>> column_kinds({"categories": {"site": ["north", "south"]}, "passthrough": ["valve"]})
    ['categorical (1): site (2 categories: north, south)', 'passthrough (1, unscaled): valve']
    >>> column_kinds({"feature_names": ["zone", "area"], "categories": {"area": ["a"], "zone": ["n"]}})
    ['categorical (2): zone (1 category: n); area (1 category: a)']

    Names and categories are shown by :func:`shown_name`.
    """
    lines = []
    categories = preprocessing.get("categories") or {}
    # In the features' order, as dhag info's features line names them (the manifest keeps them by name).
    order = {name: i for i, name in enumerate(preprocessing.get("feature_names") or [])}
    categories = dict(sorted(categories.items(), key=lambda item: order.get(item[0], len(order))))
    if categories:
        described = []
        for name, known in list(categories.items())[:SHOWN]:
            more = f" and {len(known) - CATEGORIES_SHOWN} more" if len(known) > CATEGORIES_SHOWN else ""
            kind = "category" if len(known) == 1 else "categories"
            shown = ", ".join(map(shown_name, known[:CATEGORIES_SHOWN]))
            described.append(f"{shown_name(name)} ({len(known)} {kind}: {shown}{more})")
        more = f"; and {len(categories) - SHOWN} more" if len(categories) > SHOWN else ""
        lines.append(f"categorical ({len(categories)}): {'; '.join(described)}{more}")
    passthrough = [shown_name(name) for name in preprocessing.get("passthrough") or []]
    if passthrough:
        lines.append(f"passthrough ({len(passthrough)}, unscaled): {listed_in_part(passthrough)}")
    return lines


def shown_metadata(metadata: object, limit: int = 200) -> object:
    """``metadata`` with each value whose JSON passes ``limit`` characters (a plant model's references,
    one per asset) shown by its size: ``dhag info --json`` shows it whole.

    >>> shown_metadata({"source": "rows.csv", "refs": {"p1": list(range(90))}})
    {'source': 'rows.csv', 'refs': '<an object of 1 key, 358 characters: dhag info --json shows it>'}
    """

    def shown(value: object) -> object:
        text = json.dumps(value)
        if len(text) <= limit:
            return value
        many = len(value) if isinstance(value, (dict, list)) else None
        kind = {dict: "an object of {} key", list: "a list of {} item"}.get(type(value), "a value")
        what = kind.format(many) + ("s" if many is not None and many != 1 else "")
        return f"<{what}, {len(text):,} characters: dhag info --json shows it>"

    return {k: shown(v) for k, v in metadata.items()} if isinstance(metadata, dict) else shown(metadata)


def trained_rows(training: dict) -> str:
    """The rows a model trained on: normal ones and known anomalies, and the normal rows held out of
    training (counted apart: they were never trained on), to calibrate its threshold unless the
    threshold came from every normal row's scores (``contamination``)."""
    known = counted(training.get("n_known_anomalies"), "known anomaly", "known anomalies")
    text = f"{counted(training.get('n_train'), 'normal row')} and {known}"
    held_out = training.get("n_validation")
    calibration = training.get("calibration")
    by_share = isinstance(calibration, dict) and calibration.get("source") == "training"
    purpose = "of training" if by_share else "for the threshold"
    return text + (f" ({counted(held_out, 'normal row')} held out {purpose})" if held_out else "")


def kept_weights(training: dict) -> str:
    """Which weights a model kept: an epoch's, the mean over the last epochs (weight averaging), or
    several epochs' states scored by their mean (a snapshot ensemble)."""
    averaged, last = training.get("averaged_epochs", 0), training.get("epochs_run")
    if training.get("snapshot_epochs"):
        return f"the mean score of the states after epochs {', '.join(map(str, training['snapshot_epochs']))}"
    if averaged:
        return f"weights averaged over epochs {last - averaged + 1}-{last}"
    return f"kept epoch {training.get('best_epoch')}"


def threshold_rule(settings: dict, calibration: object = None) -> str:
    """How a model's settings set its threshold, in words, and on which rows where ``calibration`` (the
    training record's) says no normal rows were held out for it.

    >>> threshold_rule({"target_far": None, "contamination": 0.05, "min_threshold": 0.5})
    'contamination 0.05: the share of the training rows flagged; at least min_threshold 0.5'
    >>> threshold_rule({"target_far": 0.02}, {"source": "training", "rows": 3})
    'target_far 0.02: the false-alarm rate on the 3 rows the network trained on, none held out'
    """
    if settings.get("contamination") is not None:
        rule = f"contamination {settings['contamination']}: the share of the training rows flagged"
    else:
        far = 0.01 if settings.get("target_far") is None else settings["target_far"]
        rows = "held-out normal rows"
        if isinstance(calibration, dict) and calibration.get("source") == "training":
            count = calibration.get("rows")
            counted_rows = f"{count:,} rows" if isinstance(count, int) else "rows"
            rows = f"the {counted_rows} the network trained on, none held out"
        rule = f"target_far {far}: the false-alarm rate on {rows}"
    floor = settings.get("min_threshold")
    return rule if floor is None else f"{rule}; at least min_threshold {floor}"
