"""A real browser for the web console's tests (issue 18): Debian's chromium package driven by Playwright
for Python, headless. Playwright's own browser download is never used: on-call servers and CI machines
install chromium from the distribution (.ci/run does), and ``executable_path`` points at it.

``MEMOGUARD_CHROMIUM`` names another binary (and must exist); otherwise /usr/bin/chromium, then
``chromium`` on the PATH. The tests skip, saying why, only when there is no browser at all. As root
(containers, CI) chromium refuses to start with its sandbox: ``--no-sandbox`` then, and only then.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

DEFAULT = "/usr/bin/chromium"


def chromium() -> str | None:
    """The browser to drive, or None when none is installed."""
    named = os.environ.get("MEMOGUARD_CHROMIUM", "").strip()
    if named:
        if not Path(named).is_file():
            raise FileNotFoundError(f"MEMOGUARD_CHROMIUM={named}: no such file")
        return named
    if Path(DEFAULT).is_file():
        return DEFAULT
    return shutil.which("chromium")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    path = chromium()
    if path is None:
        pytest.skip("no chromium installed (apt-get install -y chromium, or set MEMOGUARD_CHROMIUM)")
    args = ["--no-sandbox"] if os.geteuid() == 0 else []
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=path, headless=True, args=args)
        try:
            yield launched
        finally:
            launched.close()
