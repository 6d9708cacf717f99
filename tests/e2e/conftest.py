"""Fixtures of the end-to-end tests shared by several modules."""

from tests.e2e.browser import browser

__all__ = ["browser"]  # Debian's chromium driven by Playwright (tests/e2e/browser.py)
