"""The twilio provider: SMS through Twilio's REST API, delivery statuses and replies back by webhook."""

from memoguard.adapters.twilio.hook import TwilioHook
from memoguard.adapters.twilio.provider import TwilioProvider

__all__ = ["TwilioHook", "TwilioProvider"]
