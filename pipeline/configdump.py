"""The settings as ``check-config`` prints them: YAML, secrets masked, defaults that depend on other keys
filled in."""

from __future__ import annotations

from typing import TYPE_CHECKING

import yaml

from pipeline.configpaths import label_store_path
from pipeline.safeyaml import plain_refused

if TYPE_CHECKING:
    from pipeline.config import Settings

__all__ = ["effective_config"]


class _SettingsDumper(yaml.SafeDumper):
    """YAML's safe writer, quoting text that the settings' reader would refuse unquoted (``09108``)."""


def _text(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style="'" if plain_refused(text) else None)


_SettingsDumper.add_representer(str, _text)


def effective_config(settings: Settings) -> str:
    """The settings as YAML, secrets masked, the label store's default path and the dead-letter topic's
    default name filled in: what ``check-config`` prints, which reads back as the same settings (a
    group id ``09108`` quoted: the reader refuses it unquoted).

    >>> from pipeline.config import Settings
    >>> print(effective_config(Settings.model_validate({"kafka": {"group_id": "09108"}})).splitlines()[3])
      group_id: '09108'
    """
    dumped = settings.model_dump(mode="json")
    dumped["retrain"]["label_store"] = str(label_store_path(settings))
    dumped["kafka"]["topics"]["dlq"] = settings.kafka.topics.dlq_topic  # null: <input>.dlq
    return yaml.dump(dumped, Dumper=_SettingsDumper, sort_keys=False)
