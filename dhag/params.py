"""Validation of the DHAG estimator's settings, and the device and seed a fit runs with."""

from __future__ import annotations

import difflib
import inspect
import math
import numbers
from typing import Any

import numpy as np
import torch

from dhag.columns import names_setting_problem
from dhag.exceptions import ParameterError
from dhag.losses import CE_WEIGHTINGS
from dhag.modules import RECIPES
from dhag.threshold import DEFAULT_TARGET_FAR
from dhag.training import TrainConfig

__all__ = [
    "ARCH_PARAMS",
    "Settings",
    "BEYOND_SHIFT_RANGE",
    "PERTURBATOR_GAMES",
    "resolve_device",
    "resolve_seed",
    "settings_as_trained",
    "target_far",
    "threshold_level",
    "train_config",
    "validate_params",
]

# The margin past each column's training range (in standard deviations) that shift_mode="beyond" is used
# with: the plant model's rule (pipeline/plantmodel.py) and the Table 2 variant (dhag.bench.make_dhag).
BEYOND_SHIFT_RANGE = (0.0, 2.0)

# How the perturbators play (DHAG(perturbator_game=...)): Algorithm 1's "cooperative" (every part
# minimises the objective, the default) or the prose's "adversarial" (they ascend L_ce).
PERTURBATOR_GAMES = ("cooperative", "adversarial")

# The settings that shape the networks (and so must travel with the weights): their sizes, and the recipe.
SIZE_PARAMS = ("latent_dim", "encoder_layers", "n_perturbators", "perturbator_hidden", "discriminator_hidden")
ARCH_PARAMS = (*SIZE_PARAMS, "recipe")


class Settings:
    """``get_params`` and ``set_params`` over the settings ``__init__`` takes, as scikit-learn's
    ``clone`` and searches use them. They are checked when ``fit`` runs (:func:`validate_params`).

    Example
    -------
    >>> from dhag import DHAG
    >>> DHAG().set_params(max_epochs=5, random_state=1).get_params()["max_epochs"]
    5
    >>> DHAG().set_params(epochs=5)
    Traceback (most recent call last):
    ...
    dhag.exceptions.ParameterError: DHAG has no setting 'epochs' (did you mean 'max_epochs'?); ...
    """

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The settings given to ``__init__``, by name (``deep`` is accepted for scikit-learn)."""
        return {name: getattr(self, name) for name in inspect.signature(type(self)).parameters}

    def set_params(self, **settings: Any) -> Settings:
        """Change settings by name; returns self. An unknown name is refused, changing nothing, naming a
        setting it is near (a search grid's typo) and where the settings are listed."""
        known = self.get_params()
        if unknown := sorted(set(settings) - set(known)):
            near = dict.fromkeys(
                m for n in unknown for m in difflib.get_close_matches(n, known, n=1, cutoff=0.7)
            )
            meant = f" (did you mean {', '.join(map(repr, near))}?)" if near else ""
            said = f"{type(self).__name__} has no setting {', '.join(map(repr, unknown))}{meant}"
            raise ParameterError(f"{said}; get_params() lists its settings.")
        for name, value in settings.items():
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        """The class and the settings that differ from their defaults, in ``__init__``'s order:
        ``DHAG(max_epochs=20, random_state=0)``."""
        defaults = {name: p.default for name, p in inspect.signature(type(self)).parameters.items()}
        params = self.get_params().items()
        changed = [f"{name}={value!r}" for name, value in params if repr(value) != repr(defaults[name])]
        return f"{type(self).__name__}({', '.join(changed)})"

    # scikit-learn's name for what an estimator is; PyOD's detectors give the same (read by sklearn < 1.6).
    _estimator_type = "outlier_detector"

    def __sklearn_tags__(self) -> Any:
        """What scikit-learn (1.6 and later) asks of an estimator before it checks, clones or chains it
        (``check_is_fitted``, ``Pipeline``): an outlier detector that learns without a target and must be
        fitted before use, and whose ``transform`` (the preprocessed matrix the network sees) is always
        float32. scikit-learn is imported only here: the library does not need it.
        """
        from sklearn.utils import InputTags, Tags, TargetTags, TransformerTags

        return Tags(
            estimator_type=self._estimator_type,
            target_tags=TargetTags(required=False),
            transformer_tags=TransformerTags(preserves_dtype=["float32"]),
            input_tags=InputTags(two_d_array=True, allow_nan=False),
            requires_fit=True,
        )


# What a device setting may name (resolve_device).
_DEVICES = "'auto', 'cpu' or 'cuda[:N]'"


def resolve_device(device: str, *, given_to: str = "") -> torch.device:
    """``"auto"`` -> CUDA when present, else CPU; anything else is passed to ``torch.device``. A refusal
    names DHAG's ``device`` parameter, or the ``device`` argument of the function ``given_to`` names."""
    of = f"argument of {given_to}" if given_to else "parameter of DHAG"
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise _refusal("device", device, _DEVICES, of) from exc
    if dev.type not in ("cpu", "cuda"):
        raise _refusal("device", device, _DEVICES, of)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise _refusal("device", device, f"{_DEVICES}; CUDA is not available on this machine", of)
    if dev.type == "cuda" and dev.index is not None and dev.index >= (count := torch.cuda.device_count()):
        have = f"cuda:0 to cuda:{count - 1}" if count > 1 else "cuda:0"
        raise _refusal("device", device, f"a device this machine has ({have}), 'cpu' or 'auto'", of)
    return dev


def resolve_seed(random_state: Any) -> int:
    """The seed a fit trains from: ``random_state`` as the int it holds (a numpy int too); when it is a
    numpy ``RandomState`` or ``Generator``, one drawn from it (each fit consumes from it, as
    scikit-learn's estimators do); when it is None, a fresh one from the operating system's entropy.

    >>> resolve_seed(np.int64(7)), 0 <= resolve_seed(None) < 2**31
    (7, True)
    >>> resolve_seed(np.random.default_rng(0)) == resolve_seed(np.random.default_rng(0))
    True
    """
    if isinstance(random_state, np.random.RandomState):  # its randint, as scikit-learn draws a seed
        return int(random_state.randint(2**31))
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(2**31))
    if random_state is None:
        random_state = np.random.SeedSequence().entropy % 2**31
    return int(random_state)


