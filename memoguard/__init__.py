"""memoguard: on-call supervision and escalation engine."""

__version__ = "0.1.0"
