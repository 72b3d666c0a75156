"""``dhag score``: the rows of a file scored by a model, with the columns that identify them."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from dhag.artifact import load_model
from dhag.estimator import DHAG
from dhag.exceptions import DHAGError, InputError, ParameterError
from dhag.headerless import headerless_note, numbers_for_names
from dhag.infotext import counted
from dhag.io import read_table
from dhag.namehints import not_columns
from dhag.outofmemory import loading_message, reading_message, said_when_out_of_memory, scoring_message
from dhag.outpath import check_not_an_input, check_scores_out, through_link
from dhag.params import resolve_device
from dhag.scoreswrite import (
    check_room_for_scores,
    check_standard_output,
    explained_bytes,
    scores_bytes,
    write_scores,
)
from dhag.topfeatures import raising, top_features_cell
from dhag.trainargs import named_as_option

__all__ = ["cmd_score", "id_columns"]

logger = logging.getLogger("dhag")

# The columns `dhag score` writes: an id column of the same name would be overwritten.
_SCORE_COLUMNS = ("score", "anomaly", "top_features")


def id_columns(frame: pd.DataFrame, ids: list[str], path: Path) -> pd.DataFrame:
    """Take the id columns out of ``frame`` (in the order given) and return them: they identify rows,
    they are no features."""
    if unknown := [name for name in ids if name not in frame.columns]:
        columns = [str(c) for c in frame.columns]
        raise InputError(not_columns("--id-columns names", unknown, columns, among=repr(str(path))))
    return pd.DataFrame({name: frame.pop(name) for name in ids})


def cmd_score(args: argparse.Namespace) -> int:
    if args.explain < 0:
        raise DHAGError(f"--explain must be 0 (none) or a count of features. Got {args.explain}.")
    if args.out is not None and str(args.out) == "-":  # the shell's name for standard output
        args.out = None
    ids = args.id_columns or []
    for name in ids:
        if name in _SCORE_COLUMNS:
            raise InputError(f"{name!r} is a column dhag score writes; it cannot also be an id column.")
    if args.out is None:
        check_standard_output()
    else:
        inputs = {"--model": args.model, "--data": args.data}
        check_not_an_input(args.out, inputs, writes="scores", done="scored")
        args.out = through_link(args.out, done="scored")  # a link stays; the file it leads to is replaced
        check_scores_out(args.out)
    try:
        device = str(resolve_device(args.device))
    except ParameterError as exc:
        raise named_as_option(exc, args) from None
    with said_when_out_of_memory(lambda e: loading_message(e, path=args.model, device=device, out=args.out)):
        model = load_model(args.model, device=args.device)
    for name in ids:
        if name in model.feature_names_in_:
            raise InputError(f"{name!r} is a feature of the model; it cannot also be an id column.")
    known = _known_columns(model, given=ids if args.id_columns is not None else None)
    with said_when_out_of_memory(lambda e: reading_message(e, path=args.data, command="score", out=args.out)):
        frame, _ = read_table(
            args.data,
            text_columns=[*model.preprocessor_.categorical, *ids, *known],
            carried=known,
            named=model.feature_names_in_,
        )
    carried = ids + [name for name in known if name in frame.columns and name not in ids]
    clashing = [name for name in carried if name in _SCORE_COLUMNS]
    if clashing:
        logger.warning(
            "left out of the scores: %s, the training's id or label column(s), named as a column "
            "dhag score writes",
            ", ".join(repr(n) for n in clashing),
        )
        frame = frame.drop(columns=clashing)
    out = id_columns(frame, [name for name in carried if name not in clashing], args.data)
    if any(str(c) not in model.feature_names_in_ for c in frame.columns):
        try:
            model.preprocessor_.check_names([str(c) for c in frame.columns], array_hint=False)
        except InputError as exc:
            raise InputError(f"{exc} {_unexpected_columns(args.data, frame, model)}") from None
    needed = scores_bytes(out, rows=len(frame), explain=bool(args.explain))
    if args.out is not None:  # a volume without room for the scores fails their write after the scoring
        check_room_for_scores(args.out, needed, rows=len(frame))
    shape = {"rows": len(frame), "features": frame.shape[1], "device": str(model.device_)}
    with said_when_out_of_memory(lambda e: scoring_message(e, **shape, explain=args.explain, out=args.out)):
        flagged = _scores(model, frame, out)
        if args.explain:
            if args.out is not None:  # the features named, before ranking them: flagged rows only
                named = explained_bytes(model.feature_names_in_, flagged=flagged.size, top=args.explain)
                check_room_for_scores(args.out, needed + named, rows=len(frame), flagged=flagged.size)
            _explain(model, frame, out, flagged, args.explain)
    write_scores(out, args.out)
    if len(frame) == 0:  # an export of an hour without readings: the header keeps a pipeline going
        logger.warning(
            "%r holds no rows to score, only the names of its columns: nothing was scored, and the scores "
            "hold their header alone",
            str(args.data),
        )
    logger.info(
        "scored %s, %d above threshold %.4f",
        counted(len(out), "row"),
        int(out["anomaly"].sum()),
        model.threshold_,
    )
    return 0


def _scores(model: DHAG, frame: pd.DataFrame, out: pd.DataFrame) -> np.ndarray:
    """Add to ``out`` the rows' scores and whether each is flagged; return the flagged rows' positions."""
    scores = model.decision_function(frame)
    out["score"] = scores
    out["anomaly"] = (scores > model.threshold_).astype(int)
    return np.flatnonzero(out["anomaly"].to_numpy())


def _explain(model: DHAG, frame: pd.DataFrame, out: pd.DataFrame, flagged: np.ndarray, top: int) -> None:
    """Add to ``out`` the features that raise each ``flagged`` row's score most, ``top`` at most."""
    ranked = model.explain(frame.iloc[flagged], top=top, logit_drops=True) if flagged.size else []
    out["top_features"] = ""
    for row, entries in zip(flagged, ranked, strict=True):
        out.iloc[row, out.columns.get_loc("top_features")] = top_features_cell(raising(entries))