def settings_as_trained(est: Any) -> dict[str, Any]:
    """The settings of DHAG (those its ``__init__`` takes) as a fitted model's artifact records them, of
    a subclass of it too (whose ``get_params`` may leave some out, and add its own, which no release of
    DHAG reads): a generator given as ``random_state`` (no JSON value) is written as the seed its fit
    drew, ``training_["seed"]``, which trains the model again."""
    from dhag.estimator import DHAG

    settings = {name: getattr(est, name) for name in inspect.signature(DHAG).parameters}
    if isinstance(settings["random_state"], _GENERATORS):
        settings["random_state"] = getattr(est, "training_", {}).get("seed")
    return settings


def _is_int(value: Any) -> bool:
    """An int, numpy's too (a search draws np.int64), not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    """An int or a float, numpy's too (np.float32 is no Python float), not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    """A finite int or float (numpy's too), not a bool: inf and NaN would train a NaN model."""
    return _is_real(value) and math.isfinite(value)


# Seeds as numpy and torch both take them (numpy ints too, as scikit-learn code passes them).
MAX_SEED = 2**32 - 1
# What a random_state may also be: a seed is drawn from it at each fit (resolve_seed).
_GENERATORS = (np.random.RandomState, np.random.Generator)


def _refusal(name: str, value: Any, allowed: str, of: str = "parameter of DHAG") -> ParameterError:
    """The error for the setting ``name`` holding ``value``, which is not ``allowed``."""
    message = f"The {name!r} {of} must be {allowed}. Got {value!r} instead."
    return ParameterError(message, setting=name, allowed=allowed)


def _check(name: str, value: Any, ok: bool, allowed: str) -> None:
    if not ok:
        raise _refusal(name, value, allowed)


def validate_params(est: Any) -> None:
    """Raise :class:`ParameterError` naming the first setting of ``est`` outside its allowed values."""
    for name in (*SIZE_PARAMS, "batch_size", "max_epochs", "patience", "n_members", "snapshots"):
        value = getattr(est, name)
        _check(
            name,
            value,
            _is_int(value) and value >= 1,
            "an int >= 1",
        )
    for name in ("lambda_norm", "lambda_div", "known_weight", "shift_weight", "lr", "discriminator_lr"):
        value = getattr(est, name)
        _check(name, value, _is_number(value) and value >= 0, "a finite float >= 0")
    k_ok = (_is_real(est.k) and not _is_int(est.k) and 0 < est.k < 1) or (_is_int(est.k) and est.k >= 1)
    _check("k", est.k, k_ok, "a float in (0, 1) (a fraction of the batch) or an int >= 1 (a count)")
    _check(
        "min_delta",
        est.min_delta,
        _is_number(est.min_delta) and est.min_delta >= 0,
        "a finite float >= 0",
    )
    _check(
        "discriminator_decay_epoch",
        est.discriminator_decay_epoch,
        _is_int(est.discriminator_decay_epoch) and est.discriminator_decay_epoch >= 1,
        "an int >= 1",
    )
    for name in ("categorical", "passthrough", "feature_names"):
        value = getattr(est, name)
        problem = names_setting_problem(name, value, none_ok=name == "feature_names")
        _check(name, value, problem is None, problem or "")
    for name in (
        "early_stopping",
        "average_weights",
        "collapse_retry",
        "bf16",
        "progress",
        "allow_many_categories",
    ):
        _check(name, getattr(est, name), isinstance(getattr(est, name), bool), "True or False")
    _check(
        "validation_fraction",
        est.validation_fraction,
        _is_real(est.validation_fraction) and 0 <= est.validation_fraction < 0.5,
        "a float in [0, 0.5)",
    )
    _check(
        "validation_split",
        est.validation_split,
        est.validation_split in ("random", "blocks", "last"),
        "'random', 'blocks' or 'last'",
    )
    if est.target_far is not None:
        _check(
            "target_far",
            est.target_far,
            _is_real(est.target_far) and 0 < est.target_far < 0.5,
            "None or a float in (0, 0.5)",
        )
    if est.min_threshold is not None:
        _check(
            "min_threshold",
            est.min_threshold,
            _is_number(est.min_threshold) and 0 <= est.min_threshold < 1,
            "None or a number in [0, 1)",
        )
    if est.contamination is not None:
        _check(
            "contamination",
            est.contamination,
            _is_real(est.contamination) and 0 < est.contamination <= 0.5,
            "None or a float in (0, 0.5]",
        )
    if est.target_far is not None and est.contamination is not None:
        # One of them sets the threshold: the other would be taken and do nothing.
        raise ParameterError(
            "The 'target_far' and 'contamination' parameters of DHAG each set the threshold (a false-alarm "
            "rate on held-out normal rows, or the share of the training rows flagged): set one of them, "
            f"the other None. Got target_far={est.target_far!r} and contamination={est.contamination!r}."
        )
    _check(
        "perturbator_game",
        est.perturbator_game,
        est.perturbator_game in PERTURBATOR_GAMES,
        " or ".join(repr(g) for g in PERTURBATOR_GAMES),
    )
    _check(
        "ce_weighting",
        est.ce_weighting,
        est.ce_weighting in CE_WEIGHTINGS,
        " or ".join(repr(w) for w in CE_WEIGHTINGS),
    )
    _check("recipe", est.recipe, est.recipe in RECIPES, " or ".join(repr(r) for r in RECIPES))
    _check("shift_mode", est.shift_mode, est.shift_mode in ("beyond", "offset"), "'beyond' or 'offset'")
    rng_ok = (
        isinstance(est.shift_range, (tuple, list, np.ndarray))  # a pair as a search may draw it
        and len(est.shift_range) == 2
        and all(_is_number(v) for v in est.shift_range)
        and 0 <= est.shift_range[0] <= est.shift_range[1]
        and est.shift_range[1] > 0
        and (est.shift_range[0] > 0 or est.shift_mode != "offset")
    )
    _check(
        "shift_range",
        est.shift_range,
        rng_ok,
        "a pair (low, high) of numbers with 0 <= low <= high and high > 0 (low > 0 with shift_mode 'offset')",
    )
    for name in ("ce_target", "retry_ce_target"):
        value = getattr(est, name)
        if value is not None:
            _check(name, value, _is_number(value) and 0 < value < 1, "None or a float in (0, 1)")
    if est.max_steps is not None:
        _check(
            "max_steps",
            est.max_steps,
            _is_int(est.max_steps) and est.max_steps >= 1,
            "None or an int >= 1",
        )
    if est.time_budget is not None:
        _check(
            "time_budget",
            est.time_budget,
            _is_real(est.time_budget) and 0 < est.time_budget < float("inf"),
            "None or a finite number of seconds > 0",
        )
    _check(
        "discriminator_decay",
        est.discriminator_decay,
        _is_real(est.discriminator_decay) and 0 < est.discriminator_decay <= 1,
        "a float in (0, 1]",
    )
    seed = est.random_state
    if not (seed is None or isinstance(seed, _GENERATORS) or (_is_int(seed) and 0 <= seed <= MAX_SEED)):
        # allowed: what a command line's seed option may hold, which names no generator
        ints = f"None or an int in [0, {MAX_SEED}]"
        raise ParameterError(
            f"The 'random_state' parameter of DHAG must be {ints}, or a numpy RandomState or Generator to "
            f"draw the seed from. Got {seed!r} instead.",
            setting="random_state",
            allowed=ints,
        )
    if est.snapshots > 1 and (est.average_weights or est.early_stopping):
        # Each keeps weights of its own choosing; a snapshot ensemble keeps end-of-epoch states as trained.
        _check("snapshots", est.snapshots, False, "1 with average_weights=True or early_stopping=True")


def target_far(est: Any) -> float:
    """The false-alarm rate ``est``'s threshold is calibrated at: its ``target_far``, or
    :data:`~dhag.threshold.DEFAULT_TARGET_FAR` when that is None.

    >>> from dhag import DHAG
    >>> target_far(DHAG()), target_far(DHAG(target_far=np.float32(0.25)))
    (0.01, 0.25)
    """
    return DEFAULT_TARGET_FAR if est.target_far is None else float(est.target_far)


def threshold_level(est: Any) -> float:
    """The quantile of normal scores ``est``'s threshold lies at: ``1 - contamination`` when that is
    set (the share of rows it flags), else ``1 - target_far`` (:func:`target_far`). ``fit`` takes it of
    the training scores or of held-out ones, :meth:`~dhag.DHAG.threshold_for` of the scores it is given.

    >>> from dhag import DHAG
    >>> threshold_level(DHAG()), threshold_level(DHAG(contamination=0.25))
    (0.99, 0.75)
    """
    share = target_far(est) if est.contamination is None else float(est.contamination)
    return 1.0 - share


def train_config(est: Any) -> TrainConfig:
    """The training loop's settings from a DHAG estimator's (validated by :func:`validate_params`)."""
    device = resolve_device(est.device)
    return TrainConfig(
        batch_size=int(est.batch_size),
        k=float(est.k),
        lambda_norm=float(est.lambda_norm),
        lambda_div=float(est.lambda_div),
        ce_target=None if est.ce_target is None else float(est.ce_target),
        perturbator_game=est.perturbator_game,
        ce_weighting=est.ce_weighting,
        lr=float(est.lr),
        discriminator_lr=float(est.discriminator_lr),
        discriminator_decay_epoch=int(est.discriminator_decay_epoch),
        discriminator_decay=float(est.discriminator_decay),
        known_weight=float(est.known_weight),
        shift_weight=float(est.shift_weight),
        shift_range=(float(est.shift_range[0]), float(est.shift_range[1])),
        shift_mode=est.shift_mode,
        max_epochs=int(est.max_epochs),
        max_steps=None if est.max_steps is None else int(est.max_steps),
        time_budget=None if est.time_budget is None else float(est.time_budget),
        early_stopping=bool(est.early_stopping),
        average_weights=bool(est.average_weights),
        snapshots=int(est.snapshots),
        patience=int(est.patience),
        min_delta=float(est.min_delta),
        bf16=bool(est.bf16) and device.type == "cuda",
        progress=bool(est.progress),
    )
