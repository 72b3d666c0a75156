"""``dhag bench ... --json`` naming a symbolic link (``results/latest.json`` pointing at a dated file):
the results are written to the file it leads to, and the link stays a link, as for ``train --out``.
Before, the link was replaced by a file of its own and the dated file kept the older results."""

from __future__ import annotations

import json
from pathlib import Path

from test_bench_merge import _part

from dhag.cli import main


def test_bench_merge_json_a_link_writes_the_file_it_leads_to(tmp_path: Path) -> None:
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(_part([0, 1, 2], [0.9, 0.8, 0.95])))
    b.write_text(json.dumps(_part([3, 4], [0.7, 0.85])))
    dated = tmp_path / "runs" / "2026-12-05.json"
    dated.parent.mkdir()
    dated.write_text("{}\n")
    link = tmp_path / "latest.json"
    link.symlink_to(dated)
    assert main(["bench", "merge", str(a), str(b), "--json", str(link)]) == 0
    assert link.is_symlink()
    assert json.loads(dated.read_text())["meta"]["seeds"] == [0, 1, 2, 3, 4]
    assert sorted(p.name for p in dated.parent.iterdir()) == ["2026-12-05.json"]
