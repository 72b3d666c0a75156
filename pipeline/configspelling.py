"""The setting an unknown key most likely meant: one of its own section's keys spelt nearly alike, else
the same key in another section (``kafka.port`` for ``metrics.port``), a section and its key joined by
one underscore (``kafka_batch_size``), or a setting the key is a word of (``bootstrap`` for
``bootstrap_servers``), for the error that names it."""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Sequence
from types import UnionType
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel

__all__ = ["meant_keys"]

# Near enough to be a slip of the keyboard (a letter left out, two swapped), not merely alike.
_CUTOFF = 0.75
# More settings than this holding an unknown key's words: it says too little to name them.
_MAX_NAMED = 4


def meant_keys(model: type[BaseModel], key: Sequence[Any]) -> tuple[str, ...]:
    """The dotted settings ``key`` (an unknown key's path in ``model``) most likely meant: one, several
    when the key is a word of each (at most :data:`_MAX_NAMED`), or none.

    >>> from pipeline.config import Settings
    >>> meant_keys(Settings, ("kafka", "bootstrap_server")), meant_keys(Settings, ("kafka", "port"))
    (('kafka.bootstrap_servers',), ('metrics.port',))
    >>> meant_keys(Settings, ("kafka_batch_size",)), meant_keys(Settings, ("kafka", "bootstrap"))
    (('kafka.batch_size',), ('kafka.bootstrap_servers',))
    >>> meant_keys(Settings, ("alerts", "threshhold"))
    ()
    """
    *above, name = (str(part) for part in key)
    section = _section(model, above)
    if section is not None:
        close = difflib.get_close_matches(name, list(section.model_fields), n=1, cutoff=_CUTOFF)
        if close:
            return (".".join((*above, close[0])),)
        # A section and its key joined by one underscore, as in DHAG_PIPELINE_KAFKA_BATCH_SIZE.
        for inner, field in section.model_fields.items():
            sub = _unwrapped(field.annotation)
            rest = name[len(inner) + 1 :] if name.startswith(f"{inner}_") else ""
            if _is_section(sub) and rest in sub.model_fields:
                return (".".join((*above, inner, rest)),)
        # A word (or words) of a setting's name, the rest left off (bootstrap for bootstrap_servers), or
        # a setting's name with a word added (input_topic for input).
        words = name.split("_")
        holding = [
            inner
            for inner in section.model_fields
            if _holds_words(inner.split("_"), words) or _holds_words(words, inner.split("_"))
        ]
        if 0 < len(holding) <= _MAX_NAMED:
            return tuple(".".join((*above, inner)) for inner in holding)
    elsewhere = [path for path in _keys(model) if path[-1] == name and list(path[:-1]) != above]
    return (".".join(elsewhere[0]),) if len(elsewhere) == 1 else ()


def _holds_words(words: list[str], part: list[str]) -> bool:
    """Whether ``part`` is a run of whole ``words``, not all of them."""
    return len(part) < len(words) and any(
        words[start : start + len(part)] == part for start in range(len(words) - len(part) + 1)
    )


def _section(model: type[BaseModel], path: Sequence[str]) -> type[BaseModel] | None:
    section: Any = model
    for part in path:
        field = section.model_fields.get(part) if _is_section(section) else None
        if field is None:
            return None
        section = _unwrapped(field.annotation)
    return section if _is_section(section) else None


def _keys(model: type[BaseModel], above: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for name, field in model.model_fields.items():
        yield (*above, name)
        if _is_section(inner := _unwrapped(field.annotation)):
            yield from _keys(inner, (*above, name))


def _unwrapped(annotation: Any) -> Any:
    if get_origin(annotation) in (Union, UnionType):
        options = [a for a in get_args(annotation) if a is not type(None)]
        return options[0] if len(options) == 1 else annotation
    return annotation


def _is_section(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)
