"""The tables of the retrainer's SQLite label store (:class:`~pipeline.labelstore.LabelStore` says what
each holds) and their layout version, kept in SQLite's ``PRAGMA user_version``.

:func:`prepare` reads the version before anything is written: a store of a newer layout, or a file that
is no label store (another SQLite database), is refused with
:class:`~pipeline.errors.LabelStoreError` and left as it is; a store written before the version was
recorded (``user_version`` 0: the same tables, the earliest without ``alerts.started_at``), or of an
earlier version, is upgraded in place, its rows kept, in one transaction; one of a version before 3
has its labels by reading of a forgotten alert's reading merged with that alert's
(:mod:`pipeline.labelmerge`), once.
"""

from __future__ import annotations

import logging
import sqlite3
import stat
from functools import cache
from pathlib import Path

from pipeline.errors import LabelStoreError
from pipeline.labelmerge import merge_forgotten_readings

__all__ = ["COLUMNS_ADDED", "SCHEMA", "VERSION", "prepare", "refuse_other_than_a_file"]

# Layout versions: 1, the tables of SCHEMA before labels.repeat_of and labels.sent_id; 2, before the
# table forgotten; 3, before forgotten.forgotten_at; 4, SCHEMA. A change of layout raises VERSION and
# adds its step to prepare(), which takes a store of any earlier version there.
VERSION = 4

# (version, table, column, declaration): columns a store of an earlier version may lack, added on its
# upgrade (empty: their readers fall back as each says).
# alerts.started_at: the earliest record time of the episode's faulty readings (NULL: its opened_at).
# labels.repeat_of: the id of the earlier label a label repeats (NULL: it counts; pipeline.labelorder);
# labels.sent_id: the label's own ``label_id``, when its sender gave one.
# forgotten.forgotten_at: when the alert was forgotten (NULL: before this was kept; pipeline.forgottenalerts).
COLUMNS_ADDED = (
    (1, "alerts", "started_at", "REAL"),
    (2, "labels", "repeat_of", "INTEGER"),
    (2, "labels", "sent_id", "TEXT"),
    (4, "forgotten", "forgotten_at", "REAL"),
)

_MOVE_ASIDE = (
    "with the retrainer stopped, move it aside with its -wal and -shm files and start with none (or a "
    "backup of this version): the retrainer reads again what it lacks, as far as the topics retain it"
)

log = logging.getLogger("pipeline.labelstore")

SCHEMA = """
CREATE TABLE IF NOT EXISTS alerts (
    alert_id TEXT PRIMARY KEY,
    asset_id TEXT NOT NULL,
    opened_at REAL NOT NULL,
    started_at REAL,
    resolved_at REAL,
    score REAL,
    threshold REAL,
    model_version TEXT,
    values_json TEXT NOT NULL,
    seen_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS alerts_asset ON alerts (asset_id, opened_at);
CREATE TABLE IF NOT EXISTS labels (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id TEXT,
    asset_id TEXT NOT NULL,
    ts REAL NOT NULL,
    values_json TEXT NOT NULL,
    label TEXT NOT NULL CHECK (label IN ('anomaly', 'normal')),
    operator TEXT NOT NULL,
    note TEXT,
    given_at REAL NOT NULL,
    received_at REAL NOT NULL,
    source TEXT NOT NULL UNIQUE,
    repeat_of INTEGER,
    sent_id TEXT
);
CREATE INDEX IF NOT EXISTS labels_alert ON labels (alert_id);
-- add_alert joins a reading's label to the alert that opened on it: by asset and time, per event.
CREATE INDEX IF NOT EXISTS labels_asset_ts ON labels (asset_id, ts);
CREATE TABLE IF NOT EXISTS pending (
    source TEXT PRIMARY KEY,
    alert_id TEXT NOT NULL,
    raw BLOB NOT NULL,
    first_seen REAL NOT NULL
);
-- A poll reads the labels waiting for the alerts that arrived, and those whose wait is over.
CREATE INDEX IF NOT EXISTS pending_alert ON pending (alert_id);
CREATE INDEX IF NOT EXISTS pending_first_seen ON pending (first_seen);
CREATE TABLE IF NOT EXISTS readings (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    asset_id TEXT NOT NULL,
    ts REAL NOT NULL,
    values_json TEXT NOT NULL,
    UNIQUE (asset_id, ts)
);
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
-- The alerts prune_alerts forgot, and the reading each opened on (pipeline.forgottenalerts).
CREATE TABLE IF NOT EXISTS forgotten (
    alert_id TEXT PRIMARY KEY,
    asset_id TEXT NOT NULL,
    opened_at REAL NOT NULL,
    forgotten_at REAL
);
CREATE INDEX IF NOT EXISTS forgotten_asset ON forgotten (asset_id, opened_at);
"""


