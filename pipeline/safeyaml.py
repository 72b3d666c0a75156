"""YAML from outside the process (a config file, an environment override), read by PyYAML's safe loader
with the refusals it lacks: a key given twice in one mapping (it keeps the last one silently), any
alias, a merge key (``<<``, which its own refusal called no YAML, naming no key), an anchor on a single
value, a tag it has no constructor for, nesting deeper than any setting, a plain number with a leading 0
(YAML 1.1 reads ``0500`` as octal 320, ``09108`` as text), one in base 16 or 2 (``0x1F90``, which it
reads as 8080; ``0b101``), and one with colons that YAML 1.1 reads in base 60 (``5:00`` as 300, ``1:30``
as 90).

Aliases: ``&a [x, x]`` then ``&b [*a, *a]`` and so on doubles (or worse) at each level; a few hundred
bytes of text become billions of values as soon as anything walks them (a validation error quoting the
value, a dump). Every setting is a single value in a fixed tree of sections, so an alias can only save
writing a value twice: the loader refuses the first alias while composing, before anything is expanded,
rather than guess at a limit. An anchor alone (``&m``) on a section or a list repeats nothing and is
accepted; on a single value it is refused: there it is most likely text that starts with ``&`` written
unquoted (a password), of which YAML would keep only what follows the first word. A tag the safe
loader cannot construct (``!Xy9``: text that starts with ``!``) is refused here too, naming the key, so
that the refusal does not quote a password; and so is text that one of YAML's own tags cannot read
(``!!int lots``), whose constructor's error quoted it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Sequence
from typing import Any, TypeVar

import yaml

__all__ = ["MAX_DEPTH", "RefusedYAMLError", "dotted", "key_lines", "plain_refused", "read_yaml"]

# The settings are at most three sections deep; anything far deeper is no config, and PyYAML's composer
# recurses once per level, so thousands of levels end in a RecursionError instead of an error message.
MAX_DEPTH = 32
_T = TypeVar("_T")
_YAML_TAG_PREFIX = "tag:yaml.org,2002:"  # what "!!" stands for


class RefusedYAMLError(yaml.MarkedYAMLError):
    """Valid YAML that a settings source may not use: an alias, an anchor on a single value, a tag with
    no safe constructor, or nesting beyond :data:`MAX_DEPTH`; ``key`` is where in the document, e.g.
    ``("kafka", "group_id")`` (empty: the document itself); ``quoted`` the text of the document the
    problem quotes (``*name``, ``&name``, the tag), for a caller to hide when it is a password's."""

    def __init__(
        self, problem: str, problem_mark: yaml.Mark, key: tuple[str, ...] = (), quoted: str = ""
    ) -> None:
        super().__init__(problem=problem, problem_mark=problem_mark)
        self.key, self.quoted = key, quoted

    def shown(self, at: Sequence[str] = ()) -> str:
        """The problem, the text it quotes hidden under a password's key (``at``: the keys above the
        document, for an environment variable's value)."""
        if self.quoted and any("password" in part for part in (*at, *self.key)):
            return self.problem.replace(self.quoted, "(hidden)")
        return self.problem


def dotted(key: tuple[str, ...], *, limit: int = 6) -> str:
    """``key`` as a settings path: ``kafka.group_id``, a list item as ``[2]``; beyond ``limit`` parts cut.

    >>> dotted(("kafka", "topics", "[0]")), dotted(tuple("abcdefgh"), limit=3)
    ('kafka.topics[0]', 'a.b.c...')
    """
    text = ""
    for part in key[:limit]:
        text += part if part.startswith("[") or not text else f".{part}"
    return text + ("..." if len(key) > limit else "")


