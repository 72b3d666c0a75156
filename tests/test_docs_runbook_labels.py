"""The runbooks that ask operators to answer alerts give the commands that do it: ``dhag-pipeline alerts``
to find the alert ids, and ``dhag-pipeline label ALERT_ID --anomaly|--normal --operator NAME`` whole
(``--operator`` is required: a command without it is refused), never a label message to write by hand
(`label: normal`), which would bypass the checks ``label`` makes."""

from __future__ import annotations

import re

import pytest
from docs_support import REPO, markdown_snippets

RUNBOOKS = REPO / "docs" / "runbooks"
# The runbooks whose steps include answering the alerts of the event they are about.
ANSWERING = (
    "DhagAssetAnomalous",
    "DhagManyAssetsAnomalous",
    "DhagOutsideTrainingRange",
    "DhagDriftDetected",
    "DhagAssetSilentInFault",
    "DhagConsumerLagHigh",
    "DhagReadingsUnreferenced",
)
_LABEL = re.compile(r"dhag-pipeline label \S+ --(anomaly|normal)")  # a label given, not the command named


def _code(name: str) -> list[str]:
    return [" ".join(s.text.split()) for s in markdown_snippets(RUNBOOKS / f"{name}.md")]


@pytest.mark.parametrize("path", sorted(RUNBOOKS.glob("*.md")), ids=lambda p: p.stem)
def test_no_runbook_has_labels_written_by_hand(path) -> None:  # noqa: ANN001
    text = " ".join(path.read_text().split())
    assert not re.search(r"`label: *(normal|anomaly)`", text), f"{path.name}: gives a label to write by hand"
    for code in _code(path.stem):
        if _LABEL.search(code):
            assert "--operator" in code, f"{path.name}: {code!r} lacks --operator, which label requires"


@pytest.mark.parametrize("name", ANSWERING)
def test_a_runbook_that_asks_for_answers_gives_the_commands(name: str) -> None:
    code = _code(name)
    for verdict in ("--anomaly", "--normal"):
        assert any(re.search(rf"dhag-pipeline label ALERT_ID {verdict} --operator NAME", c) for c in code), (
            f"{name}: no `dhag-pipeline label ALERT_ID {verdict} --operator NAME`"
        )
    assert any(c.startswith("dhag-pipeline alerts") for c in code), (
        f"{name}: no `dhag-pipeline alerts` for the ids"
    )