def _unexpected_columns(path: Path, frame: pd.DataFrame, model: DHAG) -> str:
    """What to do about columns of the file to score that are no feature of the model."""
    categories = [c for cats in model.preprocessor_.categories_.values() for c in cats]
    numbers = numbers_for_names(path, [str(c) for c in frame.columns], categories)
    if numbers:
        return headerless_note(path, numbers, model.feature_names_in_)
    named = [f"x{i}" for i in range(frame.shape[1])]
    if path.suffix.lower() == ".npz" and [str(c) for c in frame.columns] == named:
        names = list(model.feature_names_in_)
        shown = repr(names) if len(names) <= 6 else f"[{', '.join(map(repr, names[:3]))}, ...]"
        return (
            "The NPZ file has no array 'feature_names', so its columns were named x0, x1, ...: save it "
            f"with the model's {len(names)} names beside X, as "
            f"np.savez(path, X=X, feature_names=np.array({shown}))."
        )
    if list(model.feature_names_in_) == [f"x{i}" for i in range(frame.shape[1])]:
        return (
            "The model was trained on columns without names (an NPZ without an array 'feature_names'), "
            "which it names x0, x1, ... by position: train it on a file that names its columns, or name "
            "this file's columns x0, x1, ... in the training order."
        )
    return "Columns that identify rows are named with --id-columns."


def _known_columns(model: DHAG, *, given: list[str] | None) -> list[str]:
    """The columns ``dhag train`` was told are no features, as the model keeps them: its id columns
    (unless ``--id-columns`` were ``given`` to score), then its label column. A file to score that holds
    them has them carried into the scores. None for a model written otherwise (the pipeline's, or one
    saved with metadata that is no JSON object, which names none).

    >>> m = DHAG(); m.feature_names_in_ = ["flow"]
    >>> m.metadata_ = {"id_columns": ["asset"], "label_column": "label"}
    >>> _known_columns(m, given=None), _known_columns(m, given=["reading"])
    (['asset', 'label'], ['label'])
    """
    metadata = getattr(model, "metadata_", None)
    metadata = metadata if isinstance(metadata, dict) else {}
    ids = metadata.get("id_columns") if given is None else []
    names = [*(ids if isinstance(ids, list) else []), metadata.get("label_column")]
    return [n for n in dict.fromkeys(names) if isinstance(n, str) and n not in model.feature_names_in_]
