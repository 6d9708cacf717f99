"""Twilio's REST client (the official ``twilio`` package), pointed at the configured API base.

The library builds every URL on ``https://api.twilio.com``; a configured ``api_base_url`` (the tests'
fake Twilio, a Twilio-compatible service) replaces that prefix in its HTTP client, so the library's own
request building (the account SID in the path, basic auth, the form body, the ``.json`` suffix) is what
goes out. No retries: the dispatcher decides when to try again. The last response's headers stay
readable, for ``Retry-After``.
"""

from __future__ import annotations

from typing import Any

from twilio.base import values
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from memoguard.adapters.twilio import voice

TWILIO_API = "https://api.twilio.com"


class _Rebased(TwilioHttpClient):  # type: ignore[misc]  # the twilio package is untyped
    def __init__(self, base_url: str, timeout: float) -> None:
        super().__init__(timeout=timeout, max_retries=0)
        self._base = base_url.rstrip("/")

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        if url.startswith(TWILIO_API):
            url = self._base + url[len(TWILIO_API) :]
        response: Response = super().request(method, url, *args, **kwargs)
        return response


class TwilioClient:
    def __init__(self, account_sid: str, auth_token: str, base_url: str, timeout: float) -> None:
        self._http = _Rebased(base_url, timeout)
        self._client = Client(account_sid, auth_token, account_sid, http_client=self._http)

    def create_message(self, form: dict[str, str]) -> str:
        """POST …/Accounts/{sid}/Messages.json; the new message's SID. Raises TwilioRestException on a
        refusal and requests' exceptions when Twilio cannot be reached."""
        message = self._client.messages.create(
            to=form["To"],
            body=form["Body"],
            status_callback=form["StatusCallback"],
            from_=form.get("From", values.unset),
            messaging_service_sid=form.get("MessagingServiceSid", values.unset),
        )
        return str(message.sid)

    def create_call(self, form: dict[str, str]) -> str:
        """POST …/Accounts/{sid}/Calls.json; the new call's SID. Raises as ``create_message`` does."""
        call = self._client.calls.create(
            to=form["To"],
            from_=form["From"],
            url=form["Url"],
            method="POST",
            status_callback=form["StatusCallback"],
            status_callback_event=list(voice.EVENTS),
            status_callback_method="POST",
            machine_detection=form["MachineDetection"],
            timeout=int(form["Timeout"]),
        )
        return str(call.sid)

    def retry_after(self) -> str | None:
        """The Retry-After header of the last response, if it had one."""
        response = getattr(self._http, "_test_only_last_response", None)
        headers = getattr(response, "headers", None) or {}
        value = headers.get("Retry-After")
        return str(value) if value is not None else None
