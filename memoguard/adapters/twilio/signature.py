"""X-Twilio-Signature, checked with the library's RequestValidator.

The URL signed is the one Twilio was given — built from ``http.public_url`` and the path and query asked
for, never from the request's Host or X-Forwarded-* headers (which anyone can set) — and the fields are
the form exactly as received, repeated keys included: Twilio adds parameters without notice, and every
one is signed.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from twilio.request_validator import RequestValidator


class _Fields:
    """The form as the validator reads a multi-valued mapping (``getall``), so no field is dropped."""

    def __init__(self, form: Sequence[tuple[str, str]]) -> None:
        self._form = form

    def __iter__(self) -> Iterator[str]:
        return iter({key for key, _ in self._form})

    def getall(self, key: str) -> list[str]:
        return [value for name, value in self._form if name == key]


def url(public_url: str, path: str, query: str) -> str:
    return public_url.rstrip("/") + path + (f"?{query}" if query else "")


def valid(token: str, signed_url: str, form: Sequence[tuple[str, str]], signature: str | None) -> bool:
    if not signature:
        return False
    return bool(RequestValidator(token).validate(signed_url, _Fields(form), signature))
