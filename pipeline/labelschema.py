"""The tables of the retrainer's SQLite label store (:class:`~pipeline.labelstore.LabelStore` says what
each holds). Every statement is ``IF NOT EXISTS``: opening an existing store leaves its data as it is,
and :data:`COLUMNS_ADDED` names the columns a store written by an earlier version lacks (added on open,
empty: their readers fall back as each says)."""

__all__ = ["COLUMNS_ADDED", "SCHEMA"]

# (table, column, declaration): columns added since the table was first written.
# alerts.started_at: the earliest record time of the episode's faulty readings (NULL: its opened_at).
COLUMNS_ADDED = (("alerts", "started_at", "REAL"),)

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
    source TEXT NOT NULL UNIQUE
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
CREATE TABLE IF NOT EXISTS readings (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    asset_id TEXT NOT NULL,
    ts REAL NOT NULL,
    values_json TEXT NOT NULL,
    UNIQUE (asset_id, ts)
);
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
