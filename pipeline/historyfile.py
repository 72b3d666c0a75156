"""Reading a plant's normal-operation history for ``models train``: what a real export holds, checked and
put in the form the plant model trains on, or refused with the column, the line and what to do.

The contract (docs/service-reference.md, "The history file"):

* CSV (``,``, ``;`` or tab between fields, found from the header line; UTF-8, a byte-order mark is
  fine) or Parquet (``.parquet``);
* columns ``asset_id``, ``t`` and every sensor of :data:`~pipeline.features.INPUT_SENSORS`, named in
  any case with spaces around them allowed; other columns are ignored; a ``fault`` column, when there,
  leaves out each row whose value is neither empty nor 0;
* ``t``: epoch seconds (0 up to 1e11, as a record's ``ts``: larger numbers are epoch milliseconds and
  are refused; so are dates typed as their digits, ``20261129`` when every number of ``t`` is such,
  ``20261129101500`` anywhere: :mod:`pipeline.datenumbers`), an ISO-8601 time in the forms a record's
  ``ts`` takes (UTC when it has no offset; a date alone, the basic, week and ordinal forms are refused),
  each row in either form, or, in Parquet, a timestamp column;
* sensor values: numbers with ``.`` as the decimal point and no thousands separator; an empty cell or
  a marker such as ``NA``, ``N/A`` or ``null`` is a missing value. Decimal commas are refused, saying
  so: as text in a ``;`` or tab file, and in a ``,`` file, where they split fields, as rows wider than
  the header (which pandas would otherwise cut to the header's width).

Rows may come in any order (they are put in time order, as the threshold's calibration on held-out
stretches of the history needs); a row repeated with the same values is kept once, two different
readings of one asset at one time are refused. A row with a missing sensor value is left out, and an
asset left with no complete row is refused.
"""

from __future__ import annotations

import csv
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from dhag.csvhead import separator_line, wide_encoding
from dhag.exceptions import InputError
from dhag.headerless import numbers_for_names
from dhag.parquetfile import index_as_columns
from pipeline.datenumbers import as_epoch_seconds, date_as_number, dates_as_numbers
from pipeline.features import INPUT_SENSORS
from pipeline.historyplaces import HistoryError, Places, wide_hint
from pipeline.historyspan import coverage_note
from pipeline.recordjson import MAX_EPOCH_S, TS_FORMS, iso_refusal, iso_seconds
from pipeline.running import running_rows

__all__ = ["History", "HistoryError", "MIN_ASSET_ROWS", "read_history"]

#: An asset with fewer complete rows is trained on, with a warning: its per-unit reference (a median)
#: and its training ranges rest on little (100 rows: under an hour at one reading every 30 s).
MIN_ASSET_ROWS = 100
_SEPARATORS = (",", ";", "\t")
_NEEDED = ("asset_id", "t", *INPUT_SENSORS, "fault")  # as named in any case, with spaces around them
_NUMBER_HINT = "write numbers with '.' as the decimal point and no thousands separator"


@dataclass
class History:
    """A history ready to train on: ``frame`` holds the normal rows with every sensor, in time order, as
    ``asset_id`` (text), ``t`` (epoch seconds) and the sensors (floats); ``notes`` says what was left out
    or rests on few rows, one line each."""

    frame: pd.DataFrame
    notes: list[str] = field(default_factory=list)


def _normal_name(name: object) -> str:
    return str(name).replace("\ufeff", "").strip().lower()


def _header(path: Path) -> tuple[list[str], str]:
    """The header's names and the separator: whichever of ``_SEPARATORS`` splits the header most."""
    with path.open(encoding="utf-8-sig", newline="") as f:
        line = f.readline()
    sep = max(_SEPARATORS, key=line.count)
    try:
        return next(csv.reader([line], delimiter=sep), []), sep
    except csv.Error:  # a field over the csv module's limit: no column name anyone means
        raise HistoryError(
            f"cannot read it as CSV: its header line (line 1) holds a field of more than "
            f"{csv.field_size_limit()} characters ({sep!r} between fields): line 1 must name the columns"
        ) from None


def _parquet(path: Path) -> tuple[pd.DataFrame, list[str]]:
    """The frame of a Parquet file, its named index a column where it names one the history needs (as
    ``dhag`` reads one a command names: :func:`dhag.parquetfile.index_as_columns`), and the names of the
    index's levels left out (a ``t`` stored as pandas' index was dropped, and the file refused as
    lacking it); its rows numbered from 0, as a refusal counts them."""
    try:
        frame = pd.read_parquet(path)
    except (OSError, ValueError) as exc:
        if isinstance(exc, FileNotFoundError | PermissionError | IsADirectoryError):
            raise
        raise HistoryError(f"cannot read it as Parquet: {exc}") from None
    needed = {str(name) for name in frame.index.names if _normal_name(name) in _NEEDED}
    try:
        frame, left_out = index_as_columns(frame, path, needed)
    except InputError as exc:  # an index named as a column is
        raise HistoryError(str(exc).removeprefix(f"Cannot read {str(path)!r}: ").rstrip(".")) from None
    return frame.reset_index(drop=True), left_out


