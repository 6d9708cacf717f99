"""What building the service can fail with, named for the operator (a secret that cannot be read, an
optional extra not installed): ``serve`` prints it and exits before anything starts."""

from __future__ import annotations


class StartupError(Exception):
    """The service cannot start as configured; the message says what to fix."""
