"""The Messages API form of one SMS page (https://www.twilio.com/docs/messaging/api/message-resource).

``To`` is the person's number in E.164; the sender is ``From`` or ``MessagingServiceSid`` (exactly one,
the configuration says which); ``StatusCallback`` is memoguard's status route under ``http.public_url``,
so each status Twilio reports comes back signed, for the notification and its timeline. A body over
1600 characters (Twilio's limit: error 21617) fails at once, as a permanent failure.
"""

from __future__ import annotations

import re

from memoguard.config.schema import TwilioProvider as TwilioSettings
from memoguard.services.provider import DeliveryError, Message

MAX_BODY = 1600
E164 = re.compile(r"\+[1-9][0-9]{1,14}")


def status_path(name: str) -> str:
    return f"/twilio/{name}/status"


def inbound_path(name: str) -> str:
    return f"/twilio/{name}/sms"


def form(name: str, settings: TwilioSettings, public_url: str, message: Message) -> dict[str, str]:
    person = message.person
    if person is None:
        raise DeliveryError(f"{name}: an SMS needs a person to send it to", retryable=False)
    if not person.phone:
        raise DeliveryError(f"{name}: {person.name} has no phone number", retryable=False)
    if not E164.fullmatch(person.phone):
        raise DeliveryError(f"{name}: {person.name}'s phone {person.phone!r} is not an E.164 number", retryable=False)
    if len(message.text) > MAX_BODY:
        raise DeliveryError(
            f"{name}: the text has {len(message.text)} characters, Twilio takes at most {MAX_BODY}", retryable=False
        )
    fields = {
        "To": person.phone,
        "Body": message.text,
        "StatusCallback": public_url.rstrip("/") + status_path(name),
    }
    if settings.messaging_service_sid is not None:
        fields["MessagingServiceSid"] = settings.messaging_service_sid
    else:
        assert settings.from_ is not None  # the schema asks for one of them
        fields["From"] = settings.from_
    return fields