def _read(path: Path) -> tuple[pd.DataFrame, Places, list[str]]:
    """The raw frame, where each of its rows is, and the names of a Parquet file's index left out."""
    if path.suffix == ".parquet":
        frame, left_out = _parquet(path)
        return frame, Places(), left_out
    if encoding := wide_encoding(path):  # without a byte-order mark, it would decode as names with NULs
        raise HistoryError(f"it is not UTF-8 text but {encoding}: save it as UTF-8 (Excel: CSV UTF-8)")
    if told := separator_line(path):  # pandas would take it for the header
        write = f": its fields are separated by {told[4]!r}; write the file with ',' between fields"
        raise HistoryError(
            f"its first line, {told!r}, is Excel's line naming the separator, not a header: delete that line"
            + ("" if told[4] in _SEPARATORS else write)
        )
    try:
        names, sep = _header(path)
    except UnicodeDecodeError:
        raise HistoryError("it is not UTF-8 text: export the CSV as UTF-8") from None
    text = {n for n in names if _normal_name(n) == "asset_id"}  # ids as written: "007" is not 7
    places, refused = Places(path, sep), f"cannot read it as CSV ({sep!r} between fields)"
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", pd.errors.ParserWarning)
            frame = pd.read_csv(
                path,
                sep=sep,
                encoding="utf-8-sig",
                index_col=False,  # a trailing separator on every row must not turn asset_id into the index
                dtype=dict.fromkeys(text, str),
                low_memory=False,
            )
    except UnicodeDecodeError:
        raise HistoryError("it is not UTF-8 text: export the CSV as UTF-8") from None
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        # pandas counts a record with line breaks in its quotes as one line: say the physical one.
        said = re.sub(r"in line (\d+)", lambda m: f"in line {places.record_line(int(m[1]))}", str(exc))
        hint = wide_hint(sep) if "Expected" in said else ""
        raise HistoryError(f"{refused}: {said.strip()}{hint}") from None
    for warning in caught:
        if "does not match length of data" not in str(warning.message):
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
        # A row wider than the header: pandas keeps its first fields and drops the rest (empty: fine).
        elif wide := places.wider_row(len(names)):
            line, fields = wide
            raise HistoryError(
                f"{refused}: line {line} has {fields} fields, more than the {len(names)} of its header"
                + wide_hint(sep)
            )
    frame.columns = names if len(names) == frame.shape[1] else frame.columns  # pandas renames repeats
    return frame, places, []


def _headerless(frame: pd.DataFrame, path: Path) -> str:
    """What a refusal of a CSV's names adds when its first line is a row of readings, the header row left
    out: most of its names are numbers (the others an asset's id, an ISO-8601 time, an empty cell)."""
    numbers = [name for name in map(str, frame.columns) if numbers_for_names(path, [name])]
    if 2 * len(numbers) <= frame.shape[1]:
        return ""
    return (
        f": its first line holds values, not column names ({len(numbers)} of its {frame.shape[1]} fields are "
        "numbers): is its header row missing? Add a first line naming the columns: asset_id, t and each "
        "sensor named above"
    )


def _columns(frame: pd.DataFrame, path: Path, left_out: Sequence[str] = ()) -> pd.DataFrame:
    """The needed columns (and ``fault``) under their own names; refuses a missing or doubled one, naming
    the Parquet file's index ``left_out`` among what it has."""
    wanted = _NEEDED
    found: dict[str, list[str]] = {}
    for position, name in enumerate(frame.columns):
        if (key := _normal_name(name)) in wanted:
            found.setdefault(key, []).append(position)
    for key, positions in found.items():
        if len(positions) > 1:
            names = " and ".join(repr(str(frame.columns[p])) for p in positions)
            raise HistoryError(f"the columns {names} both name {key}: keep one")
    missing = [c for c in wanted[:-1] if c not in found]
    if missing:
        raise HistoryError(
            f"it lacks the column(s) {', '.join(missing)} (it has: "
            f"{', '.join(repr(str(c)) for c in frame.columns[:30])}"
            + "".join(f"; and an index named {name!r}, not read" for name in left_out[:1])
            + ")"
            + ("" if found else _headerless(frame, path))
        )
    picked = [c for c in wanted if c in found]
    out = frame.iloc[:, [found[c][0] for c in picked]]
    out.columns = picked
    return out


