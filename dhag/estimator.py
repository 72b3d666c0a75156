"""The DHAG estimator: scikit-learn / PyOD style fit, score, predict, explain, save and load."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Self

import numpy as np
import torch

from dhag.calibration import Calibration
from dhag.ensemble import DHAGEnsemble, train_members
from dhag.exceptions import TrainingError
from dhag.fitrecord import training_record
from dhag.fitted import FittedScoring
from dhag.health import check_finite_weights, outlier_probe
from dhag.modules import DHAGNet
from dhag.params import (
    ARCH_PARAMS,
    Settings,
    resolve_device,
    resolve_seed,
    train_config,
    validate_params,
)
from dhag.preprocessing import Preprocessor
from dhag.retry import report_collapse
from dhag.snapshots import kept_networks, report_fewer_snapshots
from dhag.splits import fit_rows
from dhag.threshold import check_normal_scores, check_threshold
from dhag.training import TrainConfig

logger = logging.getLogger("dhag")

__all__ = ["DHAG", "resolve_device"]


class DHAG(FittedScoring, Calibration, Settings):
    """Anomaly detector trained on normal rows against diversified, hard-to-distinguish synthetic
    anomalies made by learned latent perturbations (Kim and Lee, CIKM 2024).

    ``decision_function`` returns an anomaly score in [0, 1], higher = more anomalous. ``threshold_``
    is calibrated without labels: at ``target_far`` (None, the default: 0.01) on held-out normal
    training rows (a random ``validation_fraction`` of them; for rows in time order,
    ``validation_split="blocks"`` holds out whole stretches spread over the data and ``"last"`` the last
    rows), or, when ``contamination`` is set instead (with ``target_far`` set too, ``fit`` refuses the
    pair), at that quantile of the training scores; never below ``min_threshold`` when that is set
    (0.5, the discriminator's own boundary, where normal scores crowd into a narrow band that a
    quantile lands just above).

    Training follows the paper's Algorithm 1 (all parts minimise it, fixed lambda1, synthetic anomalies
    from the perturbators only; ``perturbator_game="adversarial"``: the perturbators ascend ``L_ce``,
    as the paper's prose has it, ``docs/benchmarks.md`` section 1.7). ``L_ce`` weighs row by row as the
    paper's equation (2) (``ce_weighting="rows"``), or normal latents and synthetic anomalies as two
    equal classes as the method's reference implementation does (``"classes"``, section 1.10).
    ``recipe="reference"`` builds the networks and the regularisers as that implementation does too
    (:data:`dhag.modules.RECIPES`; :func:`dhag.losses.norm_loss`, :func:`dhag.losses.diversity_loss`). When
    that training collapses (its last ``L_ce`` within 1 % of a constant predictor's, every row scored
    alike: so on every KDD seed), ``collapse_retry`` (on by default) trains once more from the same
    seed with the shifted-row anomalies below, and the ``L_ce`` controller too when ``retry_ce_target``
    is set (the plant model's choice). Both rules use no label and can also be switched on from the start:

    - Shifted-row anomalies (``shift_weight``, ``shift_range``, ``shift_mode``): copies of each
      mini-batch's rows with one z-scored column moved ``shift_range`` standard deviations from its
      value (``"offset"``) or past the column's training range (``"beyond"``), entered like known
      anomalies.
    - The ``L_ce`` controller (``ce_target``): lambda1 (``lambda_norm``, its starting value) is steered
      after each update so that ``L_ce`` stays near ``ce_target`` times a constant predictor's;
      ``ce_target=None`` keeps lambda1 fixed, as in the paper. :mod:`dhag.retry` explains both.

    ``training_`` records the final lambda1, ``ce_vs_constant`` (the last epoch's ``L_ce`` over a
    constant predictor's; ``collapsed`` when at least 0.99) and ``outlier_probe_auroc``: how often
    held-out normal rows with one column pushed 6 to 9 standard deviations away outscore the rows
    themselves (see :mod:`dhag.health`).

    ``random_state`` seeds the fit: an int, or None for a fresh seed each fit, or a numpy ``RandomState``
    or ``Generator``, from which each fit draws its seed (consuming from it, as scikit-learn's
    estimators do). ``training_["seed"]`` is the seed a fit used; a saved model records it as its
    ``random_state`` where a generator gave it.

    ``n_members`` > 1 trains that many networks on the same rows, member ``m`` from ``random_state +
    1000 m`` (member 0 is the single model), and scores with the mean of their scores: steadier over
    seeds and machines, at that many times the cost (:mod:`dhag.ensemble`, ``docs/benchmarks.md`` 1.8).
    ``training_["members"]`` then records each member; the epochs, history and attempts above it are
    member 0's, ``ce_vs_constant`` the lowest member's, and ``collapsed`` holds only if every one did.
    ``snapshots`` > 1 keeps that many end-of-epoch states of each training over the second half of the
    planned epochs and scores with their mean (:mod:`dhag.snapshots`; ``training_["snapshot_epochs"]``).

    Training runs ``max_epochs`` epochs or ``max_steps`` updates, whichever ends first (or until
    ``time_budget`` seconds have passed, checked after every update, so an epoch of a large table
    cannot outlast it), and keeps the last weights. ``time_budget`` bounds all the training of a fit:
    every member's share and, within it, the first training and its collapse retry together. With
    ``collapse_retry`` the first training may use half of it, as the retry is needed exactly when that
    training failed; the retry gets all that is left (none left: the collapsed training is kept and a
    warning says so), and ``collapse_retry=False`` leaves a single training all of it. A training the
    budget stopped within its first epoch is logged with what one epoch takes. Scoring the rows for the
    threshold is inside it (training leaves room for it, :mod:`dhag.scoringroom`), preparing them
    outside; ``average_weights=True`` the mean of the
    end-of-epoch weights over the second half of the planned epochs (much worse where the retry
    steers lambda1, ``docs/benchmarks.md`` 1.3); ``early_stopping=True`` the epoch with the lowest
    held-out objective, which comes early as the objective hardens its own task (epoch 3 of 13 on
    KDD).

    After ``fit``, as PyOD's detectors: ``decision_scores_``, the score of every row of ``X`` in its
    order (float64, known anomalies included; the scores the threshold is calibrated from, one pass
    of the network over ``X``), and ``labels_``, those above ``threshold_`` (``predict(X)``'s 0 / 1;
    a ``threshold_`` set later moves them with it). Both describe the rows of one fit: a clone has
    neither, a copy or a pickle keeps them, and an artifact does not hold them (they are as long as the
    training table): a model from :meth:`load` raises ``AttributeError`` saying so.
    ``feature_names_in_`` is set by every fit, as a list (names given by ``feature_names``, or ``x0``,
    ``x1``, ... for an unnamed array), unlike scikit-learn's, which only named input sets.

    ``categorical`` columns are one-hot encoded and ``passthrough`` ones kept unscaled
    (:class:`~dhag.preprocessing.Preprocessor`). A categorical with over 100 categories that outnumber
    half the rows is refused as a column that identifies rows; ``allow_many_categories=True`` keeps such
    columns, for a small table whose categories are real ones.

    Example
    -------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(512, 4))
    >>> det = DHAG(max_epochs=3, batch_size=128, random_state=0).fit(X)
    >>> scores = det.decision_function(np.array([[0.0, 0.0, 0.0, 0.0], [9.0, -9.0, 9.0, -9.0]]))
    >>> bool(((scores >= 0) & (scores <= 1)).all())
    True
    >>> det.decision_scores_.shape, bool((det.labels_ == det.predict(X)).all())
    ((512,), True)
    """

    def __init__(
        self,
        *,
        latent_dim: int = 64,
        encoder_layers: int = 4,
        n_perturbators: int = 5,
        perturbator_hidden: int = 64,
        discriminator_hidden: int = 32,
        k: float = 0.4,
        lambda_norm: float = 1.0,
        lambda_div: float = 0.1,
        ce_target: float | None = None,
        perturbator_game: str = "cooperative",
        ce_weighting: str = "rows",
        recipe: str = "paper",
        batch_size: int = 256,
        lr: float = 5e-3,
        discriminator_lr: float = 1e-5,
        discriminator_decay_epoch: int = 20,
        discriminator_decay: float = 0.1,
        known_weight: float = 1.0,
        shift_weight: float = 0.0,
        shift_range: tuple[float, float] | list[float] = (2.0, 4.0),
        shift_mode: str = "offset",
        collapse_retry: bool = True,
        retry_ce_target: float | None = None,
        max_epochs: int = 100,
        max_steps: int | None = 20_000,
        time_budget: float | None = None,
        early_stopping: bool = False,
        average_weights: bool = False,
        patience: int = 10,
        min_delta: float = 1e-3,
        validation_fraction: float = 0.1,
        validation_split: str = "random",
        target_far: float | None = None,
        contamination: float | None = None,
        min_threshold: float | None = None,
        categorical: tuple[str, ...] | list[str] = (),
        allow_many_categories: bool = False,
        passthrough: tuple[str, ...] | list[str] = (),
        feature_names: tuple[str, ...] | list[str] | None = None,
        device: str = "auto",
        bf16: bool = False,
        random_state: int | np.random.RandomState | np.random.Generator | None = None,
        n_members: int = 1,
        snapshots: int = 1,
        progress: bool = False,
    ) -> None:
        self.latent_dim = latent_dim
        self.encoder_layers = encoder_layers
        self.n_perturbators = n_perturbators
        self.perturbator_hidden = perturbator_hidden
        self.discriminator_hidden = discriminator_hidden
        self.k = k
        self.lambda_norm = lambda_norm
        self.lambda_div = lambda_div
        self.ce_target = ce_target
        self.perturbator_game = perturbator_game
        self.ce_weighting = ce_weighting
        self.recipe = recipe
        self.batch_size = batch_size
        self.lr = lr
        self.discriminator_lr = discriminator_lr
        self.discriminator_decay_epoch = discriminator_decay_epoch
        self.discriminator_decay = discriminator_decay
        self.known_weight = known_weight
        self.shift_weight = shift_weight
        self.shift_range = shift_range
        self.shift_mode = shift_mode
        self.collapse_retry = collapse_retry
        self.retry_ce_target = retry_ce_target
        self.max_epochs = max_epochs
        self.max_steps = max_steps
        self.time_budget = time_budget
        self.early_stopping = early_stopping
        self.average_weights = average_weights
        self.patience = patience
        self.min_delta = min_delta
        self.validation_fraction = validation_fraction
        self.validation_split = validation_split
        self.target_far = target_far
        self.contamination = contamination
        self.min_threshold = min_threshold
        self.categorical = categorical
        self.allow_many_categories = allow_many_categories
        self.passthrough = passthrough
        self.feature_names = feature_names
        self.device = device
        self.bf16 = bf16
        self.random_state = random_state
        self.n_members = n_members
        self.snapshots = snapshots
        self.progress = progress

    # -- settings --------------------------------------------------------------------------------
    _ARCH = ARCH_PARAMS

    def training_config(self) -> TrainConfig:
        """The validated settings of the training loop (:class:`dhag.training.TrainConfig`)."""
        validate_params(self)
        return train_config(self)

    # -- fitting ---------------------------------------------------------------------------------
    @torch.inference_mode(False)  # training needs autograd, in whatever mode the caller fits (restored)
    @torch.enable_grad()
    def fit(self, X: Any, y: Any = None, *, on_epoch: EpochHook | None = None) -> DHAG:
        """Train on rows of ``X``; ``y`` (optional) marks known anomalies with 1, others 0.

        Rows with ``y == 1`` feed only the semi-supervised term; the rest are the normal set.
        Learned state from an earlier fit is discarded. Returns self. ``on_epoch(record, score)``
        is called after every epoch of every attempt; ``score(X)`` is what ``decision_function(X)``
        would give with the network as it stands then (it does not change the training).
        """
        validate_params(self)
        cfg = train_config(self)
        device = resolve_device(self.device)
        started = time.perf_counter()
        seed = resolve_seed(self.random_state)
        rows = fit_rows(
            X,
            y,
            feature_names=self.feature_names,
            categorical=self.categorical,
            passthrough=self.passthrough,
            allow_many_categories=self.allow_many_categories,
            fraction=float(self.validation_fraction),
            split=self.validation_split,
            rng=np.random.default_rng(seed),
        )
        pre = rows.preprocessor

        x_train = torch.as_tensor(rows.train, device=device)
        x_val = torch.as_tensor(rows.validation, device=device) if len(rows.validation) else None
        x_known = torch.as_tensor(rows.known, device=device) if len(rows.known) else None
        numeric = rows.numeric_columns()
        shift_columns = torch.tensor(numeric, dtype=torch.long, device=device)
        # Sizes as Python ints, whatever number type gave them (a search draws np.int64).
        arch = {a: getattr(self, a) if a == "recipe" else int(getattr(self, a)) for a in self._ARCH}
        make_net = functools.partial(DHAGNet, n_features=rows.normal.shape[1], **arch)
        members = train_members(
            make_net,
            x_train,
            cfg,
            seed=seed,
            n_members=int(self.n_members),
            retry=self.collapse_retry,
            retry_ce_target=None if self.retry_ce_target is None else float(self.retry_ce_target),
            x_val=x_val,
            x_known=x_known,
            shift_columns=shift_columns,
            on_epoch=None if on_epoch is None else functools.partial(_snapshot, on_epoch, pre),
        )
        # Member 0 is the fit's single model; the ensemble collapsed only when every member did (a
        # collapsed member adds a near-constant to the mean and leaves the others' ranking).
        collapsed = all(t.collapsed for t in members)
        ce_ratio = min(t.ce_ratio for t in members)
        nets = [n for t in members for n in kept_networks(t.net, t.result, make_net)]
        net = nets[0] if len(nets) == 1 else DHAGEnsemble(nets)
        check_finite_weights(net)
        # Every row of X scored once, in one pass as decision_function(X) scores them: the threshold is
        # then one of decision_scores_ (or min_threshold), and labels_ are predict(X) to the last bit.
        scores = net.anomaly_scores(rows.matrix)
        train_scores, validation_scores = rows.split_scores(scores)
        normal_scores = np.concatenate([train_scores, validation_scores])
        check_normal_scores(normal_scores, pre, rows.normal)
        # contamination takes its share of every normal row's scores: none is held out for it.
        held_out = len(rows.validation) > 0 and self.contamination is None
        calib = validation_scores if held_out else normal_scores
        threshold = self._calibrate(calib, normal_scores, held_out=held_out)
        try:
            check_threshold(threshold, pre, rows.normal)
        except TrainingError as exc:
            # Its ranking may still serve (``decision_function``, a benchmark's top-k); a model meant to
            # flag rows is refused where one is made for that (``dhag train``, the plant's trainers).
            logger.warning("%s predict will flag nothing; decision_function still ranks rows", exc)
        self.preprocessor_ = pre
        self.net_ = net
        self.metadata_: dict[str, Any] = {}  # an earlier model's metadata is not this one's
        self.__dict__.pop("_positional_said", None)  # nor its note on reading arrays in its feature order
        self.device_ = device
        self.n_features_in_ = len(pre.feature_names_in_)
        self.feature_names_in_ = list(pre.feature_names_in_)
        self.threshold_ = threshold
        self._training_scores = scores
        probe = outlier_probe(self._raw_scores, rows.calibration, numeric, seed=seed) if numeric else np.nan
        report_collapse(collapsed, members[0].attempts[-1], ce_ratio, probe)
        report_fewer_snapshots(cfg, members[0].result)
        self.training_ = training_record(
            members,
            rows,
            calib,
            seed=seed,
            collapsed=collapsed,
            ce_ratio=ce_ratio,
            probe=probe,
            lambda_norm=float(self.lambda_norm),
            split=self.validation_split if held_out else None,
            device=device,
            fit_seconds=time.perf_counter() - started,
        )
        return self

    def fit_predict(self, X: Any, y: Any = None, **fit_params: Any) -> np.ndarray:
        """Fit on ``X`` (and ``y``, as :meth:`fit`, which takes ``fit_params``), then return ``labels_``:
        0 (normal) / 1 (anomaly) per training row, as PyOD's detectors do (not scikit-learn's -1 / 1 of
        ``OutlierMixin``).

        Example
        -------
        >>> X = np.vstack([np.random.default_rng(0).normal(size=(512, 3)), [[30.0, -30.0, 30.0]]])
        >>> labels = DHAG(max_epochs=3, batch_size=128, random_state=0).fit_predict(X)
        >>> labels.shape, int(labels[-1])
        ((513,), 1)
        """
        return self.fit(X, y, **fit_params).labels_

    def fit_transform(self, X: Any, y: Any = None, **fit_params: Any) -> np.ndarray:
        """Fit on ``X`` (and ``y``, as :meth:`fit`, which takes ``fit_params``), then return
        :meth:`transform` of ``X``: the preprocessed float32 matrix the network was trained on, as
        scikit-learn's transformers give it (``fit(X, y).transform(X)``).

        Example
        -------
        >>> X = np.random.default_rng(0).normal(size=(512, 3))
        >>> DHAG(max_epochs=1, batch_size=128, random_state=0).fit_transform(X).shape
        (512, 3)
        """
        return self.fit(X, y, **fit_params).transform(X)

    # -- persistence -----------------------------------------------------------------------------
    def save(self, path: str | Path, *, metadata: dict[str, Any] | None = None) -> Path:
        """Write the fitted model to one self-describing file, atomically (``~`` in ``path`` is the home
        folder). See :mod:`dhag.artifact`."""
        from dhag.artifact import save_model

        self._check_fitted()
        return save_model(self, path, metadata=metadata)

    @classmethod
    def load(cls, path: str | Path, *, device: str = "cpu") -> Self:
        """Load a model written by :meth:`save` (``~`` in ``path`` is the home folder) as an instance of
        the class it is called on (:func:`~dhag.asclass.as_class`); refuses truncated, tampered or
        foreign files."""
        from dhag.artifact import load_model
        from dhag.asclass import as_class

        resolve_device(device, given_to="DHAG.load")  # named as this method's, not load_model's
        model = load_model(path, device=device)
        return model if cls is DHAG else as_class(model, cls)


# fit's on_epoch(record, score): an epoch's training record, a scorer of rows by the network then.
EpochHook = Callable[[dict[str, float], Callable[[Any], np.ndarray]], None]


def _snapshot(on_epoch: EpochHook, pre: Preprocessor, record: dict[str, float], net: DHAGNet) -> None:
    on_epoch(record, lambda X: net.anomaly_scores(pre.transform(X)))
