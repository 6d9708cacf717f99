"""What an SMTP failure means for the dispatcher (services/provider.py), as a table and one function.

- The server could not be reached, dropped the connection, timed out, or answered 4xx: the failure is
  transient, the dispatcher retries within the channel's deadline (then fails over).
- 421 or 451 saying it is throttling ("too many", "rate", "slow down"…): the server asked to slow
  down; ``retry_after`` holds every message for this provider for ``THROTTLE_WAIT``, which is not held
  against the message (Postfix, Exchange and Gmail all word their rate limits this way).
- 5xx (a refused recipient, sender, login or message) and a TLS or certificate failure: trying the
  same server again will not help, the message fails over to the channel's next provider, or the
  person's next channel.

Alertmanager retries every SMTP error, a 550 for an unknown user included, until its deadline: for a
page that is minutes lost before the SMS goes out, so a 5xx is permanent here.
"""

from __future__ import annotations

import smtplib
import ssl
from datetime import timedelta

from memoguard.services.provider import DeliveryError

THROTTLE_WAIT = timedelta(minutes=1)
THROTTLE_CODES = frozenset({421, 450, 451, 452})
# Words mail servers use when refusing for rate (lower case, matched in the server's text).
THROTTLE_WORDS = ("too many", "too quickly", "rate", "throttl", "slow down", "try again later", "exceeded", "limit")


def reply_error(code: int, text: str, what: str) -> DeliveryError:
    """The DeliveryError for the SMTP reply ``code`` with ``text`` to ``what`` (e.g. "RCPT alice@…")."""
    reason = f"{what}: {code} {text}".strip()
    if code in THROTTLE_CODES and any(word in text.lower() for word in THROTTLE_WORDS):
        return DeliveryError(f"{reason} (throttled)", retryable=True, retry_after=THROTTLE_WAIT)
    if 400 <= code < 500:
        return DeliveryError(reason, retryable=True)
    # 5xx, and anything a server should not answer (a 2xx or 3xx where an error was raised, a -1 from
    # smtplib for an unreadable reply): a retry of the same dialogue would end the same way.
    return DeliveryError(reason, retryable=code < 0)


def _text(message: bytes | str) -> str:
    if isinstance(message, bytes):
        message = message.decode("utf-8", "replace")
    return " ".join(message.split())


def delivery_error(error: Exception, server: str) -> DeliveryError:
    """The DeliveryError for ``error``, raised while talking to ``server`` ("host:port")."""
    match error:
        case smtplib.SMTPRecipientsRefused():
            # One recipient per message: its refusal is the message's. The worst of several wins.
            refusals = sorted(error.recipients.items(), key=lambda item: -item[1][0])
            address, (code, text) = refusals[0]
            return reply_error(code, _text(text), f"{server} refused RCPT {address}")
        case smtplib.SMTPSenderRefused():
            return reply_error(error.smtp_code, _text(error.smtp_error), f"{server} refused MAIL FROM {error.sender}")
        case smtplib.SMTPAuthenticationError():
            return reply_error(error.smtp_code, _text(error.smtp_error), f"{server} refused the login")
        case smtplib.SMTPResponseException():  # DATA, HELO, STARTTLS…, including SMTPConnectError's banner
            return reply_error(error.smtp_code, _text(error.smtp_error), f"{server} answered")
        case smtplib.SMTPNotSupportedError():
            return DeliveryError(f"{server}: {error} (is tls right for this server?)", retryable=False)
        case ssl.SSLCertVerificationError():
            return DeliveryError(f"{server}: certificate not trusted: {error.verify_message}", retryable=False)
        case ssl.SSLError():
            return DeliveryError(f"{server}: TLS failed: {error}", retryable=False)
        case smtplib.SMTPServerDisconnected():
            return DeliveryError(f"{server} closed the connection: {error}", retryable=True)
        case TimeoutError():
            return DeliveryError(f"{server} did not answer in time", retryable=True)
        case smtplib.SMTPException():  # an SMTPException is an OSError: before the catch-all below
            return DeliveryError(f"{server}: {error}", retryable=True)
        case OSError():  # refused, unreachable, reset, DNS
            return DeliveryError(f"{server} unreachable: {error}", retryable=True)
    return DeliveryError(f"{server}: {type(error).__name__}: {error}", retryable=True)