def _where(frame: pd.DataFrame, mask: np.ndarray, places: Places) -> str:
    """'line 7' (or 'row 6') of the first row of ``mask``, with how many more there are."""
    hits = np.flatnonzero(mask)
    at = places(int(frame.index[hits[0]]))
    return at + (f" and {len(hits) - 1} more" if len(hits) > 1 else "")


def _times(frame: pd.DataFrame, places: Places) -> pd.Series:
    """``t`` as epoch seconds (float), or a refusal naming the first bad value and its line."""
    t = frame["t"]
    numbers = np.zeros(len(t), dtype=bool)  # the rows whose t is written as a number
    if isinstance(t.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(t):
        stamps = t if isinstance(t.dtype, pd.DatetimeTZDtype) else t.dt.tz_localize("UTC")
        seconds = (stamps - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(seconds=1)
    elif pd.api.types.is_bool_dtype(t):
        raise HistoryError("t holds true/false values: write epoch seconds or ISO-8601 times")
    elif pd.api.types.is_numeric_dtype(t):
        seconds, numbers = t.astype(float), t.notna().to_numpy()
    else:
        seconds = pd.to_numeric(t, errors="coerce")
        numbers = seconds.notna().to_numpy()
        text = seconds.isna() & t.notna()
        if text.any():  # not all numbers: the others are ISO-8601 times in the forms a record's ts takes
            codes, texts = pd.factorize(t[text])  # each text read once: assets share their times
            read = np.array([iso_seconds(v.strip()) if isinstance(v, str) else None for v in texts], float)
            bad = text.to_numpy().copy()
            bad[bad] = np.isnan(read[codes])
            if bad.any():
                value = t.iloc[int(np.flatnonzero(bad)[0])]
                said = iso_refusal(value.strip()) if isinstance(value, str) else None
                hint = _NUMBER_HINT if "," in str(value) else TS_FORMS
                raise HistoryError(
                    f"t {value!r} at {_where(frame, bad, places)} "
                    + (said or f"is neither epoch seconds nor an ISO-8601 time: {hint}")
                )
            seconds = seconds.astype(float)
            seconds[text.to_numpy()] = read[codes]
    seconds = seconds.astype(float)
    if (empty := seconds.isna().to_numpy()).any():
        raise HistoryError(f"t is empty at {_where(frame, empty, places)}: every row needs its time")
    typed = numbers & dates_as_numbers(seconds.to_numpy())
    if not typed[numbers].all():  # then those of eight digits are times of 1970 (a clock from 0) by chance
        typed &= (seconds >= MAX_EPOCH_S).to_numpy()
    if typed.any():
        value = seconds.iloc[int(np.flatnonzero(typed)[0])]
        raise HistoryError(
            f"t {value:.0f} at {_where(frame, typed, places)} reads as {date_as_number(value)}, not as "
            f"epoch seconds ({as_epoch_seconds(value)}): write each row's time as epoch seconds or as an "
            f"ISO-8601 time, {TS_FORMS.removeprefix('write ')}"
        )
    if (late := (seconds >= MAX_EPOCH_S).to_numpy()).any():
        value = seconds.iloc[int(np.flatnonzero(late)[0])]
        raise HistoryError(
            f"t {value:.6g} at {_where(frame, late, places)} is past the year 5138 in epoch seconds: "
            "epoch milliseconds? t must be epoch seconds (divide by 1000) or an ISO-8601 time"
        )
    if (early := (seconds < 0).to_numpy()).any():
        value = seconds.iloc[int(np.flatnonzero(early)[0])]
        raise HistoryError(f"t {value:.6g} at {_where(frame, early, places)} is before 1970")
    return seconds


def _numbers(frame: pd.DataFrame, name: str, places: Places) -> pd.Series:
    """A sensor column as floats (missing: NaN), or a refusal naming the first value that is no number."""
    column = frame[name]
    if pd.api.types.is_bool_dtype(column):
        raise HistoryError(f"{name} holds true/false values, not readings")
    values = column if pd.api.types.is_numeric_dtype(column) else pd.to_numeric(column, errors="coerce")
    values = values.astype(float)
    if (bad := (values.isna() & column.notna()).to_numpy()).any():
        value = column.iloc[int(np.flatnonzero(bad)[0])]
        hint = _NUMBER_HINT if any(c in str(value) for c in ",.") else "leave a missing value's cell empty"
        raise HistoryError(f"{name} holds {value!r} at {_where(frame, bad, places)}, not a number: {hint}")
    if (odd := np.isinf(values.to_numpy())).any():
        raise HistoryError(
            f"{name} is infinite at {_where(frame, odd, places)}: a reading is a finite number "
            "(leave a missing value's cell empty)"
        )
    return values


def _normal_rows(fault: pd.Series) -> np.ndarray:
    """The rows whose ``fault`` value is empty, missing or 0 (false)."""
    if pd.api.types.is_numeric_dtype(fault) or pd.api.types.is_bool_dtype(fault):
        return (fault.fillna(0).astype(float) == 0).to_numpy()
    return fault.fillna("").astype(str).str.strip().isin(["", "0"]).to_numpy()


def _asset_ids(frame: pd.DataFrame, places: Places) -> pd.Series:
    ids = frame["asset_id"]
    text = ids.astype(str).str.strip().where(ids.notna(), "")
    if (empty := (text == "").to_numpy()).any():
        raise HistoryError(f"asset_id is empty at {_where(frame, empty, places)}: every row names its asset")
    return text


def _deduplicated(frame: pd.DataFrame, places: Places) -> tuple[pd.DataFrame, int]:
    """``frame`` without repeated rows; refuses two different readings of one asset at one time."""
    same = frame.duplicated(subset=["asset_id", "t", *INPUT_SENSORS])
    frame = frame[~same.to_numpy()]
    clash = frame.duplicated(subset=["asset_id", "t"], keep=False).to_numpy()
    if clash.any():
        first = frame[clash].iloc[0]
        both = ((frame["asset_id"] == first["asset_id"]) & (frame["t"] == first["t"])).to_numpy()
        raise HistoryError(
            f"asset {first['asset_id']!r} has different readings at one time, t={first['t']:.10g} "
            f"({_where(frame, both, places)}; {int(clash.sum())} such rows in all): keep one reading per "
            "asset and time (local times repeat an hour when the clocks go back: export UTC)"
        )
    return frame, int(same.sum())


def _complete(frame: pd.DataFrame, notes: list[str]) -> pd.DataFrame:
    """The rows with every sensor; refuses an asset left with none, notes what was left out."""
    missing = frame[list(INPUT_SENSORS)].isna()
    gaps = missing.any(axis=1).to_numpy()
    if not gaps.any():
        return frame
    kept = frame[~gaps]
    lost = sorted(set(frame["asset_id"]) - set(kept["asset_id"]))
    if lost:
        empty = missing[(frame["asset_id"] == lost[0]).to_numpy()].all()
        sensors = [s for s in INPUT_SENSORS if empty[s]] or ["a different sensor in each row"]
        raise HistoryError(
            f"{len(lost)} asset(s) have no row with every sensor: {', '.join(map(repr, lost[:10]))} "
            f"({lost[0]!r} lacks {', '.join(sensors)}): the plant model needs every sensor of "
            "each asset; leave such an asset out of the history"
        )
    worst = missing.sum().sort_values(ascending=False)
    notes.append(
        f"left out {int(gaps.sum())} of {len(frame)} rows with a missing sensor value "
        f"(most often {worst.index[0]}: {int(worst.iloc[0])} rows)"
    )
    return kept


def read_history(path: str | Path) -> History:
    """Read and check a history file; raises :class:`HistoryError` (a ``ValueError``) naming what is
    wrong, or ``OSError`` when the file cannot be opened."""
    path = Path(path)
    raw, places, left_out = _read(path)
    frame = _columns(raw, path, left_out)
    if frame.empty:
        raise HistoryError("it holds no rows")
    notes: list[str] = []
    clean = pd.DataFrame(
        {"asset_id": _asset_ids(frame, places), "t": _times(frame, places)}
        | {name: _numbers(frame, name, places) for name in INPUT_SENSORS},
        index=frame.index,
    )
    if "fault" in frame:
        normal = _normal_rows(frame["fault"])
        if not normal.all():
            notes.append(f"left out {int((~normal).sum())} rows marked in the fault column")
            clean = clean[normal]
    clean = clean.sort_values("t", kind="stable")
    clean, repeated = _deduplicated(clean, places)
    if repeated:
        notes.append(f"kept one of each of {repeated} repeated rows")
    clean = _complete(clean, notes)
    if clean.empty:
        raise HistoryError("no normal row is left to train on")
    # A reference is taken from an asset's running rows (a standby pump's stops count for nothing); one
    # that never ran is named by the training, which leaves it out.
    counts = clean.loc[running_rows(clean), "asset_id"].value_counts()
    if len(thin := counts[counts < MIN_ASSET_ROWS]):
        notes.append(
            f"{len(thin)} asset(s) have fewer than {MIN_ASSET_ROWS} complete rows taken running, so their "
            f"per-unit reference and ranges rest on little: {_listed(list(thin.sort_values().items()))}"
        )
    if note := coverage_note(clean):
        notes.append(note)
    return History(clean.reset_index(drop=True), notes)


def _listed(pairs: Sequence[tuple[str, int]], limit: int = 5) -> str:
    text = ", ".join(f"{a} ({n} rows)" for a, n in pairs[:limit])
    return text + (f" and {len(pairs) - limit} more" if len(pairs) > limit else "")
