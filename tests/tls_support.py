"""Real PEM material for the tests of TLS settings, made with the ``openssl`` binary: a CA and a client
certificate signed by it, with its key plain and encrypted."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

KEY_PASSWORD = "key-pass"


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)


def tls_files(folder: Path) -> dict[str, Path]:
    """``ca``, ``cert``, ``key`` and ``encrypted_key`` (under :data:`KEY_PASSWORD`) in ``folder``, and
    ``other_key``, the key of another certificate."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl binary makes the PEM files of these tests")
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        name: folder / f"{name}.pem" for name in ("ca", "ca_key", "cert", "key", "encrypted_key", "other_key")
    }
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes")
    _openssl(
        "req", "-x509", *ec, "-keyout", str(files["ca_key"]), "-out", str(files["ca"]), "-subj", "/CN=ca"
    )
    csr = folder / "cert.csr"
    _openssl("req", "-new", *ec, "-keyout", str(files["key"]), "-out", str(csr), "-subj", "/CN=client")
    _openssl(
        "x509", "-req", "-in", str(csr), "-CA", str(files["ca"]), "-CAkey", str(files["ca_key"]),
        "-CAcreateserial", "-days", "2", "-out", str(files["cert"]),
    )  # fmt: skip
    _openssl(
        "pkey", "-in", str(files["key"]), "-aes256", "-passout", f"pass:{KEY_PASSWORD}",
        "-out", str(files["encrypted_key"]),
    )  # fmt: skip
    _openssl(
        "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(files["other_key"])
    )
    return files
