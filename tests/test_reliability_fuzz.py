"""Fuzzing the two inputs the service cannot trust: its configuration and the records on the wire.

Config: Hypothesis builds invalid settings (unknown keys, wrong types, out-of-range numbers, values
outside an enumeration) in the YAML file or in ``DHAG_PIPELINE_`` variables; ``run`` must stop with
exit code 2 and a message naming the key, before anything starts. Records: arbitrary bytes and
JSON-shaped values through the batch processor never raise, and every record is either scored or
dead-lettered with a known reason.
"""

from __future__ import annotations

import os
import typing
from collections import namedtuple
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
import yaml
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from plant_data import FEATURES
from prometheus_client import CollectorRegistry
from pydantic import BaseModel

from pipeline import cli
from pipeline.config import Settings
from pipeline.metrics import PipelineMetrics
from pipeline.processing import SCORING_ERROR, BatchProcessor
from pipeline.records import Reason


# -- configuration ---------------------------------------------------------------------------------
def _leaves(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    """Every scalar setting as (path, pydantic FieldInfo)."""
    out = []
    for name, info in model.model_fields.items():
        ann = info.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            out += _leaves(ann, (*prefix, name))
        else:
            out.append(((*prefix, name), info))
    return out


LEAVES = _leaves(Settings)
SECTIONS = [path for path, _ in _leaves(Settings) if len(path) > 1]
SECTION_NAMES = sorted({p[:-1] for p in SECTIONS})


def _bounds(info: Any) -> list[tuple[str, float]]:
    out = []
    for meta in info.metadata:
        for attr in ("ge", "gt", "le", "lt"):
            value = getattr(meta, attr, None)
            if value is not None:
                out.append((attr, value))
    return out


def _literal_choices(info: Any) -> list[Any] | None:
    ann = info.annotation
    for arg in (ann, *typing.get_args(ann)):
        if typing.get_origin(arg) is typing.Literal:
            return list(typing.get_args(arg))
    return None


@st.composite
def invalid_setting(draw: st.DrawFn) -> tuple[tuple[str, ...], Any]:
    """One (path, value) that the settings must refuse."""
    kind = draw(st.sampled_from(["unknown", "type", "range", "choice"]))
    if kind == "unknown":
        section = draw(st.sampled_from(SECTION_NAMES))
        known = {p[-1] for p in SECTIONS if p[:-1] == section}
        name = draw(st.from_regex(r"[a-z][a-z_]{0,15}", fullmatch=True).filter(lambda n: n not in known))
        return (*section, name), draw(st.integers() | st.text(max_size=10))
    if kind == "range":
        bounded = [(p, b) for p, info in LEAVES for b in _bounds(info)]
        path, (attr, bound) = draw(st.sampled_from(bounded))
        step = draw(st.integers(min_value=1, max_value=10**6))
        # Just past the bound: one step below a lower bound (the bound itself for "gt"), above an upper.
        if attr in ("ge", "gt"):
            value = bound - step if attr == "ge" else bound - (step - 1)
        else:
            value = bound + step if attr == "le" else bound + (step - 1)
        return path, value
    if kind == "choice":
        with_choices = [(p, c) for p, info in LEAVES if (c := _literal_choices(info))]
        path, choices = draw(st.sampled_from(with_choices))
        return path, draw(st.text(min_size=1, max_size=12).filter(lambda t: t not in choices))
    path, _info = draw(st.sampled_from(LEAVES))
    return path, draw(st.sampled_from([[1, 2], {"nested": True}, [], ["x"]]))


def _nest(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    data: Any = value
    for part in reversed(path):
        data = {part: data}
    return data


@hsettings(
    max_examples=max(80, hsettings.default.max_examples),
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(bad=invalid_setting(), via_env=st.booleans())
@example(bad=(("alerts", "a__"), 0), via_env=True)  # a variable with an empty key part
@example(bad=(("alerts", "a___"), 0), via_env=True)  # ... and one whose parts are "A" and "_"
def test_any_invalid_setting_stops_start_up_with_exit_2_naming_the_key(
    bad: tuple[tuple[str, ...], Any], via_env: bool, tmp_path: Path, monkeypatch, capsys
) -> None:
    path, value = bad
    for name in [n for n in os.environ if n.startswith("DHAG_PIPELINE_")]:
        monkeypatch.delenv(name)
    config = tmp_path / "bad.yaml"
    scalar = not isinstance(value, list | dict)
    variable = None
    if via_env and scalar:
        config.write_text("{}\n")
        # A YAML scalar, quoted the way YAML does it, so a string stays a string and a number a number.
        text = yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()
        variable = "DHAG_PIPELINE_" + "__".join(p.upper() for p in path)
        monkeypatch.setenv(variable, text)
    else:
        config.write_text(yaml.safe_dump(_nest(path, value)))
    started: list[Settings] = []
    monkeypatch.setattr(cli, "run_service", started.append)
    code = cli.main(["run", "--config", str(config)])
    err = capsys.readouterr().err
    assert code == cli.EXIT_CONFIG, (path, value, err)
    assert not started, "the service started with a refused setting"
    dotted = ".".join(path)
    # Set through the environment, the variable's name is the key as the user wrote it (a key that
    # ends in "_" makes a variable with an empty part, which is refused by that name).
    named = dotted in err or f"'{path[-1]}'" in err or (variable is not None and variable in err)
    assert err.startswith("config error") and named, (dotted, err)


def test_the_fuzzer_covers_every_setting_and_every_bound() -> None:
    assert len(LEAVES) >= 50
    assert {p[0] for p, _ in LEAVES} >= {"kafka", "model", "records", "alerts", "dlq", "metrics", "logging"}
    assert sum(1 for _, info in LEAVES for _ in _bounds(info)) >= 30
    assert sum(1 for _, info in LEAVES if _literal_choices(info)) >= 5


# -- records -----------------------------------------------------------------------------------------
Rec = namedtuple("Rec", "topic partition offset key value")
REASONS = {r.value for r in Reason} | {SCORING_ERROR}

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
)
near_records = st.fixed_dictionaries(
    {},
    optional={
        "schema": st.integers(0, 2) | json_scalars,
        "asset_id": st.text(max_size=12) | json_values,
        "ts": st.floats() | st.integers() | st.text(max_size=30) | json_values,
        "values": st.dictionaries(st.sampled_from([*FEATURES, "extra"]), json_scalars, max_size=6)
        | json_values,
    },
)
raw_values = (
    st.binary(max_size=300)
    | st.none()
    | json_values.map(lambda v: orjson.dumps(v, option=orjson.OPT_NON_STR_KEYS) if _dumpable(v) else b"{")
    | near_records.map(lambda v: orjson.dumps(v) if _dumpable(v) else b"[")
)


def _dumpable(value: Any) -> bool:
    try:
        orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)
    except (orjson.JSONEncodeError, TypeError):
        return False
    return True


@pytest.fixture(scope="module")
def processor(fitted) -> BatchProcessor:
    settings = Settings.model_validate(
        {"kafka": {"topics": {"scores": "scores"}}, "records": {"max_record_bytes": 256}}
    )
    return BatchProcessor(settings, fitted, "v1", PipelineMetrics(CollectorRegistry()))


@hsettings(
    max_examples=max(150, hsettings.default.max_examples),
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(values=st.lists(raw_values, min_size=1, max_size=12), good_at=st.sets(st.integers(0, 11)))
def test_any_bytes_are_scored_or_dead_lettered_with_a_reason_never_raised(
    processor: BatchProcessor, values: list[bytes | None], good_at: set[int]
) -> None:
    rng = np.random.default_rng(len(values))
    for i in good_at:
        if i < len(values):  # real records among the garbage must still be scored
            row = rng.normal(size=len(FEATURES))
            values[i] = orjson.dumps(
                {
                    "asset_id": "f-1",
                    "ts": 1_790_000_000 + i,
                    "values": dict(zip(FEATURES, row.tolist(), strict=True)),
                }
            )
    records = [Rec("in", 0, i, b"k", v) for i, v in enumerate(values)]
    out = processor.process(records)
    scored = {orjson.loads(m.value)["offset"] for m in out.messages if m.topic == "scores"}
    dead = {
        int(dict(m.headers)["dlq.source.offset"]): dict(m.headers)
        for m in out.messages
        if m.topic.endswith(".dlq")
    }
    assert scored.isdisjoint(dead) and scored | set(dead) == set(range(len(values)))
    assert {h["dlq.reason"].decode() for h in dead.values()} <= REASONS
    assert all(h["dlq.detail"] for h in dead.values())
    assert {i for i in good_at if i < len(values)} <= scored
    assert out.offsets == {("in", 0): len(values)}
