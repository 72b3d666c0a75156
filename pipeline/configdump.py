"""The settings as ``check-config`` prints them: YAML, secrets masked, defaults that depend on other keys
filled in."""

from __future__ import annotations

from typing import TYPE_CHECKING

import yaml

from pipeline.configpaths import label_store_path

if TYPE_CHECKING:
    from pipeline.config import Settings

__all__ = ["effective_config"]


def effective_config(settings: Settings) -> str:
    """The settings as YAML, secrets masked, the label store's default path filled in: what
    ``check-config`` prints."""
    dumped = settings.model_dump(mode="json")
    dumped["retrain"]["label_store"] = str(label_store_path(settings))
    return yaml.safe_dump(dumped, sort_keys=False)
