"""The one place that builds concrete adapters and hands them to the entry points.

For now that is the configuration and the clock; storage, providers and the engine join later.
"""

from __future__ import annotations

from pathlib import Path

from memoguard.adapters.clock import SystemClock
from memoguard.config.loader import load_config
from memoguard.config.model import Config
from memoguard.services.clock import Clock


def clock() -> Clock:
    return SystemClock()


def load(directory: Path) -> Config:
    """Load the configuration directory (raises ConfigError listing every problem)."""
    return load_config(directory)
