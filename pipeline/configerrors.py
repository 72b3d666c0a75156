"""The one line a validation error of the settings becomes (:func:`describe_error`): the key, the value
(never a secret's), what is allowed, why YAML may have read the value otherwise than meant, and the
environment variable that set it."""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel

from pipeline.configsource import ENV_PREFIX, SECRET_LIKE, env_source
from pipeline.configspelling import meant_keys
from pipeline.configvalues import shown

__all__ = ["describe_error"]


def describe_error(
    error: Mapping[str, Any], environ: Mapping[str, str], model: type[BaseModel] | None = None
) -> str:
    """One line for one validation error: the key, the value (never a secret's), what is allowed, and
    the environment variable that set it, if one did; of an unknown key, the setting of ``model`` it
    likely meant (:func:`~pipeline.configspelling.meant_keys`)."""
    key = ".".join(str(p) for p in error["loc"]) or "(top level)"
    value = error.get("input")
    # A password's own value, or a section's that holds one: text that was meant as the section
    # (unbalanced quotes or braces in an override, a block quoted in the file) shows it whole. An
    # unknown key among the security settings, or one (or a section) spelt like a secret's anywhere, is
    # most likely a password's key misspelt.
    unknown = error["type"] == "extra_forbidden"
    if (
        any("password" in str(part) for part in error["loc"])
        or "password" in str(value).lower()
        or (unknown and ("security" in error["loc"][:-1] or SECRET_LIKE.search(f"{key} {value}")))
    ):
        value = "(hidden)"
    variable = env_source(environ, tuple(str(p) for p in error["loc"]))
    origin = f" (set by {variable})" if variable else ""
    if error["type"] == "invalid_key":  # YAML read the key itself as no text: `no:`, `1:`, `null:`
        return _not_a_name(error)
    if error["type"] == "extra_forbidden":
        meant = list(meant_keys(model, error["loc"]) if model is not None else ())
        if variable:  # the variable to set, written as the one given was
            meant = [f"{ENV_PREFIX}{'__'.join(one.upper().split('.'))} ({one})" for one in meant]
        named = f"one of {', '.join(meant[:-1])} or {meant[-1]}" if len(meant) > 1 else "".join(meant)
        fix = f"did you mean {named}?" if meant else "remove it or fix its spelling"
        if key in ("config", "config_file", "config_path"):  # DHAG_PIPELINE_CONFIG=/etc/dhag/config.yaml
            fix = "no setting names the config file: give it as --config FILE"
        hint = _not_a_key(str(error["loc"][-1])) if value != "(hidden)" else ""
        return f"config error: unknown key {key!r} (value {shown(value)}){hint}; {fix}{origin}"
    message = str(error["msg"])
    if message.startswith("Value error, "):
        return f"config error: {key}: {message[len('Value error, ') :]}{origin}"
    allowed = message[len("Input should be ") :] if message.startswith("Input should be ") else message
    if error["type"] == "model_type" and value is None:  # `kafka:` with its keys not indented under it
        fix = "indent its keys under it, or remove it to take its defaults"
        return f"config error: key {key!r} is empty (nothing indented under it): {fix}{origin}"
    if error["type"] == "model_type":  # a section given one value: pydantic names the class
        allowed = "a section of keys (key: value lines indented under it)"
    if error["type"] == "bool_type":  # strict: not 1, "true" or y, which pydantic calls "a valid boolean"
        allowed = "true or false"
    own = _own_variable(environ, error["loc"])  # a variable that sets this key itself: its text
    if value is None:  # `batch_size:` with nothing after it, or null, or ~: "None" is no YAML
        what = "null or ~" if variable else "nothing after its colon, null or ~"
        fix = "unset the variable" if own is not None else "remove the key"
        return (
            f"config error: key {key!r} has no value ({what}: YAML's null); allowed: {allowed}; {fix} to "
            f"take its default{origin}"
        )
    hint = _misread_hint(error, error.get("input"))  # none of its hints shows the value of a secret
    if error["type"] == "model_type" and isinstance(value, str) and value != "(hidden)":
        hint = _not_a_key(value)  # `port:9100`: a key and its value, to YAML one text
    if own is not None and not own.strip():  # `VAR=` in an env file, or set from a variable unset
        hint = " (the variable is empty: unset it to take the default)"
    return f"config error: key {key!r} has value {shown(value)}{hint}; allowed: {allowed}{origin}"


def _own_variable(environ: Mapping[str, str], loc: Sequence[Any]) -> str | None:
    """The text of the ``DHAG_PIPELINE_*`` variable of ``environ`` that sets the key at ``loc`` itself
    (not a section holding it as YAML), or None when none does."""
    key = tuple(str(part).lower() for part in loc)
    for name, raw in environ.items():
        if (
            name.startswith(ENV_PREFIX)
            and tuple(p.lower() for p in name[len(ENV_PREFIX) :].split("__")) == key
        ):
            return raw
    return None


def _not_a_key(text: str) -> str:
    """Why ``text`` (an unknown key, or a section's value) was meant as a key and its value: a no-break
    space (U+00A0, copied from a web page) where YAML wants a plain one, or no space after the colon."""
    if "\xa0" in text:
        return (
            " (it holds a no-break space, U+00A0, as text copied from a web page does: YAML takes only plain "
            "spaces)"
        )
    if (glued := re.match(r"([\w.-]+):(\S.*)", text)) is not None:
        return (
            f" (YAML takes a key only with a space after its colon: write {shown(f'{glued[1]}: {glued[2]}')})"
        )
    return ""


