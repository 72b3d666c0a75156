"""Config keys in the documents against the settings schema, and config.yaml against the schema: every
key there, with the schema's default."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from docs_support import REPO, doc_files
from pydantic import BaseModel

from pipeline.config import Settings
from pipeline.configsource import read_config_file

# The dlq.* headers of a dead letter share the prefix of the `dlq` section; their names are in the code.
_DLQ_HEADERS = {
    "dlq.reason",
    "dlq.detail",
    "dlq.source.topic",
    "dlq.source.partition",
    "dlq.source.offset",
    "dlq.first_seen",
    "dlq.truncated_from",
    "dlq.original_sha256",
    "dlq.output.topic",
    "dlq.value_dropped",
    "dlq.key_dropped_from",
}
_FILE_SUFFIXES = {"yml", "yaml", "py", "md", "json", "dhag", "sqlite", "csv", "parquet", "lock", "gz"}
_ENV = re.compile(r"\bDHAG_PIPELINE_([A-Z0-9_]+?)(?==|\b)")


def schema_keys(model: type[BaseModel] = Settings, prefix: str = "") -> dict[str, Any]:
    """Every leaf key of the settings (``kafka.topics.input``) -> its default."""
    keys: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        kind = info.annotation
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            keys |= schema_keys(kind, f"{prefix}{name}.")
        else:
            keys[prefix + name] = info.get_default(call_default_factory=True)
    return keys


def _sections() -> set[str]:
    return {key.split(".")[0] for key in schema_keys() if "." in key}


def _dotted(text: str) -> Iterator[str]:
    """The names in ``text`` that look like a key of a section: ``alerts.backfill_s``."""
    sections = "|".join(sorted(_sections()))
    for match in re.finditer(rf"(?<![\w./<-])((?:{sections})(?:\.\w+)+)(?![\w/(-])", text):
        name = match.group(1)
        if name.rsplit(".", 1)[1] in _FILE_SUFFIXES or not all(
            re.fullmatch(r"[a-z_][a-z0-9_]*", p) for p in name.split(".")
        ):
            continue  # a file (dhag-alerts.yml), or a Java class (kafka.tools.GetOffsetShell)
        if name.endswith(".") or name in _DLQ_HEADERS:
            continue
        yield name


_PYTHON_BLOCK = re.compile(r"^```python\n.*?^```", re.MULTILINE | re.DOTALL)


def documented_keys() -> dict[str, list[str]]:
    """Key -> the files that name it: the documents (their Python examples aside: ``model.threshold_``
    is an object's attribute there) and config.yaml's comments."""
    found: dict[str, list[str]] = {}
    texts = {p: _PYTHON_BLOCK.sub("", p.read_text()) for p in doc_files()}
    comments = [
        line.split("#", 1)[1] for line in (REPO / "config.yaml").read_text().splitlines() if "#" in line
    ]
    texts[REPO / "config.yaml"] = "\n".join(comments)
    for path, text in texts.items():
        for name in _dotted(text):
            found.setdefault(name, []).append(str(path.relative_to(REPO)))
    return found


def _env_key(variable: str) -> str:
    """``KAFKA__TOPICS__INPUT`` -> ``kafka.topics.input``."""
    return ".".join(part.lower() for part in variable.split("__"))


def test_the_dlq_headers_left_out_are_the_ones_the_daemon_writes() -> None:
    code = "".join(p.read_text() for p in (REPO / "pipeline").glob("*.py"))
    assert {h for h in _DLQ_HEADERS if f'"{h}"' not in code} == set()


def test_every_config_key_the_documents_name_exists() -> None:
    keys = schema_keys()
    sections = {k.rsplit(".", 1)[0] for k in keys if "." in k} | _sections()
    documented = documented_keys()
    assert {"alerts.backfill_s", "metrics.asset_limit", "kafka.topics.partitions"} <= set(documented)
    unknown = {k: where for k, where in documented.items() if k not in keys and k not in sections}
    assert unknown == {}


def test_every_environment_override_the_documents_show_names_a_key() -> None:
    keys = schema_keys()
    sections = {k.rsplit(".", 1)[0] for k in keys if "." in k}
    shown = {}
    for path in [*doc_files(), REPO / "config.yaml"]:
        for variable in _ENV.findall(path.read_text()):
            if variable.startswith("<") or variable in {"SECTION", "KEY"}:
                continue
            shown[_env_key(variable)] = f"{path.relative_to(REPO)}: DHAG_PIPELINE_{variable}"
    assert "kafka.bootstrap_servers" in shown
    assert {k: v for k, v in shown.items() if k not in keys and k not in sections} == {}


def _leaves(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in tree.items():
        if isinstance(value, dict):
            out |= _leaves(value, f"{prefix}{name}.")
        else:
            out[prefix + name] = value
    return out


def test_config_yaml_writes_out_every_key_with_its_default() -> None:
    written, keys = _leaves(read_config_file(REPO / "config.yaml")), schema_keys()
    assert sorted(set(keys) - set(written)) == [], "keys config.yaml does not document"
    assert sorted(set(written) - set(keys)) == [], "keys config.yaml has that the settings do not"
    # Each as the schema's default (a path as written: config.yaml's are relative, as the defaults).
    assert {
        k: (v, keys[k]) for k, v in written.items() if Settings.model_validate(_nest(k, v)) != Settings()
    } == {}


def _nest(key: str, value: Any) -> dict[str, Any]:
    tree: Any = value
    for part in reversed(key.split(".")):
        tree = {part: tree}
    return tree


_UNITS = {"": 1.0, "ms": 0.001, "s": 1.0, "min": 60.0, "h": 3600.0, "day": 86400.0, "days": 86400.0}
_STATED = re.compile(
    r"`((?:[a-z_]+\.)+[a-z_]+|shutdown_grace_s)`,? "
    r"\((\d[\d,]*(?:\.\d+)?)\s*(ms|s|min|h|days?)?(?: by default)?\)"
)


def stated_defaults(text: str) -> list[tuple[str, float, str]]:
    """``(key, value in the key's unit, as written)`` for each "`key` (value unit)" in ``text``."""
    found = []
    for key, number, unit in _STATED.findall(" ".join(text.split())):
        value = float(number.replace(",", "")) * _UNITS[unit or ""]
        if key.endswith("_ms"):
            value *= 1000
        found.append((key, value, f"{number} {unit}".strip()))
    return found


def test_defaults_the_documents_state_beside_a_key_are_its_defaults() -> None:
    keys = schema_keys()
    stated = [(p.relative_to(REPO), *s) for p in doc_files() for s in stated_defaults(p.read_text())]
    assert len(stated) >= 8  # e.g. `alerts.carry_over_s` (7 days), `shutdown_grace_s` (40 s)
    wrong = [(str(p), key, said) for p, key, value, said in stated if key in keys and value != keys[key]]
    assert wrong == []
    assert stated_defaults("`a.b_s` (2 h), `a.c_ms` (30 s by default), `a.d` (90 s at the defaults)") == [
        ("a.b_s", 7200.0, "2 h"),
        ("a.c_ms", 30000.0, "30 s"),
    ]
