"""A fake Twilio of the project's own: the REST API on loopback, and the webhooks Twilio sends back.

The API side is a real HTTP server (``http.server`` in a thread) that checks what Twilio's API reference
requires of ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` and ``…/Calls.json``: the account
SID in the path and the ``.json`` suffix, HTTP basic auth with the account SID and auth token, a
form-encoded body; for a message ``To`` and ``Body``, exactly one of ``From`` and ``MessagingServiceSid``,
E.164 numbers, an http(s) StatusCallback; for a call ``To``, ``From``, ``Url``, and what memoguard asks on
every call (status callback events, answering machine detection).
A request that breaks one is answered as Twilio does (a JSON error with ``code``, ``message``,
``more_info``, ``status``) and recorded in ``refusals``: tests assert there is none. Accepted messages
are recorded in ``messages``, placed calls in ``calls``; ``fail`` scripts the next answers (429, 20429, 21211, 503 …);
``before_answering`` runs with each call placed before its SID is answered.

The other side plays Twilio calling memoguard: ``status`` posts a message's status callback to the
StatusCallback URL it was given, ``inbound`` posts a text to the number's messaging webhook. Each is
signed as Twilio signs it (the library's ``RequestValidator.compute_signature`` over the URL Twilio was
given and the form), so memoguard's real validation path runs. ``target`` is where the requests are
actually delivered (memoguard behind its public URL, like a reverse proxy). A call's other side (the
phone answering, keys pressed, the call's statuses) is played by tests/support/phone.py.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlencode, urlsplit

from twilio.request_validator import RequestValidator

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "f" * 32
NUMBER = "+33700000001"  # memoguard's Twilio number
E164 = re.compile(r"\+[1-9][0-9]{1,14}")
PATH = re.compile(r"/2010-04-01/Accounts/(?P<sid>[^/]+)/(?P<resource>Messages|Calls)(?P<suffix>\.json)?")
CALL_EVENTS = frozenset({"initiated", "ringing", "answered", "completed"})
MACHINE_DETECTION = frozenset({"Enable", "DetectMessageEnd"})
URL = re.compile(r"https?://[^\s/]+/\S*")


@dataclass(frozen=True)
class Sent:
    sid: str
    form: Mapping[str, str]

    @property
    def to(self) -> str:
        return self.form["To"]

    @property
    def body(self) -> str:
        return self.form["Body"]


@dataclass(frozen=True)
class Placed:
    """A call memoguard placed: its form (``events``: every StatusCallbackEvent, repeated in the form)."""

    sid: str
    form: Mapping[str, str]
    events: tuple[str, ...]

    @property
    def to(self) -> str:
        return self.form["To"]


@dataclass(frozen=True)
class Failure:
    status: int
    code: int | None
    retry_after: str | None = None


@dataclass(frozen=True)
class Answer:
    """memoguard's answer to a webhook."""

    status: int
    content_type: str
    body: str

    def json(self) -> object:
        return json.loads(self.body)


