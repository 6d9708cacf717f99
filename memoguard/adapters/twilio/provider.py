"""The twilio provider: SMS pages out through Twilio's Messages API, voice pages through its Calls API.

``send`` makes one API call and returns the SID Twilio gave the message or the call; delivery statuses,
replies, and a call's TwiML, keys and statuses come back to ``hook`` (hook.py, callhook.py) through the
HTTP routes of http/twilio.py. Failures map onto the dispatcher's contract (errors.py): Twilio asking to
slow down holds the provider, a number that can never be reached is permanent, anything else — an
unreachable API, a timeout, a 5xx — may work later.
"""

from __future__ import annotations

import requests
from twilio.base.exceptions import TwilioRestException

from memoguard.adapters.twilio import errors, sms, voice
from memoguard.adapters.twilio.callhook import CallHook
from memoguard.adapters.twilio.client import TwilioClient
from memoguard.adapters.twilio.hook import TwilioHook
from memoguard.config.schema import TwilioProvider as TwilioSettings
from memoguard.services.clock import Clock
from memoguard.services.inbox import Inbox
from memoguard.services.provider import DeliveryError, Message
from memoguard.services.voice import CallDesk


class TwilioProvider:
    sms = True  # STOP opt-outs apply to what it sends

    def __init__(
        self,
        name: str,
        settings: TwilioSettings,
        auth_token: str,
        public_url: str,
        inbox: Inbox,
        clock: Clock,
        calls: CallDesk | None = None,
    ) -> None:
        """``calls``: what a call's keys and statuses do; without it the provider places no calls."""
        self.name = name
        self._settings = settings
        self._token = auth_token
        self._public_url = public_url
        self._calls = calls
        self._client = TwilioClient(
            settings.account_sid, auth_token, settings.api_base_url, settings.timeout.total_seconds()
        )
        answering = CallHook(name, auth_token, public_url, calls) if calls is not None else None
        self.hook = TwilioHook(name, settings.account_sid, auth_token, public_url, inbox, clock, answering)

    def send(self, message: Message) -> str:
        try:
            if message.channel == "voice":
                if self._calls is None:
                    raise DeliveryError(f"{self.name}: this provider places no calls", retryable=False)
                return self._client.create_call(
                    voice.form(self.name, self._settings, self._token, self._public_url, message)
                )
            return self._client.create_message(sms.form(self.name, self._settings, self._public_url, message))
        except TwilioRestException as error:
            code = error.code if isinstance(error.code, int) else None
            raise errors.refused(self.name, error.status, code, str(error.msg), self._client.retry_after()) from None
        except requests.RequestException as error:
            raise DeliveryError(
                f"{self.name}: Twilio could not be reached ({type(error).__name__}: {error})", retryable=True
            ) from None