class _SettingsLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing duplicate keys, aliases, anchors on values, unknown tags and deep
    nesting."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._key: list[str] = []  # the mapping keys (and list positions) down to the node composed
        self._keys: dict[int, tuple[str, ...]] = {}  # each composed node's key, by id(node)
        self.lines: dict[tuple[str, ...], int] = {}  # the line (from 1) each key is written on

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        # A mapping's value comes with its key's node as ``index``, a list item with its position; a
        # mapping's key itself with None.
        part = index.value if isinstance(index, yaml.ScalarNode) else None
        part = f"[{index}]" if isinstance(index, int) and not isinstance(index, bool) else part
        if part is not None:
            self._key.append(str(part))
            mark = index.start_mark if isinstance(index, yaml.Node) else self.peek_event().start_mark
            self.lines.setdefault(tuple(self._key), mark.line + 1)
        try:
            if self.check_event(yaml.AliasEvent):
                event = self.peek_event()
                raise RefusedYAMLError(
                    f"alias *{event.anchor}: settings take no YAML aliases (each could expand without "
                    "bound); write the value out, or quote it if its text starts with '*'",
                    event.start_mark,
                    tuple(self._key),
                    f"*{event.anchor}",
                )
            if self.check_event(yaml.ScalarEvent) and (event := self.peek_event()).anchor is not None:
                # Unquoted text that starts with "&" (a password) loses that word to the anchor, silently.
                raise RefusedYAMLError(
                    f"&{event.anchor} before the value is a YAML anchor, which no setting uses; quote the "
                    "value if its text starts with '&'",
                    event.start_mark,
                    tuple(self._key),
                    f"&{event.anchor}",
                )
            plain = self.check_event(yaml.ScalarEvent) and self.peek_event().implicit[0]  # no tag, no quotes
            if plain and (problem := self._misread_number((event := self.peek_event()).value)):
                raise RefusedYAMLError(problem, event.start_mark, tuple(self._key), event.value)
            if self.check_event(yaml.ScalarEvent, yaml.CollectionStartEvent):
                event = self.peek_event()
                if event.tag not in (None, "!") and event.tag not in self.yaml_constructors:
                    # Unquoted text that starts with "!" (a password) is a tag: the safe loader's own
                    # refusal quotes it and names no key.
                    raise RefusedYAMLError(
                        f"tag {event.tag}: no setting takes a YAML tag; quote the value if its text "
                        "starts with '!'",
                        event.start_mark,
                        tuple(self._key),
                        event.tag,
                    )
            if self._depth >= MAX_DEPTH:
                raise RefusedYAMLError(
                    f"values nest deeper than {MAX_DEPTH} levels; no setting does",
                    self.peek_event().start_mark,
                    tuple(self._key),
                )
            self._depth += 1
            try:
                node = super().compose_node(parent, index)
            finally:
                self._depth -= 1
            self._keys[id(node)] = tuple(self._key)  # the nodes live until the document is constructed
            return node
        finally:
            if part is not None:
                self._key.pop()

    def _misread_number(self, text: str) -> str | None:
        """Why plain ``text`` is refused as a number YAML 1.1 reads otherwise than a setting means it:
        with a leading 0, in base 16 or 2 (``0x10``), or in base 60 (``5:00``)."""
        if (problem := _leading_zero(text)) is not None:
            return problem
        tag = self.resolve(yaml.ScalarNode, text, (True, False))
        if tag == f"{_YAML_TAG_PREFIX}int" and (problem := _other_base(text, self._key)) is not None:
            return problem
        if ":" in text and tag in (f"{_YAML_TAG_PREFIX}int", f"{_YAML_TAG_PREFIX}float"):
            # Never the number's value: under a password's key, only the text quoted is hidden.
            return (
                f"{text} is a number in base 60 to YAML (1:30 is 90), not a time: write the number in the "
                "key's unit (seconds for _s, milliseconds for _ms), or quote it for the text"
            )
        return None

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except yaml.YAMLError:
            raise
        except Exception:  # noqa: BLE001 - a tag's constructor refusing its text, in its own way
            # YAML's own tags (!!int, !!timestamp, ...) raise ValueError, KeyError or AttributeError on
            # text they cannot read, quoting it: a traceback that printed a password. Name the key and
            # the tag, never the text.
            tag = node.tag.replace(_YAML_TAG_PREFIX, "!!")  # one the composer let through: YAML's own
            raise RefusedYAMLError(
                f"tag {tag}: the value is not one it can read; quote the value to take its text as written",
                node.start_mark,
                self._keys.get(id(node), ()),
            ) from None

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, yaml.Mark] = {}
        for key_node, _ in node.value if isinstance(node, yaml.MappingNode) else ():  # !!map on text
            if key_node.tag == f"{_YAML_TAG_PREFIX}merge":  # PyYAML's refusal: no constructor, no key
                raise RefusedYAMLError(
                    "<< is a YAML merge key, which no setting takes: write the keys out",
                    key_node.start_mark,
                    (*self._keys.get(id(node), ()), "<<"),
                )
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, Hashable):  # what the safe loader itself says of such a key
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    "found unhashable key",
                    key_node.start_mark,
                )
            if key in seen:
                where = dotted((*self._keys.get(id(node), ()), str(key)))
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"key {where} at line {key_node.start_mark.line + 1} was already given at line "
                    f"{seen[key].line + 1}; YAML would keep only the last, silently: remove one",
                    key_node.start_mark,
                )
            seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


def _leading_zero(text: str) -> str | None:
    """Why plain ``text`` such as ``0500`` is refused: YAML 1.1 reads it as an octal number (320), or,
    with an 8 or a 9 in it, as text, where a setting means the decimal number (or text, quoted)."""
    if not re.fullmatch(r"[-+]?0[0-9_]+", text):
        return None
    # Never the octal number's value: under a password's key, only the text quoted is hidden.
    how = "as an octal number" if re.fullmatch(r"[-+]?[0-7_]+", text) else "as text"
    return (
        f"{text} has a leading 0, which YAML reads {how}: write it without the leading 0 for the number, "
        "or quote it for the text"
    )


