"""Where the settings come from, before validation: the YAML file, read so that a key given twice is an
error rather than a silent overwrite, and environment overrides (``DHAG_PIPELINE_`` then the keys
joined by ``__``, each value read as a YAML scalar unless the setting is text) laid over it by
:func:`pipeline.config.load_settings`. The one-line errors that name the key at fault come
from :mod:`pipeline.configerrors`."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, SecretStr

from pipeline.configfiles import config_bytes
from pipeline.configlines import not_utf8, yaml_fault
from pipeline.configvalues import shown
from pipeline.errors import ConfigError
from pipeline.safeyaml import RefusedYAMLError, dotted, read_yaml

__all__ = [
    "DEFAULT_CONFIG",
    "ENV_PREFIX",
    "child_environment",
    "SECRET_LIKE",
    "config_file",
    "no_file_note",
    "env_file_quoted",
    "env_overrides",
    "env_source",
    "merge",
    "merge_overrides",
    "read_yaml",
    "text_setting",
]

ENV_PREFIX = "DHAG_PIPELINE_"
DEFAULT_CONFIG = "config.yaml"


def config_file(config: str | None) -> str | None:
    """The config file a command reads: ``config`` (its ``--config``), else ``./config.yaml`` when there
    is one, else None (the built-in defaults). A ``config.yaml`` here that is no file (a folder, a link
    to nothing) is named, for :func:`read_config_file` to refuse: passed over, the defaults would run.
    A leading ``~`` is the home folder, as the shell takes it at a word's start but not after ``--config=``.
    """
    return (
        os.path.expanduser(config)
        if config is not None
        else (DEFAULT_CONFIG if os.path.lexists(DEFAULT_CONFIG) else None)
    )


def no_file_note(config: str | None) -> str | None:
    """What ``check-config`` warns of when no config file was read (``config``: :func:`config_file`'s
    answer, None): without it, the built-in defaults it prints and passes read as the operator's own
    settings checked (a run from the wrong folder, a file named otherwise)."""
    if config is not None:
        return None
    try:
        here = repr(os.getcwd())
    except OSError:  # the working directory was removed
        here = "the working directory"
    return (
        f"no config file was read (no --config, and no {DEFAULT_CONFIG} in {here}): these are the built-in "
        f"defaults and the {ENV_PREFIX}* variables; give --config FILE to check a file"
    )


def child_environment(overrides: Mapping[str, str], *, inherit: bool = False) -> dict[str, str]:
    """The environment for a child ``python -m pipeline`` whose settings are ``overrides`` (keys without
    the prefix, e.g. ``KAFKA__GROUP_ID``); this process's own ``DHAG_PIPELINE_*`` variables are dropped
    unless ``inherit``, in which case ``overrides`` win over them.

    >>> env = child_environment({"KAFKA__GROUP_ID": "g"})
    >>> env["DHAG_PIPELINE_KAFKA__GROUP_ID"]
    'g'
    """
    env = {k: v for k, v in os.environ.items() if inherit or not k.startswith(ENV_PREFIX)}
    return env | {ENV_PREFIX + key: value for key, value in overrides.items()}


def env_overrides(
    environ: Mapping[str, str], *, text: Callable[[tuple[str, ...]], str | None] = lambda key: None
) -> dict[str, Any]:
    """The nested settings that ``DHAG_PIPELINE_*`` variables of ``environ`` set, each value read as a
    YAML scalar, except where ``text(key)`` says the setting is text (see :func:`text_setting`): a
    password ``s3cret #2024`` read as YAML would lose its tail to a comment, ``~`` would unset it,
    ``123456`` would be a number. An optional text setting that is no secret (a path) is still unset
    by ``null`` or ``~``. Text wholly wrapped in one kind of quotes (:func:`env_file_quoted`) is taken
    without them. A variable whose prefix is spelt in other letters (``dhag_pipeline_...``) is refused:
    no process would read it.

    >>> env_overrides({"DHAG_PIPELINE_KAFKA__BATCH_SIZE": "500", "HOME": "/root"})
    {'kafka': {'batch_size': 500}}
    >>> env_overrides({"DHAG_PIPELINE_A__PASSWORD": "s3cret #2024"}, text=lambda key: "secret")
    {'a': {'password': 's3cret #2024'}}
    >>> env_overrides({"DHAG_PIPELINE_A__CAFILE": "null"}, text=lambda key: "optional")
    {'a': {'cafile': None}}
    >>> env_overrides({"DHAG_PIPELINE_A__GROUP": '"scorers"'}, text=lambda key: "text")
    {'a': {'group': 'scorers'}}
    """
    nested: dict[str, Any] = {}
    named: dict[tuple[str, ...], str] = {}  # each key set, by the variable that set it
    for name, raw in sorted(environ.items()):
        if not name.startswith(ENV_PREFIX):
            if name.upper().startswith(ENV_PREFIX):  # read by no process: say so, not run without it
                meant = ENV_PREFIX + name[len(ENV_PREFIX) :].upper()
                raise ConfigError(
                    f"config error: environment variable {name} is not read: the prefix is {ENV_PREFIX} in "
                    f"capitals (the keys after it in either case): write {meant}"
                )
            continue
        path = [part.lower() for part in name[len(ENV_PREFIX) :].split("__")]
        if (other := named.setdefault(tuple(path), name)) != name:  # names that differ only by case
            raise ConfigError(
                f"config error: environment variables {other} and {name} both set {dotted(tuple(path))}: "
                "unset one"
            )
        if not all(path):
            raise ConfigError(f"config error: environment variable {name} has an empty key part")
        if any(part.startswith("_") or part.endswith("_") for part in path):
            # "A___" could be key "a_" then "_", or "a" then "_": refuse rather than guess.
            raise ConfigError(
                f"config error: environment variable {name} has a key part that starts or ends with '_'; "
                "join keys with exactly '__'"
            )
        if (byte := _UNDECODED.search(raw)) is not None:  # how Python holds a byte that is no UTF-8
            raise ConfigError(
                f"config error: environment variable {name} is not UTF-8 text: its character "
                f"{byte.start() + 1} is byte 0x{ord(byte[0]) - 0xDC00:02x}, which UTF-8 does not take "
                "(Latin-1 text?): set it from UTF-8 text"
            )
        kind = text(tuple(path))
        if kind is not None and env_file_quoted(raw):  # what the line of an env file meant
            raw = raw[1:-1]
        try:
            if kind == "optional" and raw.strip() in _NULLS:
                value = None
            else:
                value = raw if kind is not None or not raw.strip() else read_yaml(raw)
        except RefusedYAMLError as exc:
            key = dotted((*path, *exc.key))
            raise ConfigError(
                f"config error: environment variable {name} (key {key}): {exc.shown(path)}"
            ) from None
        except yaml.YAMLError:
            value = raw
        node = nested
        for at, part in enumerate(path[:-1], 1):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):  # set to a single value by another variable
                other, key = _other_setter(named, tuple(path[:at]), name), dotted(tuple(path[:at]))
                raise ConfigError(
                    f"config error: environment variables {other} and {name} both set {key}: {other} sets it "
                    f"to one value, {name} keys under it: unset or rename one"
                )
            node = child
        if path[-1] in node:  # set by a variable holding its section as YAML (or keys under it)
            other = _other_setter(named, tuple(path), name)
            raise ConfigError(
                f"config error: environment variables {other} and {name} both set {dotted(tuple(path))}: "
                "unset one"
            )
        node[path[-1]] = value
    return nested


def _other_setter(named: Mapping[tuple[str, ...], str], key: tuple[str, ...], name: str) -> str:
    """The variable other than ``name`` that set ``key`` (of those ``named``, by the key each set): the
    one that set the key itself or the section nearest above it, else one that set a key under it."""
    setters = [(len(at), var) for at, var in named.items() if var != name and key[: len(at)] == at]
    below = [var for at, var in named.items() if var != name and at[: len(key)] == key]
    return max(setters)[1] if setters else below[0]


def env_file_quoted(raw: str) -> bool:
    """Whether ``raw`` is wholly wrapped in one kind of quotes, none of that kind inside: the line
    ``KEY="value"`` of an env file, whose quotes ``docker run --env-file`` and a Kubernetes env made from
    one pass on as part of the value (a shell, compose and systemd drop them). A text setting takes what
    is inside, with a warning (:func:`pipeline.settingnotes.quotes_note`).

    >>> [env_file_quoted(v) for v in ('"g1"', "'g1'", '""', '"a"b"', "'a' and 'b'", "'a", '"')]
    [True, True, True, False, False, False, False]
    """
    return len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "\"'" and raw[0] not in raw[1:-1]


def env_source(environ: Mapping[str, str], key: tuple[str, ...]) -> str | None:
    """The ``DHAG_PIPELINE_*`` variable of ``environ`` that set ``key`` (a settings path) or a key inside
    or above it, so an error can name what the operator actually wrote; ``None`` when none did.

    A key with ``__`` in it cannot be spelled as a variable: ``ALERTS__A__B`` sets ``alerts.a.b``, and
    an error about the unknown key ``alerts.a`` has to name the variable to make sense.

    >>> env_source({"DHAG_PIPELINE_ALERTS__A__B": "0"}, ("alerts", "a"))
    'DHAG_PIPELINE_ALERTS__A__B'
    >>> env_source({"DHAG_PIPELINE_ALERTS__A__B": "0"}, ("kafka",)) is None
    True
    """
    names = []
    for name in environ:
        if name.startswith(ENV_PREFIX):
            path = tuple(part.lower() for part in name[len(ENV_PREFIX) :].split("__"))
            shared = min(len(path), len(key))
            if shared and path[:shared] == tuple(key[:shared]):
                names.append(name)
    return ", ".join(sorted(names)) or None


def text_setting(model: type[BaseModel], key: tuple[str, ...]) -> str | None:
    """How an environment variable sets ``key`` of ``model`` when it holds text: ``"secret"`` (always
    the text as written), ``"optional"`` (text, or unset by a YAML null), ``"text"``; ``None`` when the
    setting is no text (read as YAML).

    >>> from pipeline.config import Settings
    >>> [text_setting(Settings, k) for k in [("kafka", "security", "sasl_plain_password"),
    ...     ("kafka", "security", "ssl_cafile"), ("kafka", "group_id"), ("kafka", "batch_size"),
    ...     ("kafka", "topics", "scores")]]
    ['secret', 'optional', 'text', None, 'optional']
    """
    annotation: Any = model
    optional = False
    for part in key:
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return None
        field = annotation.model_fields.get(part)
        if field is None:
            return None
        annotation = field.annotation
        options = [a for a in get_args(annotation) if a is not type(None)]
        optional = get_origin(annotation) in (Union, UnionType) and len(options) < len(get_args(annotation))
        if get_origin(annotation) in (Union, UnionType) and len(options) == 1:
            annotation = options[0]
        if get_origin(annotation) is Annotated:  # an optional constrained text: TopicName | None
            annotation = get_args(annotation)[0]
    if annotation is SecretStr:
        return "secret"
    return ("optional" if optional else "text") if annotation is str else None


_NULLS = ("null", "Null", "NULL", "~")
_UNDECODED = re.compile("[\udc80-\udcff]")  # os.environ's surrogate escapes
# A key or value that likely holds a secret: never shown in an error.
SECRET_LIKE = re.compile(r"pass|pasw|secret|token|pwd|credential", re.IGNORECASE)


class MergeConflictError(ValueError):
    """An override lays a section over a single value: ``key`` (the dotted path) is one of the two."""

    def __init__(self, key: tuple[str, ...], value: Any) -> None:
        super().__init__(".".join(key))
        self.key, self.value = key, value


def merge(base: dict[str, Any], override: Mapping[str, Any], _at: tuple[str, ...] = ()) -> dict[str, Any]:
    """``base`` with ``override`` laid over it, section by section; raises :class:`MergeConflictError`
    where the override sets keys under what ``base`` holds as a single value (a misspelt variable, or
    a section the file wrote as a value): silently dropped before.

    >>> merge({"kafka": {"batch_size": 5}}, {"kafka": {"group_id": "g"}})
    {'kafka': {'batch_size': 5, 'group_id': 'g'}}
    >>> merge({"kafka": {"batch_size": 5}}, {"kafka": {"batch_size": {"typo": 1}}})
    Traceback (most recent call last):
    ...
    pipeline.configsource.MergeConflictError: kafka.batch_size
    """
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(dict(out[key]), value, (*_at, key))
        elif isinstance(value, Mapping) and key in out:
            raise MergeConflictError((*_at, key), out[key])
        else:
            out[key] = value
    return out


def merge_overrides(
    data: dict[str, Any], overrides: Mapping[str, Any], environ: Mapping[str, str], path: str | Path | None
) -> dict[str, Any]:
    """:func:`merge` of the ``overrides`` that ``environ`` sets over the ``data`` of the file at ``path``,
    a conflict raised as a :class:`ConfigError` naming the key and the variables."""
    try:
        return merge(data, overrides)
    except MergeConflictError as exc:
        key, variables = ".".join(exc.key), env_source(environ, exc.key)
        what = "empty" if exc.value is None else shown(exc.value)
        if exc.value is not None and SECRET_LIKE.search(f"{key} {exc.value}"):  # a password, or text with one
            what = "(hidden)"
        raise ConfigError(
            f"config error: key {key!r} is {what} in {str(path)!r}, but {variables} sets keys under it: "
            + ("remove the empty key, or write it as a section" if exc.value is None else "one is misspelt")
        ) from None


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The mapping of a YAML config file; raises :class:`ConfigError` naming the file and the fault:
    unreadable, no regular file or too large (:func:`~pipeline.configfiles.config_bytes`), not UTF-8,
    not YAML (duplicate or unhashable keys too), no mapping at the top level, or nothing at all (empty,
    blank or only comments: a write cut short leaves such a file, and the defaults would run an embedded
    broker; ``{}`` asks for the defaults); or YAML a settings file may not use
    (:mod:`pipeline.safeyaml`)."""
    if not str(path):
        raise ConfigError("config error: --config is empty: give the path of a YAML settings file")
    try:
        text = (raw := config_bytes(path)).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config error: {str(path)!r} {not_utf8(raw, exc)}") from exc
    try:
        data = read_yaml(text)
    except RefusedYAMLError as exc:
        key = f", key {dotted(exc.key)}" if exc.key else ""
        raise ConfigError(
            f"config error: {str(path)!r} line {exc.problem_mark.line + 1}{key}: {exc.shown()}"
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"config error: {str(path)!r} is not valid YAML{yaml_fault(exc, text)}") from exc
    if data is None:
        raise ConfigError(
            f"config error: {str(path)!r} holds no settings (it is empty, blank or only comments: was "
            "its write cut short?); restore it, or write {} in it to run on the defaults"
        )
    if not isinstance(data, dict):
        raise ConfigError(f"config error: {str(path)!r} must hold a mapping at the top level")
    return data