def _not_a_name(error: Mapping[str, Any]) -> str:
    """A key YAML read as a boolean, a number or a null, where every setting's key is text."""
    key, above = error.get("input"), ".".join(str(p) for p in error["loc"][:-1])
    kind = "a boolean" if isinstance(key, bool) else "a null" if key is None else "a number"
    kind = kind if isinstance(key, bool | int | float) or key is None else type(key).__name__
    why = (
        " (YAML reads an unquoted yes, no, on, off, true or false as a boolean)"
        if isinstance(key, bool)
        else ""
    )
    where = f"in {above}" if above else "at the top level"
    return f"config error: key {key!r} {where} is {kind} to YAML, not a name: fix or remove it{why}"


_DURATION = re.compile(r"[-+]?\d+(\.\d*)?\s*(ms|s|sec|secs|seconds?|m|min|mins|minutes?|h|hours?|d|days?)")
_CLOCK = re.compile(r"[-+]?\d+(:\d+)+(\.\d*)?")
_UNITS = {"_s": "seconds", "_ms": "milliseconds"}
_EXPONENT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")
_PLAIN_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)")
_OCTAL_12 = re.compile(r"[-+]?0o[0-7]+")
_OTHER_BASE = re.compile(r"[-+]?0[xXbB][0-9a-fA-F_]+")  # what YAML took as text: 0X10 (0x10 is refused)
_THOUSANDS = re.compile(r"[-+]?\d{1,3}([, ']\d{3})+(\.\d*)?")


def _misread_hint(error: Mapping[str, Any], value: Any) -> str:
    """Why a value the operator wrote as meant was refused, where YAML 1.1 read it otherwise: ``no`` as
    a boolean, a name ``12345`` or ``2024-01-01`` as a number or a date, ``5e3`` (no dot, no sign in the
    exponent) as text; or a duration given a unit, or written as minutes and seconds (``0:30``, which
    YAML's base 60 leaves as text); or a whole number written with a point (``5000.0``), which a strict
    integer setting refuses as a float; or YAML 1.2's octal (``0o17``), base 16 in capitals (``0X10``),
    thousands separated (``1,000``), a number in a block (``|``)."""
    if isinstance(value, bool) and error["type"] != "bool_type":
        fix = "write a number" if error["type"] in ("int_type", "float_type") else "quote it to mean the word"
        return f" (YAML read an unquoted yes, no, on, off, true or false as a boolean: {fix})"
    if error["type"] == "string_type" and isinstance(value, int | float | datetime.date):
        kind = "date" if isinstance(value, datetime.date) else "number"
        return f" (YAML reads an unquoted {kind} as a {kind}: quote it for the text)"
    name = str(error["loc"][-1]) if error["loc"] else ""
    # 5000.0, or 1.0e+6 from YAML; past 2**53 a float holds no exact whole number to write back.
    if (
        isinstance(value, float)
        and value.is_integer()
        and abs(value) <= 2**53
        and error["type"] == "int_type"
    ):
        return f" ({name} is a whole number: write {int(value)})"
    if not isinstance(value, str) or error["type"] not in ("int_type", "float_type"):
        return ""
    unit = next((unit for end, unit in _UNITS.items() if name.endswith(end)), None)
    if unit and _DURATION.fullmatch(value.strip()):
        return f" ({name} is a number of {unit}, without a unit)"
    if unit and _CLOCK.fullmatch(value.strip()):  # what YAML's base 60 did not take: 0:30, 1:60
        return f" ({name} is a number of {unit}, not minutes and seconds)"
    if _EXPONENT.fullmatch(value.strip()):
        write = "the digits" if error["type"] == "int_type" else f"{_with_dot(value.strip())}, or the digits"
        return (
            " (YAML reads a number with an exponent as text unless it has a dot and a signed exponent: "
            f"write {write})"
        )
    if _OCTAL_12.fullmatch(value.strip()):
        return f" ({value.strip()} is YAML 1.2's octal, which YAML 1.1 reads as text: write {int(value, 0)})"
    if _OTHER_BASE.fullmatch(value.strip()) and (number := _in_decimal(value.strip())) is not None:
        return f" (no setting is written in base 16 or 2: write {number})"
    if _THOUSANDS.fullmatch(value.strip()):
        digits = re.sub(r"[, _']", "", value.strip())
        return f" (write it without the thousands separators: {digits})"
    if _PLAIN_NUMBER.fullmatch(value.strip()):
        if value.endswith("\n"):  # a block: nothing was quoted
            return " (a block (| or >) or quotes make a number text: write it unquoted on the key's line)"
        return " (quoted, a number is text: write it unquoted)"
    return ""


def _in_decimal(text: str) -> int | None:
    """``text`` (:data:`_OTHER_BASE`) as the number it spells, or None if its digits are not of its base.

    >>> _in_decimal("0X1F90"), _in_decimal("-0B1_01"), _in_decimal("0b12")
    (8080, -5, None)
    """
    sign, prefix, digits = re.fullmatch(r"([-+]?)0([xXbB])(.*)", text).groups()
    try:
        return int(f"{sign}{digits.replace('_', '')}", 16 if prefix in "xX" else 2)
    except ValueError:
        return None


def _with_dot(number: str) -> str:
    """``number`` (:data:`_EXPONENT`) as YAML 1.1 reads a float: a dot in it, a sign before the exponent.

    >>> _with_dot("2e-3"), _with_dot("3E2"), _with_dot("-.5e7")
    ('2.0e-3', '3.0E+2', '-0.5e+7')
    """
    mantissa, e, exponent = re.split("([eE])", number)
    mantissa += "" if "." in mantissa else ".0"
    if mantissa.lstrip("+-").startswith("."):  # YAML takes no sign before a bare ".5"
        mantissa = mantissa.replace(".", "0.", 1)
    return f"{mantissa}{e}{exponent if exponent[0] in '+-' else '+' + exponent}"