_OTHER_BASES = {"x": "hexadecimal", "b": "binary"}


def _other_base(text: str, key: Sequence[str]) -> str | None:
    """Why ``text`` that YAML 1.1 reads as an integer is refused when written in base 16 or 2 (``0x1F90``
    is 8080 to it, ``0b101`` 5): no setting is a bit pattern, so such a spelling is a mistake (a port
    copied from a hex dump), never what a setting means. The number's value is said, unless under a
    password's ``key`` (where only the text written is hidden)."""
    if (spelt := re.fullmatch(r"([-+]?)0([xb])([0-9a-fA-F_]+)", text)) is None:
        return None
    if any("password" in part for part in key):
        write = "it in decimal digits"
    else:
        digits = spelt[3].replace("_", "")
        write = str(int(f"{spelt[1]}{digits}", 16 if spelt[2] == "x" else 2))
    base = _OTHER_BASES[spelt[2]]
    return (
        f"{text} is a {base} number to YAML (no setting is written in {base}): write {write} for the "
        "number, or quote it for the text"
    )


def plain_refused(text: str) -> bool:
    """Whether :func:`read_yaml` refuses ``text`` written unquoted where YAML itself reads it as text
    (``09108``, a leading 0), so that a writer of settings quotes it; YAML's writer quotes only text it
    would read otherwise (``0500``, ``0x10``, ``5:00``: numbers to it).

    >>> plain_refused("09108"), plain_refused("0500"), plain_refused("dhag-0")
    (True, True, False)
    """
    return _leading_zero(text) is not None


def read_yaml(text: str) -> Any:
    """The YAML document in ``text``, as ``yaml.safe_load`` reads it, but refusing duplicate keys
    (``ConstructorError``), aliases and nesting beyond :data:`MAX_DEPTH` (:class:`RefusedYAMLError`).

    >>> read_yaml("kafka: {batch_size: 5}\\nmetrics: &m {port: 0}")
    {'kafka': {'batch_size': 5}, 'metrics': {'port': 0}}
    >>> read_yaml("kafka: {batch_size: 5}\\nkafka: {group_id: g}")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    yaml.constructor.ConstructorError: key kafka at line 2 was already given at line 1; ...
    >>> read_yaml("a: &x [1, 2]\\nb: [*x, *x]")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    pipeline.safeyaml.RefusedYAMLError: alias *x: settings take no YAML aliases...
    """
    return _tabs_spaced(text, lambda spaced: yaml.load(spaced, Loader=_SettingsLoader))  # noqa: S506


def key_lines(text: str) -> dict[tuple[str, ...], int]:
    """The line (from 1) of each key of the YAML document in ``text``, by its path (list items as
    ``[2]``); composed only, nothing constructed: for a document :func:`read_yaml` took.

    >>> key_lines("kafka:\\n  topics:\\n    input: a\\n")[("kafka", "topics", "input")]
    3
    """

    def lines(spaced: str) -> dict[tuple[str, ...], int]:
        loader = _SettingsLoader(spaced)
        try:
            loader.get_single_node()
            return loader.lines
        finally:
            loader.dispose()

    return _tabs_spaced(text, lines)


# Tabs taken as white space in one document at most: each is found by reading it again.
_MAX_TABS = 1000


def _tabs_spaced(text: str, read: Callable[[str], _T]) -> _T:
    """``read(text)``, each tab that YAML takes as white space between tokens but PyYAML's scanner
    refuses ("found character '\\t' that cannot start any token") read as a space: one after a key's
    colon or a list item's dash, or after the last token of a line (before a comment, or none). A tab
    in the indentation, or between words of an unquoted value (part of the value to YAML), is refused
    as before; one inside a quoted or block value is never where the scanner looks for a token.

    >>> read_yaml("kafka:\\t\\n  group_id:\\tg\\t# the daemons'\\n")
    {'kafka': {'group_id': 'g'}}
    """
    for _ in range(_MAX_TABS):
        try:
            return read(text)
        except yaml.scanner.ScannerError as exc:
            at = _separating_tab(exc, text)
            if at is None:
                raise
            text = f"{text[:at]} {text[at + 1 :]}"  # one character for one: marks and lines stay
    return read(text)


def _separating_tab(exc: yaml.scanner.ScannerError, text: str) -> int | None:
    """The index in ``text`` of the tab ``exc`` refused, where YAML takes it as white space; else None."""
    mark = exc.problem_mark
    at = mark.index if mark is not None else -1
    if "'\\t'" not in (exc.problem or "") or not 0 <= at < len(text) or text[at] != "\t":
        return None
    before = text[text.rfind("\n", 0, at) + 1 : at].rstrip(" \t")
    rest = text[at:].split("\n", 1)[0].strip(" \t\r")
    if not before:  # the indentation
        return None
    if not rest or rest.startswith("#") or before.endswith(":") or not before.strip("-? \t"):
        return at
    return None
