"""Which browser the console's tests drive (tests/e2e/browser.py): ``MEMOGUARD_CHROMIUM`` when set (a
wrong path is an error, not a reason to skip), else Debian's /usr/bin/chromium or ``chromium`` on the PATH."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e import browser


def test_a_named_browser_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    binary = tmp_path / "chromium"
    binary.write_text("#!/bin/sh\n", encoding="utf-8")
    monkeypatch.setenv("MEMOGUARD_CHROMIUM", str(binary))
    assert browser.chromium() == str(binary)


def test_a_named_browser_that_is_not_there_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEMOGUARD_CHROMIUM", str(tmp_path / "nothing"))
    with pytest.raises(FileNotFoundError, match="MEMOGUARD_CHROMIUM"):
        browser.chromium()


def test_none_when_no_browser_is_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MEMOGUARD_CHROMIUM", raising=False)
    monkeypatch.setattr(browser, "DEFAULT", str(tmp_path / "absent"))
    monkeypatch.setenv("PATH", str(tmp_path))
    assert browser.chromium() is None
