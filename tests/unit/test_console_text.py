"""The web console's words (http/console_text.py): both languages say the same things, and the countdown
to the next escalation step reads as the page's script writes it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from memoguard.http.console_text import EN, FR, countdown, texts


def test_both_languages_have_the_same_keys() -> None:
    assert set(EN) == set(FR)
    assert texts("fr") is FR and texts("de") is EN  # another language: English


@pytest.mark.parametrize(
    ("left", "language", "shown"),
    [
        (timedelta(minutes=4, seconds=5), "en", "in 4 min 05 s"),
        (timedelta(minutes=4, seconds=5), "fr", "dans 4 min 05 s"),
        (timedelta(hours=2, minutes=3, seconds=59), "en", "in 2 h 03 min"),
        (timedelta(seconds=0), "en", "now"),
        (timedelta(seconds=-30), "fr", "maintenant"),
    ],
)
def test_the_countdown(left: timedelta, language: str, shown: str) -> None:
    assert countdown(left, language) == shown