@cache
def _layout() -> dict[str, tuple[str, ...]]:
    """Each table of :data:`SCHEMA` and its columns, in order."""
    db = sqlite3.connect(":memory:")
    try:
        db.executescript(SCHEMA)
        return _tables(db)
    finally:
        db.close()


def _tables(db: sqlite3.Connection) -> dict[str, tuple[str, ...]]:
    names = db.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
    return {name: tuple(row[1] for row in db.execute(f'PRAGMA table_info("{name}")')) for (name,) in names}


def prepare(db: sqlite3.Connection, path: str) -> None:
    """Make ``db``, opened on ``path``, a label store of :data:`VERSION`: created when it holds no
    table, upgraded from an earlier version; raises :class:`~pipeline.errors.LabelStoreError`, having
    written nothing, for a newer version or a database that is no label store."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    tables, layout = _tables(db), _layout()
    if version > VERSION and set(tables) & set(layout):
        raise LabelStoreError(
            f"the label store {path} cannot be used: it was written by a newer version of dhag-pipeline "
            f"(layout version {version}; this version reads versions up to {VERSION}). Run that version "
            f"or a later one, or {_MOVE_ASIDE}"
        )
    odd, missing = [], []
    for table, columns in tables.items():
        lacking = [(n, t, c, d) for n, t, c, d in COLUMNS_ADDED if t == table and c not in columns]
        if table not in layout:
            odd.append(table)
        elif set(columns) | {c for _, _, c, _ in lacking} != set(layout[table]) or any(
            n <= version for n, _, _, _ in lacking
        ):
            odd.append(f"{table} (other columns)")
        missing += [(t, c, d) for _, t, c, d in lacking]
    if version == VERSION and not odd:  # a store of this version has every table
        odd += [f"no {table}" for table in layout if table not in tables]
    if odd or version > VERSION:
        raise LabelStoreError(
            f"{path} is not a label store: an SQLite database of layout version {version} with the "
            f"table(s) {', '.join(odd) or 'none'}, where this version keeps label stores of version "
            f"{VERSION}. Point retrain.label_store at the label store (or a new file), or move this "
            "file aside if it is not needed: the retrainer then starts a new store there"
        )
    if version == VERSION:
        _add_indexes(db)
        return
    if tables:
        log.info("upgrading the label store %s from layout version %d to %d", path, version, VERSION)
    script = SCHEMA + "".join(f"ALTER TABLE {t} ADD COLUMN {c} {d};\n" for t, c, d in missing)
    try:
        db.executescript(f"BEGIN IMMEDIATE;\n{script}")  # left open: one transaction with the merge
        merged = merge_forgotten_readings(db) if tables and version < 3 else None
        db.execute(f"PRAGMA user_version = {VERSION}")
        db.commit()
    except BaseException:
        if db.in_transaction:
            db.rollback()
        raise
    if merged is not None and merged.joined:
        log.info(
            "label store %s: %d label(s) by reading joined the labels of %d forgotten alert(s) about the "
            "same reading (an earlier version stored them apart, and both trained); %d of them repeat(s) "
            "an earlier label; the answer that counts changed for %d reading(s)",
            path,
            merged.joined,
            merged.alerts,
            merged.repeats,
            merged.changed,
        )


def _add_indexes(db: sqlite3.Connection) -> None:
    """Create the indexes of :data:`SCHEMA` a store of this version lacks (an index is no change of
    layout: an earlier release of it reads the store, and keeps it up to date)."""
    have = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    missing = [sql for name, sql in _indexes().items() if name not in have]
    if missing:
        db.executescript("BEGIN IMMEDIATE;\n" + ";\n".join(missing) + ";\nCOMMIT;")


@cache
def _indexes() -> dict[str, str]:
    """Each index of :data:`SCHEMA` (the named ones) and the statement that creates it."""
    db = sqlite3.connect(":memory:")
    try:
        db.executescript(SCHEMA)
        rows = db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")
        return dict(rows.fetchall())
    finally:
        db.close()


def refuse_other_than_a_file(path: Path) -> None:
    """A folder, FIFO, socket or device at the store's name is no store that is damaged: say what it is
    (SQLite says "unable to open" or "disk I/O error"). Missing: the store is created."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return
    if stat.S_ISREG(mode):
        return
    kind = "folder" if stat.S_ISDIR(mode) else "fifo" if stat.S_ISFIFO(mode) else "special file"
    raise LabelStoreError(
        f"{path} is a {kind}, not a file: no label store. Check that retrain.label_store names the store's "
        "file (a new one is created where none exists), or move the thing in its place aside"
    )
