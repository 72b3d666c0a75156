"""docs/deploy.md's backup list names each file the service keeps in the registry folder; before, it
left out ``promoted.json`` (who made each version current)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pipeline.promotedby import PROMOTED
from pipeline.promotionhold import HOLD
from pipeline.registrypointer import CURRENT, HISTORY, LOCK, SUFFIX

_DEPLOY = Path(__file__).resolve().parent.parent / "docs" / "deploy.md"


def _backup_item() -> str:
    (item,) = re.findall(r"^- Backup and restore:.*?(?=^- )", _DEPLOY.read_text(), re.S | re.M)
    return item


@pytest.mark.parametrize("name", [CURRENT, HISTORY, LOCK, f"*{SUFFIX}", HOLD, PROMOTED])
def test_each_registry_file_is_in_the_backup_list(name: str) -> None:
    assert f"`{name}`" in _backup_item()
