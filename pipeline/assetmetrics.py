"""The per-asset series of :class:`~pipeline.metrics.PipelineMetrics`: at most ``asset_limit`` assets
have them (beyond it an asset gets none, and the refusal is counted)."""

from __future__ import annotations

import contextlib

from prometheus_client import CollectorRegistry, Counter, Gauge

from pipeline.clockoffset import ClockOffsets
from pipeline.tablefit import TableFit

__all__ = ["AssetMetrics"]


class AssetMetrics:
    """The ``dhag_asset_*`` gauges, and the counts of assets refused them (mixed into
    :class:`~pipeline.metrics.PipelineMetrics`)."""

    asset_limit: int

    def _init_asset_metrics(self, r: CollectorRegistry, asset_limit: int) -> None:
        self._assets: set[str] = set()
        self._unlisted: set[str] = set()  # anomalous assets refused a series
        self._unlisted_fit = TableFit()  # rebuilt once a burst of them has gone (the listed are few)
        self._suspects: dict[str, str] = {}  # asset -> the sensor of its dhag_asset_suspect_sensor series
        self._stuck: dict[str, frozenset[str]] = {}  # asset -> the sensors of its dhag_asset_sensor_stuck
        self._listed_fits = TableFit(), TableFit()  # of _assets and _suspects, after a burst (forget_assets)
        self.asset_score = Gauge(
            "dhag_asset_score", "Latest anomaly score of an asset.", ["asset"], registry=r
        )
        self.asset_anomalous = Gauge(
            "dhag_asset_anomalous", "1 while an asset has an open alert.", ["asset"], registry=r
        )
        self.asset_suspect_sensor = Gauge(
            "dhag_asset_suspect_sensor",
            "1 while an asset has an open alert, for the first of the alert's suspect sensors (no series"
            " when the alert names none).",
            ["asset", "sensor"],
            registry=r,
        )
        self.asset_sensor_stuck = Gauge(
            "dhag_asset_sensor_stuck",
            "1 for each raw sensor that an asset's latest scored reading has stuck at one value (plant model:"
            " alerts.frozen_sensor_factor); no series for the others.",
            ["asset", "sensor"],
            registry=r,
        )
        self.asset_outside_training_range = Gauge(
            "dhag_asset_outside_training_range",
            "1 while an asset's latest scored reading has a feature beyond its training range.",
            ["asset"],
            registry=r,
        )
        self.asset_state = Gauge(
            "dhag_asset_state",
            "A plant model's asset by its latest scored reading: 0 running, 1 at standstill (its score is"
            " judged normal), 2 warming up (running, within alerts.warmup_s after its last standstill or a"
            " silence over alerts.warmup_after_silence_s).",
            ["asset"],
            registry=r,
        )
        self.asset_clock_offset = Gauge(
            "dhag_asset_clock_offset_seconds",
            "An asset's reading ts minus its Kafka record time (this host's clock for a record without one),"
            " the largest of its last minute or two of readings: negative, its clock is behind.",
            ["asset"],
            registry=r,
        )
        self.assets_anomalous_unlisted = Gauge(
            "dhag_assets_anomalous_unlisted",
            "Assets with an open alert but no per-asset series (beyond metrics.asset_limit).",
            registry=r,
        )
        self.asset_series_refused = Counter(
            "dhag_asset_series_refused",
            "Per-asset updates not exported because the asset limit was reached.",
            registry=r,
        )
        self.clock_offsets = ClockOffsets(
            self.asset_clock_offset, listed=self._assets, limit=asset_limit, refused=self.asset_series_refused
        )

    def set_asset(
        self,
        asset: str,
        *,
        score: float,
        anomalous: bool,
        outside_range: bool | None = None,
        state: int | None = None,
    ) -> bool:
        """Update an asset's series, unless it would be a new series beyond the asset limit (then
        False; the assets with a clock offset series only, :class:`ClockOffsets`, count in it).
        ``outside_range`` and ``state`` (:data:`pipeline.warmup.RUNNING` and its kin; a plant model's
        only) None leave the asset's beyond-training-range state and its running state as they were."""
        if asset not in self._assets:
            if len(self._assets) + self.clock_offsets.apart_besides(asset) >= self.asset_limit:
                self.asset_series_refused.inc()
                self._unlisted_fit.note(self._unlisted)
                (self._unlisted.add if anomalous else self._unlisted.discard)(asset)
                self._unlisted = self._unlisted_fit.fit(self._unlisted)
                self.assets_anomalous_unlisted.set(len(self._unlisted))
                return False
            self._assets.add(asset)
            self._unlisted.discard(asset)
            self.assets_anomalous_unlisted.set(len(self._unlisted))
        self.asset_score.labels(asset).set(score)
        self.asset_anomalous.labels(asset).set(1.0 if anomalous else 0.0)
        if not anomalous:
            self.set_suspect(asset, None)
        if outside_range is not None:
            self.asset_outside_training_range.labels(asset).set(1.0 if outside_range else 0.0)
        if state is not None:
            self.asset_state.labels(asset).set(state)
        return True

    def set_suspect(self, asset: str, sensor: str | None) -> None:
        """The open alert of ``asset`` names ``sensor`` first among its suspects (None: names none);
        nothing for an asset without per-asset series. :meth:`set_asset` removes it when the alert
        resolves, :meth:`forget_assets` with the asset's other series."""
        previous = self._suspects.pop(asset, None)
        if previous is not None and previous != sensor:
            self.asset_suspect_sensor.remove(asset, previous)
        if sensor is not None and asset in self._assets:
            self.asset_suspect_sensor.labels(asset, sensor).set(1)
            self._suspects[asset] = sensor

    def set_stuck(self, asset: str, sensors: frozenset[str]) -> None:
        """The sensors ``asset``'s latest reading has stuck (:mod:`pipeline.frozen`); nothing for an
        asset without per-asset series. :meth:`forget_assets` removes them with its other series."""
        previous = self._stuck.pop(asset, frozenset())
        kept = sensors if asset in self._assets else frozenset()
        for sensor in previous - kept:
            self.asset_sensor_stuck.remove(asset, sensor)
        for sensor in kept - previous:
            self.asset_sensor_stuck.labels(asset, sensor).set(1)
        if kept:
            self._stuck[asset] = kept

    def forget_assets(self, assets: set[str]) -> None:
        """Drop the series of assets this consumer no longer owns (their partitions were revoked)."""
        self._listed_fits[0].note(self._assets)
        self._listed_fits[1].note(self._suspects)
        for asset in assets & self._assets:
            self.set_suspect(asset, None)
            self.set_stuck(asset, frozenset())
            self.asset_score.remove(asset)
            self.asset_anomalous.remove(asset)
            with contextlib.suppress(KeyError):  # never set when only a quiet-time sweep touched it
                self.asset_outside_training_range.remove(asset)
            with contextlib.suppress(KeyError):  # nor by a raw-sensor model
                self.asset_state.remove(asset)
        self.clock_offsets.forget(assets)
        self._assets -= assets
        self._assets = self.clock_offsets.listed = self._listed_fits[0].fit(self._assets)
        self._suspects = self._listed_fits[1].fit(self._suspects)
        self._unlisted_fit.note(self._unlisted)
        self._unlisted -= assets
        self._unlisted = self._unlisted_fit.fit(self._unlisted)
        self.assets_anomalous_unlisted.set(len(self._unlisted))
