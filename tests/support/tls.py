"""A self-signed certificate for 127.0.0.1, made by the openssl command, for the TLS tests of the
protocol peers (tests/integration/test_smpp.py, test_smtp.py). The test is skipped where openssl is
missing: the certificate is the test's input, not what it checks."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest


def self_signed(folder: Path) -> tuple[Path, Path]:
    """(key, certificate) PEM files in ``folder``, valid one day for 127.0.0.1."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command makes the test certificate")
    key, cert = folder / "key.pem", folder / "cert.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return key, cert
