"""The operator-label contract (topic ``operator-labels``): validate a label, or say why it is refused.

A label names what it judges in one of two ways:

* ``alert_id``: an alert episode of ``anomaly-alerts``; ``ts`` is when the operator labelled it;
* ``asset_id`` + ``ts`` + ``values``: one reading, as the sensor-record contract writes it (``ts`` is the
  reading's time); when an alert opened on exactly that reading, the label joins that alert.

Then ``label`` (``anomaly`` confirms, ``normal`` rejects: a false alarm), ``operator`` (taken without
spaces around it, a run of spaces inside, of any width, as one, accents composed: one operator, one
name; what it holds is checked before its length, :mod:`pipeline.operatorname`) and an
optional ``note``; ``labelled_at`` (optional) says when the label was given when ``ts`` is the reading's time;
``label_id`` (optional) is the sender's id of the label, which a resend of it keeps (a label that
repeats an earlier one counts once: :mod:`pipeline.labelorder`). A reading's ``asset_id`` matches the
pattern the plant's sensor records are held to (``records.asset_id_pattern``; the default one unless
:func:`parse_label` is given it).
Sizes are bounded. A field the contract does not name is ignored (:attr:`Label.ignored_fields` names
them): a later release may add one, and its labels still count here; a change that an earlier
release must not read raises ``schema``, and a label of another schema is refused. A label that
breaks the contract goes to ``operator-labels.dlq`` with its original bytes and a
:class:`LabelReason` (the same headers as the record DLQ).
"""

from __future__ import annotations

import hashlib
import math
import re
import time
import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

import orjson
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from pipeline.alertid import ID_RULE, id_refusal
from pipeline.operatorname import MAX_OPERATOR, operator_name, unnamed_character
from pipeline.recordjson import decode, parse_timestamp

__all__ = [
    "MAX_NOTE",
    "MAX_OPERATOR",
    "Label",
    "LabelError",
    "LabelReason",
    "Source",
    "label_message",
    "parse_label",
]

_ID = r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$"
#: The longest ``note`` a label may give (characters); ``operator``'s is :data:`MAX_OPERATOR`.
MAX_NOTE = 2000
MAX_SENSORS = 512
# How far ahead of this machine's clock a label's times may be (clocks of operator consoles drift); the
# retrainer judges them against the Kafka record time instead when its own clock is behind that.
MAX_CLOCK_SKEW_S = 300.0


@dataclass(frozen=True)
class Source:
    """A Kafka position, ``topic/partition/offset``, and ``#digest`` of the record's value when known:
    the idempotency key of a label. A replay brings the same bytes to the same position; a topic
    recreated, or a move to another cluster, starts its offsets again with other labels, which the
    digest keeps from being taken for replays of the old ones (and dropped).

    >>> str(Source.of("labels", 0, 7, b'{"label": "normal"}'))
    'labels/0/7#6ff2322af6dc18b0'
    >>> Source.parse("labels/0/7#6ff2322af6dc18b0") == Source.of("labels", 0, 7, b'{"label": "normal"}')
    True
    """

    topic: str
    partition: int
    offset: int
    digest: str = ""

    @classmethod
    def of(cls, topic: str, partition: int, offset: int, value: bytes | None) -> Source:
        """The source of a record with ``value``."""
        return cls(topic, partition, offset, hashlib.blake2b(value or b"", digest_size=8).hexdigest())

    @classmethod
    def parse(cls, text: str) -> Source:
        """The inverse of ``str``."""
        position, _, digest = text.partition("#")
        topic, partition, offset = position.rsplit("/", 2)
        return cls(topic, int(partition), int(offset), digest)

    @property
    def position(self) -> str:
        """``topic/partition/offset``."""
        return f"{self.topic}/{self.partition}/{self.offset}"

    def __str__(self) -> str:
        return self.position + (f"#{self.digest}" if self.digest else "")


