"""The twilio provider: SMS pages out through Twilio's Messages API (voice comes next).

``send`` makes one API call and returns the message SID Twilio gave it; delivery statuses and replies
come back to ``hook`` (hook.py) through the HTTP routes of http/twilio.py. Failures map onto the
dispatcher's contract (errors.py): Twilio asking to slow down holds the provider, a number that can never
be reached is permanent, anything else — an unreachable API, a timeout, a 5xx — may work later.
"""

from __future__ import annotations

import requests
from twilio.base.exceptions import TwilioRestException

from memoguard.adapters.twilio import errors, sms
from memoguard.adapters.twilio.client import TwilioClient
from memoguard.adapters.twilio.hook import TwilioHook
from memoguard.config.schema import TwilioProvider as TwilioSettings
from memoguard.services.clock import Clock
from memoguard.services.inbox import Inbox
from memoguard.services.provider import DeliveryError, Message


class TwilioProvider:
    sms = True  # STOP opt-outs apply to what it sends

    def __init__(
        self, name: str, settings: TwilioSettings, auth_token: str, public_url: str, inbox: Inbox, clock: Clock
    ) -> None:
        self.name = name
        self._settings = settings
        self._public_url = public_url
        self._client = TwilioClient(
            settings.account_sid, auth_token, settings.api_base_url, settings.timeout.total_seconds()
        )
        self.hook = TwilioHook(name, settings.account_sid, auth_token, public_url, inbox, clock)

    def send(self, message: Message) -> str:
        fields = sms.form(self.name, self._settings, self._public_url, message)
        try:
            return self._client.create_message(fields)
        except TwilioRestException as error:
            code = error.code if isinstance(error.code, int) else None
            raise errors.refused(self.name, error.status, code, str(error.msg), self._client.retry_after()) from None
        except requests.RequestException as error:
            raise DeliveryError(
                f"{self.name}: Twilio could not be reached ({type(error).__name__}: {error})", retryable=True
            ) from None