@dataclass
class _State:
    messages: list[Sent] = field(default_factory=list)
    calls: list[Placed] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class Twilio:
    def __init__(self, public_url: str, *, account_sid: str = ACCOUNT_SID, auth_token: str = AUTH_TOKEN) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.public_url = public_url.rstrip("/")
        self.target: str | None = None  # where memoguard really listens
        # Called with each call placed, before the Calls API answers with its SID: a test plays Twilio
        # reporting on the call before memoguard has recorded the SID (a status callback racing the answer).
        self.before_answering: Callable[[Placed], None] | None = None
        self._state = _State()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-twilio", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> Twilio:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    # --- the API side

    @property
    def messages(self) -> list[Sent]:
        with self._state.lock:
            return list(self._state.messages)

    @property
    def calls(self) -> list[Placed]:
        with self._state.lock:
            return list(self._state.calls)

    @property
    def refusals(self) -> list[str]:
        with self._state.lock:
            return list(self._state.refusals)

    def fail(self, status: int, code: int | None = None, *, retry_after: str | None = None, count: int = 1) -> None:
        with self._state.lock:
            self._state.failures.extend([Failure(status, code, retry_after)] * count)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode("utf-8")
                status, body, headers = fake._create(self.path, dict(self.headers.items()), raw)
                data = json.dumps(body).encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

        return Handler

    def _refuse(self, status: int, code: int, message: str) -> tuple[int, dict[str, object], dict[str, str]]:
        with self._state.lock:
            self._state.refusals.append(f"{status} {code}: {message}")
        return status, _error(status, code, message), {}

    def _create(self, path: str, headers: Mapping[str, str], raw: str) -> tuple[int, dict[str, object], dict[str, str]]:
        found = PATH.fullmatch(urlsplit(path).path)
        if found is None:
            return self._refuse(404, 20404, f"the requested resource {path} was not found")
        if found["suffix"] is None:
            return self._refuse(404, 20404, f"the {found['resource']} resource is asked for with the .json suffix")
        expected = "Basic " + base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        if headers.get("Authorization") != expected:
            return self._refuse(401, 20003, "authentication error: wrong account SID or auth token")
        if found["sid"] != self.account_sid:
            return self._refuse(404, 20404, f"the account {found['sid']} in the path is not the authenticated one")
        if not (headers.get("Content-Type") or "").startswith("application/x-www-form-urlencoded"):
            return self._refuse(400, 20001, f"expected a form-encoded body, got {headers.get('Content-Type')!r}")
        if found["resource"] == "Calls":
            return self._call(parse_qsl(raw, keep_blank_values=True))
        form = dict(parse_qsl(raw, keep_blank_values=True))
        to = form.get("To")
        if not to:
            return self._refuse(400, 21604, "a 'To' phone number is required")
        if not E164.fullmatch(to):
            return self._refuse(400, 21211, f"the 'To' number {to} is not a valid phone number")
        if not form.get("Body"):
            return self._refuse(400, 21602, "message body is required")
        if ("From" in form) == ("MessagingServiceSid" in form):
            return self._refuse(400, 21603, "give exactly one of 'From' and 'MessagingServiceSid'")
        if "From" in form and not E164.fullmatch(form["From"]):
            return self._refuse(400, 21212, f"the 'From' number {form['From']} is not a valid phone number")
        callback = form.get("StatusCallback")
        if callback is not None and not URL.fullmatch(callback):
            return self._refuse(400, 21609, f"invalid 'StatusCallback' {callback!r}")
        failed = self._scripted()
        if failed is not None:
            return failed
        sid = "SM" + secrets.token_hex(16)
        with self._state.lock:
            self._state.messages.append(Sent(sid, form))
        resource: dict[str, object] = {
            "sid": sid,
            "account_sid": self.account_sid,
            "to": to,
            "from": form.get("From"),
            "messaging_service_sid": form.get("MessagingServiceSid"),
            "body": form["Body"],
            "status": "queued",
            "direction": "outbound-api",
            "api_version": "2010-04-01",
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
        }
        return 201, resource, {}

    def _scripted(self) -> tuple[int, dict[str, object], dict[str, str]] | None:
        with self._state.lock:
            failure = self._state.failures.pop(0) if self._state.failures else None
        if failure is None:
            return None
        extra = {"Retry-After": failure.retry_after} if failure.retry_after is not None else {}
        return failure.status, _error(failure.status, failure.code or 0, "scripted failure"), extra

    def _call(self, fields: list[tuple[str, str]]) -> tuple[int, dict[str, object], dict[str, str]]:
        """POST …/Calls.json: To and From (E.164), Url, and what memoguard asks for on every call: a POSTed
        StatusCallback with known events, and answering machine detection."""
        events = tuple(v for k, v in fields if k == "StatusCallbackEvent")
        form = {k: v for k, v in fields if k != "StatusCallbackEvent"}
        to, sender = form.get("To"), form.get("From")
        if not to:
            return self._refuse(400, 21201, "no 'To' number is specified")
        if not E164.fullmatch(to):
            return self._refuse(400, 21211, f"the 'To' number {to} is not a valid phone number")
        if not sender:
            return self._refuse(400, 21213, "no 'From' number is specified")
        if not E164.fullmatch(sender):
            return self._refuse(400, 21212, f"the 'From' number {sender} is not a valid phone number")
        if not URL.fullmatch(form.get("Url", "")):
            return self._refuse(400, 21205, f"invalid 'Url' {form.get('Url')!r}")
        if not URL.fullmatch(form.get("StatusCallback", "")):
            return self._refuse(400, 21609, f"invalid 'StatusCallback' {form.get('StatusCallback')!r}")
        if not events or not set(events) <= CALL_EVENTS:
            return self._refuse(400, 20001, f"invalid 'StatusCallbackEvent' {events!r}")
        if form.get("MachineDetection") not in MACHINE_DETECTION:
            return self._refuse(400, 20001, f"invalid 'MachineDetection' {form.get('MachineDetection')!r}")
        if form.get("Method", "POST") != "POST" or form.get("StatusCallbackMethod", "POST") != "POST":
            return self._refuse(400, 20001, "memoguard's routes take POST only")
        failed = self._scripted()
        if failed is not None:
            return failed
        sid = "CA" + secrets.token_hex(16)
        placed = Placed(sid, form, events)
        with self._state.lock:
            self._state.calls.append(placed)
        if self.before_answering is not None:
            self.before_answering(placed)
        resource: dict[str, object] = {
            "sid": sid,
            "account_sid": self.account_sid,
            "to": to,
            "from": sender,
            "status": "queued",
            "direction": "outbound-api",
            "api_version": "2010-04-01",
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Calls/{sid}.json",
        }
        return 201, resource, {}

    # --- Twilio calling memoguard

    def status(self, sid: str, status: str, error_code: str | None = None, *, token: str | None = None) -> Answer:
        """Post ``sid``'s status callback (queued, sent, delivered, undelivered, failed) where it was asked."""
        [sent] = [m for m in self.messages if m.sid == sid]
        form = {
            "AccountSid": self.account_sid,
            "ApiVersion": "2010-04-01",
            "From": sent.form.get("From", NUMBER),
            "To": sent.to,
            "MessageSid": sid,
            "SmsSid": sid,
            "MessageStatus": status,
            "SmsStatus": status,
        }
        if error_code is not None:
            form["ErrorCode"] = error_code
        return self.post(sent.form["StatusCallback"], form, token=token)

    def inbound(self, path: str, sender: str, body: str, *, to: str = NUMBER, token: str | None = None) -> Answer:
        """Post a text ``sender`` sent to ``to`` to the messaging webhook at ``path`` under the public URL."""
        sid = "SM" + secrets.token_hex(16)
        form = {
            "ToCountry": "FR",
            "SmsMessageSid": sid,
            "NumMedia": "0",
            "SmsSid": sid,
            "SmsStatus": "received",
            "Body": body,
            "To": to,
            "NumSegments": "1",
            "MessageSid": sid,
            "AccountSid": self.account_sid,
            "From": sender,
            "ApiVersion": "2010-04-01",
        }
        return self.post(self.public_url + path, form, token=token)

    def sign(self, url: str, form: Mapping[str, str], token: str | None = None) -> str:
        return str(RequestValidator(token or self.auth_token).compute_signature(url, dict(form)))

    def post(
        self, url: str, form: Mapping[str, str], *, token: str | None = None, signature: str | bool | None = True
    ) -> Answer:
        """POST ``form`` to ``url`` (under the public URL) at ``target``; ``signature``: True signs it with
        ``token`` (the auth token by default), a string is sent as is, None sends no signature."""
        assert self.target is not None, "set target: where memoguard listens"
        assert url.startswith(self.public_url), f"{url} is not under {self.public_url}"
        headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
        if signature is True:
            headers["X-Twilio-Signature"] = self.sign(url, form, token)
        elif isinstance(signature, str):
            headers["X-Twilio-Signature"] = signature
        request = urllib.request.Request(
            self.target + url[len(self.public_url) :], data=urlencode(form).encode(), headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return Answer(response.status, response.headers.get("Content-Type", ""), response.read().decode())
        except urllib.error.HTTPError as error:
            return Answer(error.code, error.headers.get("Content-Type", ""), error.read().decode())


def _error(status: int, code: int, message: str) -> dict[str, object]:
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