class LabelReason(StrEnum):
    """Why a label went to the labels DLQ (the ``dlq.reason`` header; a bounded metric label)."""

    NOT_JSON = "not_json"
    NOT_OBJECT = "not_object"
    OVERSIZED = "oversized"
    MISSING_FIELD = "missing_field"
    WRONG_TYPE = "wrong_type"
    BAD_VALUE = "bad_value"
    UNKNOWN_ALERT = "unknown_alert"


class LabelError(ValueError):
    """A label that breaks the contract: its reason and a detail naming the field; ``field`` (its name
    in the message, None when the fault is not one field's), ``kind`` (pydantic's error type), ``given``
    (the value refused) and ``limits`` (pydantic's context: ``max_length``, ...) let a command that
    built the label say it in its own terms."""

    def __init__(
        self,
        reason: LabelReason,
        detail: str,
        *,
        field: str | None = None,
        kind: str = "",
        given: Any = None,
        limits: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.field, self.kind, self.given, self.limits = field, kind, given, limits or {}


class Label(BaseModel):
    """One operator label, validated (``ts`` and ``labelled_at`` as epoch seconds).

    Example
    -------
    >>> lab = Label.model_validate({"alert_id": "a1", "label": "normal", "operator": "kim", "ts": 5})
    >>> lab.alert_id, lab.label, lab.ts, lab.by_alert
    ('a1', 'normal', 5.0, True)
    """

    # strict: "12.5" or true is not a sensor value and true not a schema, as in the sensor records.
    # extra="ignore": a field added by a later release (its consoles, its retrainer) is no reason to
    # dead-letter the operator's answer while two releases run side by side.
    model_config = ConfigDict(frozen=True, extra="ignore", strict=True)

    schema_: int = Field(1, alias="schema", ge=1, le=1)
    alert_id: str | None = None  # as the alerts topic names it (_alert)
    asset_id: str | None = None  # the records' asset pattern (_asset)
    ts: float
    values: dict[str, float] | None = Field(None, min_length=1, max_length=MAX_SENSORS)
    label: Literal["anomaly", "normal"]
    operator: str = Field(min_length=1)  # at most MAX_OPERATOR characters once its spaces go (_operator)
    note: str | None = Field(None, max_length=MAX_NOTE)
    labelled_at: float | None = None
    label_id: str | None = Field(None, pattern=_ID)
    _ignored: tuple[str, ...] = PrivateAttr(default=())

    @field_validator("ts", "labelled_at", mode="before")
    @classmethod
    def _timestamp(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None:
            return value
        try:
            return parse_timestamp(value, info.field_name)  # named as the field it is: ts, labelled_at
        except (TypeError, ValueError) as exc:
            raise ValueError(str(exc)) from None

    @field_validator("alert_id")
    @classmethod
    def _alert(cls, alert_id: str | None) -> str | None:
        # The rule the retrainer keeps an alert event by: an alert it keeps can be labelled by its id.
        if alert_id is not None and id_refusal(alert_id) is not None:
            raise ValueError(f"must be {ID_RULE}")
        return alert_id

    @field_validator("asset_id")
    @classmethod
    def _asset(cls, asset_id: str | None, info: ValidationInfo) -> str | None:
        # As the sensor records name it (``asset_pattern`` in the context: records.asset_id_pattern).
        pattern = (info.context or {}).get("asset_pattern") or _ID
        if asset_id is not None and re.fullmatch(pattern, asset_id) is None:
            raise ValueError(f"does not match records.asset_id_pattern {pattern!r}")
        return asset_id

    @field_validator("values")
    @classmethod
    def _finite(cls, values: dict[str, float] | None) -> dict[str, float] | None:
        for name, value in (values or {}).items():
            if not 0 < len(name) <= 128:
                raise ValueError(f"sensor names must be 1-128 characters, got {name!r}")
            if not math.isfinite(value):
                raise ValueError(f"sensor {name!r} has a non-finite value {value!r}")
        return values

    @field_validator("operator")
    @classmethod
    def _operator(cls, operator: str) -> str:
        # One name, however a console composed its accents (NFC), padded its field (spaces around it,
        # a run of them inside: "kim " is kim) or spaced it (an input method's ideographic space, a
        # no-break space): else a repeat counts as another operator's.
        name = operator_name(operator)
        # What it holds first: such a name is refused for it, whatever its length.
        if not name or (held := unnamed_character(operator)) is not None or not name.isprintable():
            where = f": it holds {held}" if name and held else ""
            raise ValueError(
                "operator must name who labelled (not blank, no control characters nor invisible ones:"
                f" zero-width, direction marks, line breaks){where}"
            )
        if len(name) > MAX_OPERATOR:  # the name kept: " kim " is 3 characters
            raise PydanticCustomError(
                "string_too_long",
                "String should have at most {max_length} characters, counted without the spaces around "
                "it (a run inside as one): it has {length}",
                {"max_length": MAX_OPERATOR, "length": len(name)},
            )
        return name

    @model_validator(mode="after")
    def _one_target(self) -> Label:
        reading = (self.asset_id, self.values)
        if self.alert_id is not None and any(v is not None for v in reading):
            raise ValueError("give either alert_id or asset_id with values, not both")
        if self.alert_id is None and any(v is None for v in reading):
            raise ValueError("a label needs alert_id, or asset_id, ts and values of the reading it judges")
        return self

    @model_validator(mode="after")
    def _not_ahead(self, info: ValidationInfo) -> Label:
        # The newest label of an alert or reading is the one that counts: a label dated in the future
        # would outrank every correction until then. A reading's ts ranks nothing: it is held to the
        # readings' limit (``max_future_s``: records.max_future_s; None, none), as the daemon holds it.
        # ``now`` in the context: what "now" is (the retrainer's clock, or the Kafka record time when
        # later; inf: judged already).
        context = info.context or {}
        now = time.time() if context.get("now") is None else context["now"]
        ahead = context.get("max_future_s", MAX_CLOCK_SKEW_S) if self.alert_id is None else MAX_CLOCK_SKEW_S
        for name, value, most in (
            ("ts", self.ts, ahead),
            ("labelled_at", self.labelled_at, MAX_CLOCK_SKEW_S),
        ):
            if value is not None and most is not None and value > now + most:
                raise ValueError(f"{name} lies {value - now:.0f} s in the future")
        return self

    @property
    def by_alert(self) -> bool:
        """True when the label names an alert (rather than a reading)."""
        return self.alert_id is not None

    @property
    def ignored_fields(self) -> tuple[str, ...]:
        """The fields of the message :func:`parse_label` read it from that the contract does not name
        (sorted; a later release's, or misspelt ones), which the label was taken without."""
        return self._ignored

    @property
    def given_at(self) -> float:
        """When the operator gave the label (a reading's label without ``labelled_at``: the reading's ts)."""
        return self.labelled_at if self.labelled_at is not None else self.ts

    def as_json(self) -> dict[str, Any]:
        """The JSON-ready message (fields left unset are omitted)."""
        return self.model_dump(by_alias=True, exclude_none=True)


# A label of the right type but not one of the allowed words ("maybe", "Anomaly") is a bad value.
_TYPE_ERRORS = ("_type", "_parsing", "dict_type", "model_type")


def parse_label(
    raw: bytes | None,
    *,
    max_bytes: int = 16_384,
    now: float | None = None,
    asset_pattern: str | None = None,
    max_future_s: float | None = MAX_CLOCK_SKEW_S,
) -> Label:
    """Validate one ``operator-labels`` value; raises :class:`LabelError` with the reason. Its times may
    lie at most :data:`MAX_CLOCK_SKEW_S` ahead of ``now`` (default: this machine's clock; ``math.inf``
    for a label whose times were judged when it came), a reading's ``ts`` at most ``max_future_s``
    (``records.max_future_s``; None: no limit); a reading's ``asset_id`` matches
    ``asset_pattern`` (``records.asset_id_pattern``; default: its default). Fields the contract does
    not name are ignored. The JSON is read as a sensor record's (:func:`~pipeline.recordjson.decode`):
    a number no double holds is infinite, a bad value where the label has a number, not bad JSON.

    Example
    -------
    >>> later = b'{"alert_id": "a1", "label": "normal", "operator": "kim", "ts": 5, "console": 3}'
    >>> parse_label(later).ignored_fields
    ('console',)
    >>> parse_label(b'{"alert_id": "a1", "label": "maybe", "operator": "kim", "ts": 5}')
    Traceback (most recent call last):
    ...
    pipeline.labels.LabelError: bad_value: label: Input should be 'anomaly' or 'normal' (got 'maybe')
    """
    if raw is None:
        raise LabelError(LabelReason.NOT_JSON, "the message has no value")
    if len(raw) > max_bytes:
        raise LabelError(LabelReason.OVERSIZED, f"{len(raw)} bytes, more than {max_bytes}")
    try:  # as a sensor record is read: a number no double holds is infinite (a bad value, not bad JSON)
        data = decode(raw.removeprefix(b"\xef\xbb\xbf"))  # a byte-order mark, as in sensor records
    except ValueError as exc:
        raise LabelError(LabelReason.NOT_JSON, str(exc)[:200]) from None
    if not isinstance(data, dict):
        raise LabelError(LabelReason.NOT_OBJECT, f"a label is a JSON object, got {type(data).__name__}")
    try:
        context = {"now": now, "asset_pattern": asset_pattern, "max_future_s": max_future_s}
        label = Label.model_validate(data, context=context)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(label)"
        kind = first["type"]
        if kind == "missing":
            reason = LabelReason.MISSING_FIELD
        elif any(kind.endswith(t) or kind == t for t in _TYPE_ERRORS) or (
            kind == "literal_error" and not isinstance(first["input"], str)
        ):
            reason = LabelReason.WRONG_TYPE
        else:
            reason = LabelReason.BAD_VALUE
        message = str(first["msg"]).removeprefix("Value error, ")
        got = f" (got {first['input']!r})" if kind != "missing" and where != "(label)" else ""
        field = where if where != "(label)" else None
        raise LabelError(
            reason,
            f"{where}: {message}{got}"[:1000],
            field=field,
            kind=kind,
            given=first.get("input"),
            limits=first.get("ctx"),
        ) from None
    label._ignored = tuple(sorted(str(name)[:128] for name in data.keys() - _FIELDS))
    return label


# The names a label message may give its fields.
_FIELDS = frozenset(field.alias or name for name, field in Label.model_fields.items())


def label_message(
    *,
    alert_id: str,
    label: Literal["anomaly", "normal"],
    operator: str,
    note: str | None = None,
    now: float | None = None,
    label_id: str | None = None,
    max_bytes: int = 16_384,
) -> bytes:
    """A validated label for an alert, encoded for ``operator-labels`` (raises :class:`LabelError`), with
    ``label_id`` (default: a new random one), which its copies keep: a producer's retry, which the label
    store records once (:mod:`pipeline.labelorder`). ``max_bytes``: the largest the retrainer takes
    (``retrain.max_label_bytes``). It names the operator as the contract takes the name (``" kim "`` is
    ``kim``: :class:`Label`)."""
    data: dict[str, Any] = {
        "schema": 1,
        "alert_id": alert_id,
        "label": label,
        "operator": operator,
        "ts": time.time() if now is None else now,
        "label_id": uuid.uuid4().hex if label_id is None else label_id,
    }
    if note is not None:
        data["note"] = note
    data["operator"] = parse_label(orjson.dumps(data), max_bytes=max_bytes).operator
    raw = orjson.dumps(data)
    parse_label(raw, max_bytes=max_bytes)
    return raw
