"""The SMPP 3.4 provider (smpplib): SMS out to an SMSC, delivery receipts and replies back in."""

from memoguard.adapters.smpp.provider import SmppProvider

__all__ = ["SmppProvider"]
