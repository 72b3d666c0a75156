"""The ``models`` command on a version's file whose safetensors header holds a line break or a terminal's
escape where a format version or a tensor's type belongs (damaged, or written by another tool): the
reason it cannot be read quotes that text escaped as ``dhag info`` shows a name
(:func:`dhag.infotext.shown_name`), so that it neither breaks the table's row or the refusal's line nor
acts on the terminal, wherever the reason goes (``models show`` gives the same sentence in its JSON)."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from pipeline import registry
from pipeline.cli import main

ODD = "9\x1b]0;owned\x07\n"  # retitles the window, then breaks the line


def _models(root: Path, *action: str) -> list[str]:
    return ["models", "--registry", str(root), *action]


def _rewrite_header(path: Path, change) -> None:
    data = path.read_bytes()
    (size,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + size])
    change(header)
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + data[8 + size :])


def _format(header: dict) -> None:
    header["__metadata__"]["dhag_format"] = ODD


def _dtype(header: dict) -> None:
    name = next(k for k in header if k != "__metadata__")
    header[name]["dtype"] = ODD


@pytest.mark.parametrize("change", [_format, _dtype], ids=["format_version", "tensor_dtype"])
def test_list_and_promote_quote_the_header_s_text_escaped(fitted, tmp_path: Path, capsys, change) -> None:
    # Before, "has format version 9<ESC>]0;owned<BEL>" and a line break (or safetensors' "unknown
    # variant `...`" quoting the type) went raw into the UNREADABLE cell, the NONE USABLE line and the
    # refusal.
    registry.publish(tmp_path, fitted, "v1")
    registry.publish(tmp_path, fitted, "v2")
    _rewrite_header(tmp_path / "v2.dhag", change)
    assert main(_models(tmp_path, "list")) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and len(out.splitlines()) == 4, out
    unreadable = out.splitlines()[-1]
    assert unreadable.startswith("*  v2") and "UNREADABLE: " in unreadable and "9\\x1b]0;owned" in unreadable
    assert main(_models(tmp_path, "promote", "v2")) == 2
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\x07" not in err and len(err.splitlines()) == 1, err
    assert main(_models(tmp_path, "show", "v2")) == 0
    assert r"9\x1b]0;owned\x07\n" in json.loads(capsys.readouterr().out)["error"]
