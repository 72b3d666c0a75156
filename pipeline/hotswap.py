"""Hot swap: the model in use as one object, the checks a replacement must pass, and the reloader.

The daemon calls :meth:`ModelReloader.check` between batches. At most every ``model.reload_check_s``
seconds it stats and reads the registry's ``current`` file (a few bytes); only when that file changed (a
promote, a rollback, a publish: each replaces it with a new file), in its stat or in its bytes (a volume
with coarse timestamps that reuses inodes may give a rewrite the old stat), does it read the version,
load and verify that model, and hand it to :meth:`~pipeline.processing.BatchProcessor.swap_model`, which
switches in one assignment. A model that fails (missing, corrupt, wrong format or recorded version,
different sensors, unusable scores) is refused: ``dhag_model_reloads_total{result="failed"}`` counts it,
an error is logged, the model in use keeps serving, and the same pointer is not tried again until
``current`` changes again; except when reading a file failed (``io_error``: no permission, an I/O error),
which says nothing of the version: that is tried again at every check until the read works, counted and
logged once.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dhag import DHAG, DHAGError
from dhag.topfeatures import raising
from pipeline import registry, suspects
from pipeline.alertevents import imputed_sensors, range_side
from pipeline.backoff import ThrottledLog
from pipeline.config import ModelSettings, RecordSettings
from pipeline.errors import ModelUnavailableError
from pipeline.features import DERIVED_FEATURES, FEATURE_MEANINGS, PlantFeatures
from pipeline.metrics import PipelineMetrics
from pipeline.modelinput import by_name
from pipeline.records import KafkaTime, RecordParser
from pipeline.recordtypes import ParsedBatch
from pipeline.scorerefusal import refusal_detail

if TYPE_CHECKING:
    from pipeline.processing import BatchProcessor

__all__ = ["ActiveModel", "ModelReloader", "bind_model", "verify_replacement"]

log = logging.getLogger(__name__)
_THROTTLED = ThrottledLog(log, 60.0)  # a sensor stuck at an absurd value: a line a minute, not per batch


@dataclass(frozen=True)
class ActiveModel:
    """A loaded model with everything scoring derives from it; the processor swaps it as one object."""

    model: DHAG
    version: str
    threshold: float
    features: list[str]
    means: dict[str, float]
    derived: PlantFeatures | None
    parser: RecordParser
    #: Per feature, its training ``[min, max]``; empty for a model saved before the range was kept.
    ranges: dict[str, list[float]] = field(default_factory=dict)

    @functools.cached_property
    def _bounds(self) -> tuple[dict[str, int], np.ndarray]:
        """Asset -> row of a ``(k, n_features, 2)`` table of ``[low, high]``; row 0 is the model's own."""
        table = [np.array([self.ranges.get(name, (-np.inf, np.inf)) for name in self.features], dtype=float)]
        index: dict[str, int] = {}
        per_asset = self.derived.ranges if self.derived is not None else {}
        if per_asset and list(self.features) == list(DERIVED_FEATURES):
            for asset, own in per_asset.items():
                index[asset] = len(table)
                table.append(np.array(own, dtype=float))
        return index, np.stack(table)

    def training_ranges(self, asset_ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """``(low, high)``, one row per asset id and one column per feature: the range a reading is held
        to. A model on derived plant features keeps one per asset (what that machine did in training);
        other assets and models use the model's own range over all its training rows; -inf/inf where
        neither is known (a model saved before ranges were kept)."""
        index, table = self._bounds
        rows = np.fromiter((index.get(a, 0) for a in asset_ids), dtype=np.intp, count=len(asset_ids))
        chosen = table[rows]
        return chosen[:, :, 0], chosen[:, :, 1]

    def score(self, matrix: np.ndarray) -> tuple[np.ndarray, dict[int, DHAGError]]:
        """Scores of the rows of model input, and why each row that could not be scored was refused
        (row -> the model's error): one batched call when all is well, else row by row, so one bad row
        costs only itself."""
        model, names = self.model, self.features  # the matrix's columns are the model's features
        (scores,), refused = self._rows(
            matrix, lambda rows: (model.decision_function(by_name(names, rows)),), 1
        )
        return scores, refused

    def scores_and_logits(self, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict[int, DHAGError]]:
        """As :meth:`score`, with the network's logit of each row from the same pass (the score is its
        sigmoid; :meth:`~dhag.DHAG.score_and_logit_matrix`): refused rows are 0.0 in both."""
        model, names = self.model, self.features
        (scores, logits), refused = self._rows(
            matrix, lambda rows: model.score_and_logit_matrix(model.transform(by_name(names, rows))), 2
        )
        return scores, logits, refused

    def _rows(
        self, matrix: np.ndarray, call: Callable[[np.ndarray], Sequence[np.ndarray]], width: int
    ) -> tuple[list[np.ndarray], dict[int, DHAGError]]:
        """``call``'s ``width`` arrays over the rows, batched, else row by row as :meth:`score` says."""
        try:
            return list(call(matrix)), {}
        except DHAGError as exc:
            _THROTTLED.log(
                "batched", logging.WARNING, "batched scoring refused (%s); scoring row by row", exc
            )
        out = [np.zeros(matrix.shape[0]) for _ in range(width)]
        refused: dict[int, DHAGError] = {}
        for j in range(matrix.shape[0]):
            try:
                for column, got in zip(out, call(matrix[j : j + 1]), strict=True):
                    column[j] = got[0]
            except DHAGError as exc:
                refused[j] = exc
        return out, refused

    def refusal(self, exc: DHAGError, row: np.ndarray, values: Mapping[str, Any]) -> str:
        """A dead letter's detail for a reading (its model input ``row`` and its ``values``) that
        :meth:`score` refused with ``exc`` (:func:`~pipeline.scorerefusal.refusal_detail`)."""
        derived = self.derived is not None
        return refusal_detail(self.model, self.features, exc, row, values, derived=derived)

    def outside_training_range(self, matrix: np.ndarray, asset_ids: Sequence[str]) -> np.ndarray:
        """Per row of model input: whether a feature lies beyond the row's training range
        (:meth:`training_ranges`)."""
        if matrix.size == 0:
            return np.zeros(matrix.shape[0], dtype=bool)
        low, high = self.training_ranges(asset_ids)
        return ((matrix < low) | (matrix > high)).any(axis=1)

    def top_sensors(
        self,
        ranked: Sequence[tuple[str, float]],
        row: np.ndarray,
        asset_id: str,
        imputed: Collection[str] = (),
    ) -> list[dict[str, Any]]:
        """An alert event's ``top_sensors``: for each ``(feature, contribution)`` of the model's
        attribution, the row's value, the training mean and the asset's training range, and on which
        side of that range the value lies (None inside it, or when no range is known). A derived plant
        feature also says what it means and which raw sensors it comes from. ``imputed`` (True or
        False): whether the value is, or is derived from, one of the record's sensors the daemon
        ``imputed`` (the training mean in place of a value the record lacked), so that an alert never
        names a stand-in as its cause without saying so."""
        low, high = (bound[0] for bound in self.training_ranges([asset_id]))
        sensors = []
        for name, contribution in ranked:
            col = self.features.index(name)
            value = float(row[col])
            known = bool(np.isfinite(low[col]) and np.isfinite(high[col]))
            training_range = [float(low[col]), float(high[col])] if known else None
            sensors.append(
                {
                    "sensor": name,
                    "contribution": contribution,
                    "value": value,
                    "training_mean": self.means.get(name),
                    "training_range": training_range,
                    "outside_training_range": range_side(value, training_range),
                }
            )
            sources: Sequence[str] = (name,)
            if self.derived is not None and name in FEATURE_MEANINGS:
                meaning, sources = FEATURE_MEANINGS[name]
                sensors[-1] |= {"meaning": meaning, "from_sensors": list(sources)}
            sensors[-1]["imputed"] = any(source in imputed for source in sources)
        return sensors

    def explain(
        self,
        matrix: np.ndarray,
        asset_ids: Sequence[str],
        imputed: Sequence[Collection[str]],
        *,
        top: int,
    ) -> list[list[dict[str, Any]]]:
        """The ``top_sensors`` of alerts opened on rows of model input: the model's attribution of
        each row (:meth:`~dhag.DHAG.explain`, those of its ``top`` features that raise the score), each
        entry as :meth:`top_sensors` describes it, with the row's asset and its ``imputed`` sensors.
        The daemon's alert events and the plant bench's measure of naming both come from here."""
        if matrix.shape[0] == 0:
            return []
        # Only the features that raise the score are causes: one whose reading makes the row look more
        # normal (a negative contribution) or changes nothing is not named (dhag.topfeatures.raising).
        explained = self.model.explain(by_name(self.features, matrix), top=top, logit_drops=True)
        return [
            self.top_sensors(raising(ranked), matrix[j], asset_ids[j], imputed[j])
            for j, ranked in enumerate(explained)
        ]

    def suspect_sensors(
        self,
        values: Sequence[Mapping[str, Any]],
        asset_ids: Sequence[str],
        imputed: Sequence[Collection[str]],
        *,
        top: int,
    ) -> list[list[dict[str, Any]]]:
        """The ``suspect_sensors`` of alerts opened on readings (:func:`pipeline.suspects.suspect_sensors`):
        which single raw sensor, read differently, makes the reading look most normal to the model,
        ranked by the lowest logit its candidate values reached, so that a reading whose score stays
        saturated at 1.0 whatever one sensor reads still names the one whose change moves the network
        furthest towards normal. ``values`` are the readings as parsed (a record's ``values``), with
        their asset ids and ``imputed`` sensors (:func:`~pipeline.alertevents.imputed_sensors`)."""
        return suspects.suspect_sensors(self, values, asset_ids, imputed, top=top)

    def parse(self, records: Sequence[Any], kafka_time: KafkaTime | None = None) -> ParsedBatch:
        """Consumer ``records`` (with a ``value``) parsed for this model: a plant model's rows are its
        derived features, each missing sensor imputed with the asset's own training mean (the parser's
        stand-in is the fleet's); ``kafka_time``: the records' Kafka time (default: of them)."""
        kafka_time = KafkaTime(records) if kafka_time is None else kafka_time
        parsed = self.parser.parse([rec.value for rec in records], broker_now=kafka_time)
        if self.derived is not None and parsed.indices:
            if parsed.imputed:
                missing = [imputed_sensors(v, self.parser.features) for v in parsed.values]
                mask = np.array([[name in m for name in self.parser.features] for m in missing], dtype=bool)
                parsed.matrix = self.derived.impute(parsed.matrix, parsed.asset_ids, mask)
            parsed.matrix = self.derived.transform(parsed.matrix, parsed.asset_ids)
        return parsed

    @property
    def inputs(self) -> list[str]:
        """The sensors a record must carry for this model (raw inputs of derived features, if any)."""
        return list(self.derived.inputs) if self.derived is not None else self.features


def bind_model(model: DHAG, version: str, records: RecordSettings) -> ActiveModel:
    """The :class:`ActiveModel` of a fitted or loaded model, with a record parser for its inputs."""
    features = list(model.feature_names_in_)
    means = dict(model.preprocessor_.means_)
    # A model trained on derived features (pipeline.features) reads raw sensors and derives them.
    derived = PlantFeatures.from_model(model)
    parser = RecordParser(
        derived.inputs if derived is not None else features,
        derived.input_means if derived is not None else means,
        missing_policy=records.missing_policy,
        max_record_bytes=records.max_record_bytes,
        asset_id_pattern=records.asset_id_pattern,
        max_future_s=records.max_future_s,
        max_imputed_fraction=records.max_imputed_fraction,
    )
    ranges = dict(model.preprocessor_.ranges_)
    return ActiveModel(model, version, float(model.threshold_), features, means, derived, parser, ranges)


def verify_replacement(in_use: ActiveModel, candidate: ActiveModel) -> ActiveModel:
    """Return ``candidate`` when it may replace ``in_use``; raise :class:`ModelUnavailableError` if not.

    It must read the same set of sensors (the producers send what the running model reads; changing
    the sensor set is a restart). That it can be served at all (its threshold, its scores) was checked
    when it was loaded (:func:`pipeline.registry.load_version`).
    """
    version = candidate.version
    if sorted(candidate.inputs) != sorted(in_use.inputs):
        raise ModelUnavailableError(
            f"Model version {version!r} reads the sensors {sorted(candidate.inputs)}, but the model in "
            f"use ({in_use.version!r}) reads {sorted(in_use.inputs)}; a different sensor set needs a "
            "restart of the daemon."
        )
    return candidate


_Stamp = tuple[int, int, int, int, bytes | None] | None
# ``current`` holds a version name (at most 100 characters and a newline); a longer file names none.
_POINTER_READ_LIMIT = 4096


class ModelReloader:
    """Watches ``model.registry``'s ``current`` file and swaps the processor's model when it changes.

    ``clock`` (monotonic seconds) is injectable for tests.
    """

    def __init__(
        self,
        settings: ModelSettings,
        processor: BatchProcessor,
        metrics: PipelineMetrics,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.processor = processor
        self.metrics = metrics
        self.clock = clock
        self.pointer = Path(settings.registry) / registry.CURRENT
        self._last_check = -math.inf
        self._seen: _Stamp | str = "unchecked"
        self._read_failed: _Stamp | str = "none"  # the pointer whose version last failed to be read
        self._stat_failed: str | None = None  # the error the pointer's last stat gave

    def _stamp(self) -> _Stamp:
        """What tells one ``current`` from another: its stat (device, inode, mtime, size) and its bytes.
        The stat alone misses a rewrite within one timestamp tick to another version of the same length
        on a volume that reuses inodes; the file is a version name, so reading it costs a stat's worth.
        Bytes that cannot be read (no permission, an I/O error) are None: reading the version then fails
        as an ``io_error``, which is tried again at every check."""
        try:
            st = os.stat(self.pointer)
        except FileNotFoundError:
            return None
        try:
            with open(self.pointer, "rb") as fh:
                content: bytes | None = fh.read(_POINTER_READ_LIMIT)
        except OSError:
            content = None
        return (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size, content)

    def check(self) -> bool:
        """Swap in a new current model if the pointer changed and the model passes; True when swapped."""
        now = self.clock()
        if now - self._last_check < self.settings.reload_check_s:
            return False
        self._last_check = now
        try:
            stamp = self._stamp()
        except OSError as exc:  # said once for each error, until the pointer can be read again
            if str(exc) != self._stat_failed:
                log.warning("cannot stat %s: %s (said again if it changes)", self.pointer, exc)
            self._stat_failed = str(exc)
            return False
        self._stat_failed = None
        if stamp == self._seen:
            return False
        self._seen = stamp
        in_use = self.processor.model_version
        try:
            version, _path = registry.current(self.settings.registry)
            if version == in_use:
                self.metrics.model_current_refused.set(0)
                return False
            model = registry.load_version(self.settings.registry, version, device=self.settings.device)
            candidate = self.processor.prepare_model(model, version)
        except (ModelUnavailableError, DHAGError, RuntimeError, ValueError, MemoryError) as exc:
            # A read the system failed (no permission, EIO), or a device that could not take the model
            # (out of memory: a RuntimeError of torch's own, or the CPU's MemoryError reading its
            # weights), says nothing of the version: tried again at every check until it works, counted
            # and said once per pointer.
            device_failed = isinstance(exc, (RuntimeError, MemoryError)) and not isinstance(exc, DHAGError)
            read_failed = getattr(exc, "fault", None) == "io_error" or device_failed
            said = read_failed and self._read_failed == stamp
            self._read_failed = stamp if read_failed else "none"
            if read_failed:
                self._seen = "unchecked"
            self.metrics.model_current_refused.set(1)
            if not said:
                self.metrics.model_reloads.labels("failed").inc()
                log.error(
                    "model reload refused, %s keeps serving (retried %s): %s",
                    in_use,
                    ("while the device fails" if device_failed else "while reading it fails")
                    if read_failed
                    else f"when {self.pointer} changes again",
                    exc,
                )
            return False
        self._read_failed = "none"  # read at last
        self.processor.swap_model(candidate)
        self.metrics.model_reloads.labels("ok").inc()
        self.metrics.model_current_refused.set(0)
        return True
