"""``dhag-pipeline alerts`` (list recent alert episodes) and ``dhag-pipeline label`` (answer one).

Both read the topics themselves (from the beginning of what the cluster retains; ``alerts --since``
from that time, its labels from a margin before it: :func:`read_episodes`; ``label`` its newest
records first, :mod:`pipeline.labelfind`), so they work against
any broker the daemon writes to: ``--bootstrap HOST:PORT`` or ``kafka.bootstrap_servers`` (an embedded
broker lives only inside the process that started it, so it cannot be reached from here;
:mod:`pipeline.consoletopics` reads them).

``alerts --asset A`` refuses (exit 2) an asset that no event of the alerts topic names (with ``--since``,
it reads the topic's earlier events for one: an asset that alerted before lists nothing, exit 0), so that
a mistyped id is not read as an asset without alerts (:mod:`pipeline.alertsasset`). ``label`` refuses
(exit 2) an alert id that is not on the alerts topic (``--unchecked`` writes it without
looking: :func:`~pipeline.labeltopic.unchecked_warning`), and says so when the alert was
labelled before: the newest label counts, the earlier ones stay in the history; the same operator's
same answer again is a repeat, which counts once (and ``alerts`` lists once). ``alerts`` lists a label
given by reading with the alert that opened on that reading, as the label store joins it. A first
``label`` creates a missing labels topic as the services do, or refuses (:mod:`pipeline.labeltopic`).
Both exit with code 3 when the broker cannot be reached, and with code 2 (a config error) when it
refuses the client's credentials or a permission (an ACL, named with the topic refused).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterable
from contextlib import closing
from typing import Any, TextIO

import orjson
from kafka import KafkaProducer
from kafka.errors import KafkaError

from dhag.infotext import shown_name
from dhag.stopsignals import silenced
from pipeline.alertepisodes import (
    Episode,
    later_schema_refusal,
    lost_open_note,
    when,
)
from pipeline.alertsargs import add_alerts_arguments, add_label_arguments, label_refusal
from pipeline.alertsasset import asset_note, asset_scan, later_schema_asset
from pipeline.alertsince import parse_since
from pipeline.alertslist import write_list
from pipeline.alertsread import episodes_from, unlabellable_note, unlabellable_refusal
from pipeline.brokerlink import AUTHENTICATION_FAILURES, authentication_refused
from pipeline.config import Settings
from pipeline.consolestreams import EXIT_READER_GONE, closed_streams, said_on_stderr, why_refused
from pipeline.consoletopics import STALL_S, TopicMissingError, client_options, console_bootstrap, read_topic
from pipeline.errors import EXIT_BROKER
from pipeline.kafkaclients import close_producer, closed_on_failure
from pipeline.labelfind import find_alert
from pipeline.labels import LabelError, label_message
from pipeline.labeltopic import LabelTopicError, ensure_labels_topic, unchecked_warning
from pipeline.labelunknown import unknown_alert
from pipeline.readprogress import ReadProgress
from pipeline.refusals import acl_refused

__all__ = [
    "Episode",
    "add_alerts_arguments",
    "add_label_arguments",
    "read_episodes",
    "run_alerts",
    "run_console",
    "run_label",
]

EXIT_REFUSED = 2  # also a config error: the broker refused the client's credentials
EXIT_UNWRITTEN = 1  # its output refused (a full disk)
EXIT_INTERRUPTED = 130  # 128 + SIGINT: Ctrl-C


def run_console(settings: Settings, args: argparse.Namespace) -> int:
    """``alerts`` or ``label`` (``args.command``) as ``dhag-pipeline`` runs them, on stdout and stderr: a
    reader of its output gone (``alerts | head`` once head has its lines) ends it quietly with 141 (but
    ``label`` once its label is written: it says so on stderr, exit 0), and Ctrl-C with one line (each
    says what it had done when it came) and 130, never a traceback."""
    if (closed := closed_streams(args.command)) is not None:
        sys.stderr.write(f"{closed}\n")
        return EXIT_UNWRITTEN
    try:
        return run_alerts(settings, args) if args.command == "alerts" else run_label(settings, args)
    except KeyboardInterrupt:  # while it wrote what it found
        sys.stderr.write(f"{args.command}: interrupted\n")
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # nothing left to say, to no one: not even at the interpreter's last flush
        silenced(sys.stdout)
        return EXIT_READER_GONE


def read_episodes(
    settings: Settings,
    bootstrap: str,
    since: float | None = None,
    say: Callable[[str], None] | None = None,
    unread: dict[str, str] | None = None,
    only: str | None = None,
    progress: ReadProgress | None = None,
    later_assets: dict[str, str] | None = None,
) -> dict[str, Episode]:
    """Alert episodes by id (from the alerts topic) with their valid labels (from the labels topic).

    ``since``: the alerts topic is read from what was written at or after that time (the labels topic
    from :func:`~pipeline.alertsince.labels_from` it), and only the episodes
    opened since then are kept: an open event read and ``opened_at`` not before it. One opened earlier
    (resolved since, or said open again by a daemon that took it over) may have labels older than
    ``since``, which were not read: it is left out rather than shown without them. ``say`` is told of
    partitions read by the records' own times, as they carry no Kafka time. ``unread`` is given the
    alert ids of the events of another schema than 1, each with its schema (a later release's), and
    ``later_assets`` the asset ids they name. The
    episodes are built as :func:`~pipeline.alertsread.episodes_from` builds them (``only``: the labels
    are read only when that alert is among them). ``progress`` says how far the reads are
    (:mod:`pipeline.readprogress`)."""
    options, topics = _read_options(settings), settings.kafka.topics
    alerts = read_topic(bootstrap, topics.alerts, options, since, say)
    labels = lambda early: read_topic(bootstrap, topics.labels, options, early, say)  # noqa: E731
    if progress is not None:
        alerts, read_labels = progress.counted(alerts, topics.alerts), labels
        labels = lambda early: progress.counted(read_labels(early), topics.labels)  # noqa: E731
    return episodes_from(settings, alerts, labels, since, say, unread, only, later_assets)


def _read_options(settings: Settings) -> dict[str, Any]:
    return client_options(settings) | {"fetch_max_wait_ms": settings.kafka.fetch_max_wait_ms}


def run_alerts(
    settings: Settings, args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """List the newest alert episodes (``--open``, ``--asset``, ``--limit``, ``--since``)."""
    out, err = out or sys.stdout, err or sys.stderr
    if args.limit < 1:
        err.write(f"--limit must be at least 1, got {args.limit}\n")
        return EXIT_REFUSED
    if args.asset is not None and not args.asset.strip():  # an unset shell variable: "--asset $ASSET"
        err.write(f"--asset must name an asset, as the ASSET column shows it; got {args.asset!r}\n")
        return EXIT_REFUSED
    since = None
    if getattr(args, "since", None) is not None:
        try:
            since = parse_since(args.since, time.time())
        except ValueError as exc:
            err.write(f"--since: {exc}\n")
            return EXIT_REFUSED
    bootstrap = console_bootstrap(settings, args.bootstrap, err)
    if bootstrap is None:
        return EXIT_REFUSED
    progress = ReadProgress(err, "alerts", whole=since is None)

    def say(note: str) -> None:
        progress.clear()
        err.write(f"{note}\n")

    topic = settings.kafka.topics.alerts
    try:
        try:
            later: dict[str, str] = {}  # the assets of events of a later release's schema
            read = read_episodes(settings, bootstrap, since, say, None, None, progress, later)
            episodes = list(read.values())
            # An asset named by no episode read: with --since, the topic's earlier events may name it.
            known, others = args.asset is None or any(e.asset_id == args.asset for e in episodes), set()
            if not known and since is not None:
                records = read_topic(bootstrap, topic, _read_options(settings), None, say)
                with closing(records):
                    known, others = asset_scan(progress.counted(records, topic), args.asset)
        finally:
            progress.clear()  # before anything else is said
    except AUTHENTICATION_FAILURES as exc:
        err.write(f"{authentication_refused(exc, bootstrap)}\n")
        return EXIT_REFUSED
    except TopicMissingError as exc:
        err.write(f"{exc}\n")
        return EXIT_REFUSED
    except KeyboardInterrupt:
        err.write("alerts: interrupted while reading the topics: nothing was listed\n")
        return EXIT_INTERRUPTED
    except KafkaError as exc:
        if (refused := acl_refused(exc, "read", bootstrap)) is not None:
            err.write(f"{refused}\n")
            return EXIT_REFUSED
        err.write(f"cannot read the alerts from Kafka at {bootstrap}: {exc}\n")
        return EXIT_BROKER
    chosen = [
        e
        for e in episodes
        if (not args.open or e.state == "open") and (args.asset is None or e.asset_id == args.asset)
    ]
    if (left := len(chosen) - args.limit) > 0:  # a plant-wide event opens more than a screenful
        more = f"{left} more episode{'s' if left > 1 else ''} matched (older than the {args.limit} listed)"
        err.write(f"{more}; --limit {len(chosen)} lists them all\n")
    chosen = sorted(chosen, key=lambda e: e.opened_at, reverse=True)[: args.limit]
    for note in (lost_open_note(chosen, topic), unlabellable_note(chosen, topic)):
        if note is not None:
            err.write(f"{note}\n")
    if not chosen and args.asset is not None and not known and args.asset in later:
        # Its events are there, in a contract this release cannot read: no mistyped id, nor "no alerts".
        err.write(f"{later_schema_asset(args.asset, later[args.asset], topic)}\n")
        return EXIT_REFUSED
    if not chosen and args.asset is not None:
        note = asset_note(args.asset, episodes, since=since, topic=topic, earlier=known, others=others)
        err.write(f"{note}\n")
        if not known:  # a mistyped id, which a script must not take for an asset without alerts
            return EXIT_REFUSED
    try:
        write_list(out, chosen, as_json=args.json)
    except BrokenPipeError:
        raise  # the reader went away: nothing to say (run_console)
    except OSError as exc:  # a full disk, a file over its quota
        err.write(f"alerts: cannot write the list to its output: {exc.strerror or exc}\n")
        silenced(out)
        return EXIT_UNWRITTEN
    return 0


def run_label(
    settings: Settings, args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """Produce one label for an alert seen on the alerts topic."""
    out, err = out or sys.stdout, err or sys.stderr
    verdict = "anomaly" if args.anomaly else "normal"
    most = settings.retrain.max_label_bytes  # as the retrainer judges it
    try:
        raw = label_message(
            alert_id=args.alert_id, label=verdict, operator=args.operator, note=args.note, max_bytes=most
        )
    except LabelError as exc:
        err.write(f"label refused: {label_refusal(exc)}; no label was written\n")
        return EXIT_REFUSED
    operator = orjson.loads(raw)["operator"]  # as the contract takes it: "kim " is kim
    bootstrap = console_bootstrap(settings, args.bootstrap, err)
    if bootstrap is None:
        return EXIT_REFUSED
    doing, episode, sending = "read", None, False
    try:
        unread: dict[str, str] = {}  # the ids of events of a later release's schema

        def newest(topic: str, count: int | None) -> Iterable[Any]:  # a look back (pipeline.labelfind)
            return read_topic(bootstrap, topic, _read_options(settings), None, None, STALL_S, count)

        def everything() -> dict[str, Episode]:  # an older alert, or an id not on the topic
            progress = ReadProgress(err, "label", whole=False)
            say = lambda note: progress.clear() or err.write(f"{note}\n")  # noqa: E731
            try:
                return read_episodes(
                    settings, bootstrap, say=say, unread=unread, only=args.alert_id, progress=progress
                )
            finally:
                progress.clear()  # before anything else is said

        episodes = {} if args.unchecked else find_alert(settings, args.alert_id, newest, everything)
        episode = episodes.get(args.alert_id)
        if args.unchecked:
            err.write(f"{unchecked_warning(args.alert_id, settings)}\n")
        elif episode is None and args.alert_id in unread:
            err.write(f"{later_schema_refusal(args.alert_id, unread[args.alert_id], settings)}\n")
            return EXIT_REFUSED
        elif episode is None:  # (one of a later schema's events only was said above, with its schema)
            known = episodes.keys() | unread.keys()
            err.write(f"{unknown_alert(args.alert_id, known, settings.kafka.topics.alerts, bootstrap)}\n")
            return EXIT_REFUSED
        elif episode is not None and episode.unlabellable is not None:  # its label would be dead-lettered
            err.write(f"{unlabellable_refusal(args.alert_id, episode.unlabellable[1], settings)}\n")
            return EXIT_REFUSED
        previous = None if episode is None else episode.label
        labels = settings.kafka.topics
        if ensure_labels_topic(labels, bootstrap, client_options(settings)):
            err.write(
                f"created the topic {labels.labels} ({labels.partitions} partitions, "
                "kafka.topics.partitions), as the retrainer creates it\n"
            )
        doing = "write to"
        # Idempotent (kafka-python's default, asked for here so that no other setting turns it off
        # unsaid): a retry of the send within this run is not written twice.
        producer = closed_on_failure(
            KafkaProducer,
            bootstrap_servers=bootstrap,
            acks="all",
            enable_idempotence=True,
            # A send waits this long for the topic's metadata (kafka-python's default: 60 s).
            max_block_ms=settings.kafka.request_timeout_ms,
            **client_options(settings),
        )
        try:
            sending = True
            sent = producer.send(settings.kafka.topics.labels, key=args.alert_id.encode(), value=raw)
            sent.get(timeout=settings.kafka.request_timeout_ms / 1000)
        finally:  # (a label never delivered: the send's error is the one said)
            close_producer(producer, 5.0)
    except LabelTopicError as exc:
        err.write(f"label refused: {exc}\n")
        return EXIT_REFUSED
    except TopicMissingError as exc:
        err.write(f"{exc}; no label was written\n")
        return EXIT_REFUSED
    except AUTHENTICATION_FAILURES as exc:
        err.write(f"{authentication_refused(exc, bootstrap)}\n")
        return EXIT_REFUSED
    except KeyboardInterrupt:
        err.write(f"label: {_interrupted(sending, episode)}\n")
        return EXIT_INTERRUPTED
    except KafkaError as exc:
        if (refused := acl_refused(exc, doing, bootstrap)) is not None:
            err.write(f"{refused}; no label was written\n")
            return EXIT_REFUSED
        err.write(f"cannot reach Kafka at {bootstrap}: {exc}; {_fate(sending, episode)}\n")
        return EXIT_BROKER
    said = []
    if previous is not None and previous["label"] != verdict:
        said.append(
            f"note: alert {args.alert_id} was labelled {previous['label']} by {previous['operator']}"
            f"{_given(previous)}; this {verdict} label replaces it (the newest label counts; the earlier "
            "ones stay in the history)\n"
        )
    elif previous is not None and previous["operator"] == operator:
        said.append(
            f"note: alert {args.alert_id} was already labelled {verdict} by {operator}; this label "
            "repeats it and counts once\n"
        )
    elif previous is not None:
        said.append(f"note: alert {args.alert_id} was already labelled {verdict} by {previous['operator']}\n")
    # Its asset id as the alerts table shows it: it comes from the alerts topic.
    asset = None if episode is None else shown_name(episode.asset_id)
    seen = "not checked" if episode is None else f"{asset}, opened {when(episode.opened_at)}"
    said.append(f"labelled alert {args.alert_id} ({seen}) as {verdict} by {operator}\n")
    _confirm(said, out, err)
    return 0


def _confirm(said: list[str], out: TextIO, err: TextIO) -> None:
    """Write what ``label`` says of the label it wrote; an output that refuses it (its reader gone:
    ``label ... | head -0``; a full disk) has it said on stderr instead, after a line saying why: the
    label is written all the same, which its exit status (0) says too, so that a script does not take
    it for a label to give again."""
    try:
        out.writelines(said)
        out.flush()
    except OSError as exc:
        silenced(out)  # what its buffer holds is not refused again as Python exits
        head = f"label: standard output refused its lines ({why_refused(exc)}); the label was written:\n"
        said_on_stderr(err, head, said)  # the label stands, said or not


def _given(label: dict[str, Any]) -> str:
    """When a label was given, as ``label`` says it: a label by id's ``ts``, a label by reading's
    ``labelled_at``; a label by reading without one says no time (its ``ts`` is the reading's).

    >>> _given({"alert_id": "a1", "ts": 6.0}), _given({"asset_id": "p1", "ts": 6.0})
    (' at 1970-01-01T00:00:06Z', ' (by its reading)')
    """
    at = label["ts"] if "alert_id" in label else label.get("labelled_at")
    return " (by its reading)" if at is None else f" at {when(at)}"


def _interrupted(sending: bool, episode: Episode | None) -> str:
    """What ``label`` stopped by Ctrl-C says of its label: none written before it was sent; once sent,
    it may have reached the topic (the producer's close still delivers it), and a second one counts once.
    """
    if not sending:
        return "interrupted before writing the label: no label was written"
    return f"interrupted while writing the label: it {_fate(sending, episode).removeprefix('the label ')}"


def _fate(sending: bool, episode: Episode | None) -> str:
    """What became of the label of a ``label`` that stopped (Ctrl-C, a broker gone): none written before
    it was sent; once sent, it may be on the topic, which ``alerts --asset A`` shows, and the same label
    given again counts once (a repeat), so the operator can tell whether to give it again."""
    if not sending:
        return "no label was written"
    look = "" if episode is None else f"`dhag-pipeline alerts --asset {shown_name(episode.asset_id)}` shows "
    return (
        f"the label may have been written; {look}"
        f"{'whether it was, and ' if look else ''}the same label given again counts once"
    )
