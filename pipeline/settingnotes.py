"""Settings that are valid but likely not what was meant: said by ``check-config`` as warnings, and by
the command each concerns as it starts (``run`` the grace, ``retrain --watch`` the triggers, ``retrain``
a minimum of normal rows its samples would rarely train on, both the
security settings their protocol leaves unused, white space around a login's credentials and a
session timeout a default broker refuses); and an embedded broker, which ``run`` and the demo take but
``retrain`` refuses (:data:`RETRAINER_BROKER`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from pipeline.config import Settings
from pipeline.configchecks import where_set
from pipeline.configlines import file_lines
from pipeline.configsecurity import SECRET_KEYS, SecuritySettings
from pipeline.configsource import ENV_PREFIX, env_file_quoted, text_setting

__all__ = [
    "RETRAINER_BROKER",
    "credentials_note",
    "embedded_note",
    "grace_note",
    "normal_rows_note",
    "placed",
    "quotes_note",
    "security_note",
    "session_note",
    "session_refused",
    "setting_notes",
    "start_notes",
    "trained_share",
    "triggers_note",
]

# A Kafka broker's default group.min.session.timeout.ms and group.max.session.timeout.ms (since Kafka
# 2.3; 300000 before): it refuses a consumer asking for a session timeout outside them as it joins.
BROKER_MIN_SESSION_MS = 6000
BROKER_MAX_SESSION_MS = 1_800_000

# Why ``retrain`` stops on ``kafka.bootstrap_servers: embedded`` (exit 2), and what to set.
RETRAINER_BROKER = (
    "the retrainer needs the address of the broker its daemon uses: set kafka.bootstrap_servers (or "
    "DHAG_PIPELINE_KAFKA__BOOTSTRAP_SERVERS) to host:port; a broker of its own would be private to it, "
    "no reading, alert or label would ever reach it and it would never train (the demo, `make run`, "
    "gives its retrainer its broker's address)"
)


def grace_note(settings: Settings) -> str | None:
    """A shutdown grace no longer than one Kafka request: a stop during a slow request is forced."""
    grace, wait = settings.shutdown_grace_s, settings.kafka.request_timeout_ms / 1000
    if grace > wait:
        return None
    limit = f"kafka.request_timeout_ms ({wait:g}s)"
    return f"shutdown_grace_s {grace:g}s is not above {limit}: a stop may be forced"


def triggers_note(settings: Settings) -> str | None:
    """Every trigger of a watching retrainer off, the keys named as set."""
    retrain = settings.retrain
    if retrain.min_new_labels or retrain.interval_s or (retrain.on_drift and settings.drift.enabled):
        return None
    drift = "retrain.on_drift false" if not retrain.on_drift else "retrain.on_drift with drift.enabled false"
    return (
        f"no retraining trigger is on (retrain.min_new_labels 0, retrain.interval_s 0, {drift}): "
        "`retrain --watch` takes labels in but never trains; 'retrain --once' trains on demand"
    )


def trained_share(holdout_fraction: float) -> float:
    """The share of a normal sample spread evenly in time that a retrain run trains on: cut into
    blocks, every k-th block (k = 1 / ``holdout_fraction``, at least 2) judges the candidate and every
    (2k)-th sets its threshold (:func:`pipeline.retrain.samples.split`): 2k - 3 of every 2k train.

    >>> trained_share(0.3), trained_share(0.5)
    (0.5, 0.25)
    """
    every = max(2, int(round(1 / holdout_fraction)))
    return (2 * every - 3) / (2 * every)


def normal_rows_note(settings: Settings) -> str | None:
    """A ``retrain.min_normal_rows`` above the normal readings that full samples (the recent one at
    ``retrain.normal_sample_size``, the reference at ``retrain.reference_sample_size``) leave to train
    on once ``retrain.holdout_fraction`` is held out: most runs would end for too few normal rows. Not
    refused: the cut is by time, and samples bunched in time (or a recent sample grown past its size by
    many assets) can train more. One above all they can hold is refused (:mod:`pipeline.configchecks`)."""
    retrain = settings.retrain
    share = trained_share(retrain.holdout_fraction)
    trained = int(share * (retrain.normal_sample_size + retrain.reference_sample_size))
    if retrain.min_normal_rows <= trained:
        return None
    return (
        f"retrain.min_normal_rows ({retrain.min_normal_rows}) is more than the about {trained} normal "
        f"readings a retrain run trains on when its samples are full: retrain.holdout_fraction "
        f"({retrain.holdout_fraction:g}) leaves {share:.0%} of retrain.normal_sample_size "
        f"({retrain.normal_sample_size}) and retrain.reference_sample_size ({retrain.reference_sample_size}) "
        "to train on, the rest judges the candidate and sets its threshold; most runs would end for too few "
        "normal rows: lower the first, or raise the sample sizes"
    )


def embedded_note(settings: Settings) -> str | None:
    """An embedded broker: the daemon (and the demo) start one of their own, the retrainer stops on it."""
    if not settings.kafka.embedded:
        return None
    return f"kafka.bootstrap_servers is embedded, which `retrain` stops on (exit 2): {RETRAINER_BROKER}"


def security_note(settings: Settings) -> str | None:
    """Credentials or certificate files that ``kafka.security.security_protocol`` leaves unused:
    kafka-python sends SASL settings only with a SASL protocol and reads TLS ones only with TLS."""
    security = settings.kafka.security
    protocol = security.security_protocol
    parts = []
    for kind, keys, used_by, use in (
        ("SASL", ("sasl_mechanism", "sasl_plain_username", "sasl_plain_password"), "SASL_", "sent"),
        ("TLS", ("ssl_cafile", "ssl_certfile", "ssl_keyfile", "ssl_password"), "SSL", "read"),
    ):
        named = [f"kafka.security.{key}" for key in keys if getattr(security, key) is not None]
        if named and used_by not in protocol:
            being = "are set, but are" if len(named) > 1 else "is set, but is"
            parts.append(f"{', '.join(named)} {being} not {use}: {protocol} uses no {kind}")
    if not parts:
        return None
    return f"{'; '.join(parts)} (kafka.security.security_protocol; SASL_SSL uses both)"


def credentials_note(settings: Settings) -> str | None:
    """A user name or password the login sends, or the TLS key's password, with white space (spaces,
    tabs) before or after it, named by key, never shown. The broker (or the TLS library) takes them as
    part of it and most likely refuses the login (fails to decrypt the key); a credential may truly
    hold them, so it is taken (a line break, never meant, is refused:
    :func:`pipeline.configsecurity.line_break_check`)."""
    security = settings.kafka.security
    said = []
    for key in SECRET_KEYS:
        text = security.used_text(key) or ""
        ends = [end for end, bare in (("starts", text.lstrip()), ("ends", text.rstrip())) if bare != text]
        if ends:
            said.append(f"kafka.security.{key} {' and '.join(ends)} with white space")
    if not said:
        return None
    return (
        f"{'; '.join(said)}: the login sends them as written (the TLS library decrypts the key with them), "
        "and a broker whose credential has none refuses it (reported as a broker out of reach); remove "
        "them unless the credential holds them"
    )


def session_note(settings: Settings) -> str | None:
    """A session timeout a Kafka broker with its default group limits refuses (the settings take from
    1000 ms to 2^31-1: a broker may be configured to allow it). It is the daemon's alone (the
    retrainer's consumer is assigned its partitions and joins no group), refused only as the daemon
    joins ``kafka.group_id``, as INVALID_SESSION_TIMEOUT, which it retries as an outage until
    ``kafka.unavailable_exit_s``."""
    session = settings.kafka.session_timeout_ms
    if session < BROKER_MIN_SESSION_MS:
        where = f"below {BROKER_MIN_SESSION_MS}, a Kafka broker's default group.min.session.timeout.ms"
    elif session > BROKER_MAX_SESSION_MS:
        where = f"above {BROKER_MAX_SESSION_MS}, a Kafka broker's default group.max.session.timeout.ms"
    else:
        return None
    return (
        f"kafka.session_timeout_ms {session} is {where}: such a broker refuses the daemon as it joins "
        "kafka.group_id (InvalidSessionTimeoutError, retried as a broker outage until "
        "kafka.unavailable_exit_s, then exit 3); change it unless the broker allows it"
    )


def quotes_note(environ: Mapping[str, str]) -> str | None:
    """The overrides of text settings in ``environ`` whose quotes were dropped
    (:func:`~pipeline.configsource.env_file_quoted`), each variable named with its key, never its
    value: a value truly quoted has to be written in the config file."""
    named = []
    for name, raw in sorted(environ.items()):
        if not name.startswith(ENV_PREFIX) or not env_file_quoted(raw):
            continue
        key = tuple(part.lower() for part in name[len(ENV_PREFIX) :].split("__"))
        if text_setting(Settings, key) is not None:
            named.append(f"{name} ({'.'.join(key)})")
    if not named:
        return None
    listed = f"{', '.join(named[:-1])} and {named[-1]}" if len(named) > 1 else named[0]
    each = "each value is" if len(named) > 1 else "the value is"
    return (
        f'{listed}: {each} wrapped in quotes, as an env file\'s KEY="value" line gives it to `docker run '
        "--env-file` and Kubernetes, which keep them: taken without them (set the key in the config file "
        "for a value that truly starts and ends with a quote)"
    )


def start_notes(
    settings: Settings,
    *,
    retrainer: bool = False,
    environ: Mapping[str, str] | None = None,
    path: str | Path | None = None,
) -> list[str]:
    """The notes ``run`` (or, ``retrainer``, ``retrain``) logs as it starts, of the Kafka settings it
    uses (and the daemon's shutdown grace, the retrainer's minimum of normal rows) and of the overrides
    in ``environ`` it took without their quotes; each says where its keys were set (:func:`placed`)."""
    notes = [security_note, credentials_note]
    notes += [normal_rows_note] if retrainer else [session_note, grace_note]
    quotes = quotes_note(environ or {})
    return ([quotes] if quotes else []) + placed(notes, settings, environ, path)


def setting_notes(
    settings: Settings, environ: Mapping[str, str] | None = None, path: str | Path | None = None
) -> list[str]:
    """Every note of :mod:`pipeline.settingnotes` that applies, in the order of the keys in the file,
    each saying where its keys were set (:func:`placed`)."""
    notes = [
        embedded_note,
        security_note,
        credentials_note,
        session_note,
        grace_note,
        triggers_note,
        normal_rows_note,
    ]
    return placed(notes, settings, environ, path)


def placed(
    notes: list[Callable[[Settings], str | None]],
    settings: Settings,
    environ: Mapping[str, str] | None,
    path: str | Path | None,
) -> list[str]:
    """The text of each of ``notes`` that applies to ``settings``, followed by where the keys it reads
    were set: the variables of ``environ`` and the lines of the config file at ``path``
    (:func:`~pipeline.configchecks.where_set`; nothing when neither is given)."""
    said, lines = [], None
    for note in notes:
        if (text := note(settings)) is None:
            continue
        if environ is not None or path is not None:
            lines = file_lines(path) if lines is None else lines  # read again only for a note
            text += where_set(_NOTE_KEYS[note], environ or {}, path, lines)
        said.append(text)
    return said


def session_refused(exc: BaseException | None, session_timeout_ms: int) -> str:
    """What to add to a failure's line when it is the broker refusing the session timeout as the daemon
    joins its group (kafka-python raises ``InvalidSessionTimeoutError`` from the poll): the setting to
    change, which an outage's line would not name; "" for any other failure.

    >>> from kafka.errors import InvalidSessionTimeoutError
    >>> session_refused(InvalidSessionTimeoutError(), 3000)[:56]
    '; the broker refuses kafka.session_timeout_ms 3000 (outs'
    >>> session_refused(OSError("connection refused"), 3000)
    ''
    """
    from kafka.errors import InvalidSessionTimeoutError

    seen: BaseException | None = exc
    while seen is not None and not isinstance(seen, InvalidSessionTimeoutError):
        seen = seen.__cause__ or seen.__context__
    if seen is None:
        return ""
    return (
        f"; the broker refuses kafka.session_timeout_ms {session_timeout_ms} (outside its "
        f"group.min.session.timeout.ms and group.max.session.timeout.ms, by default {BROKER_MIN_SESSION_MS} "
        f"and {BROKER_MAX_SESSION_MS}): set it within them"
    )


def _keys(*dotted: str) -> tuple[tuple[str, ...], ...]:
    return tuple(tuple(key.split(".")) for key in dotted)


_SECURITY = tuple(f"kafka.security.{key}" for key in SecuritySettings.model_fields)
# The keys each note reads: where they were set is said after it.
_NOTE_KEYS: dict[Callable[[Settings], str | None], tuple[tuple[str, ...], ...]] = {
    embedded_note: _keys("kafka.bootstrap_servers"),
    security_note: _keys(*_SECURITY),
    credentials_note: _keys(*_SECURITY),
    session_note: _keys("kafka.session_timeout_ms"),
    grace_note: _keys("kafka.request_timeout_ms", "shutdown_grace_s"),
    triggers_note: _keys("retrain.min_new_labels", "retrain.interval_s", "retrain.on_drift", "drift.enabled"),
    normal_rows_note: _keys(
        "retrain.min_normal_rows",
        "retrain.holdout_fraction",
        "retrain.normal_sample_size",
        "retrain.reference_sample_size",
    ),
}
