"""The retrainer's settings (``retrain:`` in ``config.yaml``), a section of
:class:`pipeline.config.Settings`: its consumer group, label store, triggers, samples, gate and the
training of a candidate."""

from __future__ import annotations

from pydantic import Field

from pipeline.configvalues import Device, FilePath, GroupId, Section

__all__ = ["RetrainSettings"]


class RetrainSettings(Section):
    """The retrainer (``dhag-pipeline retrain``): its consumer group, label store, triggers and gate."""

    group_id: GroupId = "dhag-retrainer"
    metrics_port: int = Field(9110, ge=0, le=65535)
    label_store: FilePath | None = None  # None: <model.registry>/labels.sqlite
    # Triggers: this many new labels since the last run (0: off), a schedule (0: off), score drift.
    min_new_labels: int = Field(20, ge=0)
    interval_s: float = Field(86_400.0, ge=0)
    on_drift: bool = True
    min_interval_s: float = Field(600.0, ge=0)
    # A label naming an alert not seen yet waits this long, then is dead-lettered (unknown_alert).
    label_retry_s: float = Field(600.0, gt=0)
    max_pending_labels: int = Field(100_000, ge=1)  # at most; one more: dead-lettered at once
    max_label_bytes: int = Field(16_384, ge=256, le=1_048_576)
    # The recent normal sample: one reading in `normal_sample_every` of each asset, at most
    # `normal_sample_size` kept (older ones thinned), none within `episode_margin_s` of an alert episode
    # that no operator rejected.
    normal_sample_size: int = Field(20_000, ge=100)
    normal_sample_every: int = Field(10, ge=1)
    # An asset with no reading in the sample's last `asset_retire_s` leaves it (null: never), once the
    # store has received readings for that long, and a reading dated that long before the sample's
    # newest is not sampled; alerts recorded over `alert_retention_s` ago are forgotten, except those
    # the sample needs (null: never).
    asset_retire_s: float | None = Field(30 * 86_400.0, gt=0)
    alert_retention_s: float | None = Field(90 * 86_400.0, gt=0)
    episode_margin_s: float = Field(300.0, ge=0)
    min_normal_rows: int = Field(500, ge=10)
    # The reference sample published with every model: the normal operation it was trained on, carried
    # forward into its successor's training (at most half of it replaced by recent readings per run).
    # Large enough to hold a first model's whole history on a fleet of tens of assets (a day of 24 at a
    # reading every 30 s is 69,120), so that a candidate knows as much normal operation as its parent.
    reference_sample_size: int = Field(100_000, ge=100)
    # After each run the registry keeps the newest `keep_versions` versions, the current one and the
    # rollback history; older ones lose their artifact, sample and report (pipeline.retention).
    keep_versions: int = Field(50, ge=1)
    # Copies of a rejected alert's reading in the normal training set (at most `rejected_max_share`).
    rejected_weight: int = Field(10, ge=1, le=1000)
    rejected_max_share: float = Field(0.25, gt=0, lt=1)
    # The gate: the newest `holdout_fraction` of labels and of the normal sample judge both models
    # (labels of one asset within `episode_margin_s` of each other are one fault, on one side of the cut).
    holdout_fraction: float = Field(0.3, gt=0, lt=1)
    holdout_block_s: float = Field(3600.0, gt=0)
    max_recall_drop: float = Field(0.05, ge=0, le=1)
    # ... and only when the candidate's misses would be unlikely (below this probability) for a model
    # `max_recall_drop` worse than the current one: a single miss among a few held-out alerts is not.
    recall_significance: float = Field(0.05, gt=0, le=1)
    max_false_alarm_increase: float = Field(0.05, ge=0, le=1)
    false_alarm_significance: float = Field(0.05, gt=0, le=1)
    max_far_increase: float = Field(0.01, ge=0, le=1)
    # ... and at most this many times its share of held-out normal readings flagged, unless that many
    # flags are likely (at `far_significance`) for a model flagging exactly that much.
    max_far_ratio: float = Field(2.0, ge=1)
    far_significance: float = Field(0.05, gt=0, le=1)
    # Training of the candidate.
    device: Device = "auto"
    max_epochs: int = Field(30, ge=1)
    time_budget_s: float = Field(300.0, gt=0)
    seed: int = Field(0, ge=0, le=2**32 - 1)  # DHAG's random_state (dhag.params.MAX_SEED)
