"""The shape of the YAML files, as pydantic models: unknown keys are errors, values are parsed early.

Values that the domain knows how to read (durations, times of day, targets, weekdays) are parsed here
by the domain's own functions, so a typo is reported at its exact location with the domain's message.
Cross-references (a roster naming an unknown person…) are checked afterwards, by the loader.
"""

from __future__ import annotations

import ipaddress
import re
import typing
from datetime import date, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationInfo,
    field_validator,
    model_validator,
)

from memoguard.domain.duration import parse_duration
from memoguard.domain.policy import Target
from memoguard.domain.rate import Rate, parse_rate
from memoguard.domain.selftest import parse_schedule
from memoguard.domain.severity import check_map
from memoguard.domain.silence import parse_every
from memoguard.domain.walltime import parse_handoff, parse_time_of_day, parse_weekday


def _text(value: Any, what: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ValueError(f"expected {what}, got {type(value).__name__} {value!r}")
    return str(value)


def _duration(value: Any) -> timedelta:
    return parse_duration(_text(value, "a duration such as 30s, 5m, 4h or 1w"))


def _weekday(value: Any) -> int:
    return parse_weekday(_text(value, "a weekday such as mon"))


def _time_of_day(value: Any) -> str:
    text = _text(value, "a time of day such as 08:30")
    parse_time_of_day(text)
    return text


def _handoff(value: Any) -> str:
    text = _text(value, "a handoff such as 'mon 09:00' or '09:00'")
    parse_handoff(text)
    return text


def _target(value: Any) -> Target:
    return Target.parse(_text(value, "a target such as roster:NAME or person:NAME"))


def _date(value: Any) -> date:
    text = _text(value, "a date such as 2026-01-05")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"invalid date {text!r}: expected YYYY-MM-DD") from None


def _rate(value: Any) -> Rate:
    return parse_rate(_text(value, "a rate such as 20/s, 400/min or 2500/day"))


Duration = Annotated[timedelta, PlainValidator(_duration)]
RateText = Annotated[Rate, PlainValidator(_rate)]
Weekday = Annotated[int, PlainValidator(_weekday)]
TimeOfDay = Annotated[str, PlainValidator(_time_of_day)]
Handoff = Annotated[str, PlainValidator(_handoff)]
TargetRef = Annotated[Target, PlainValidator(_target)]
Day = Annotated[date, PlainValidator(_date)]
Name = Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class SecretRef(Strict):
    """Secrets come from a file (systemd credentials) or an environment variable, never from YAML."""

    @model_validator(mode="after")
    def _one_source(self) -> SecretRef:
        for prefix in _secret_prefixes(type(self)):
            given = [f"{prefix}_{kind}" for kind in ("file", "env") if getattr(self, f"{prefix}_{kind}") is not None]
            if len(given) > 1:
                raise ValueError(f"set only one of {prefix}_file and {prefix}_env")
        return self


def _secret_prefixes(model: type[BaseModel]) -> list[str]:
    return [name[: -len("_file")] for name in model.model_fields if name.endswith("_file")]


# --- memoguard.yaml ---------------------------------------------------------------------------------


class PersonModel(Strict):
    phone: str | None = None
    email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    language: Literal["fr", "en"] = "en"
    timezone: str | None = None
    channels: list[Name] = []
    # ``role: admin`` and the older ``admin: true`` say the same; ``responder`` is the default.
    role: Literal["responder", "admin"] | None = None
    admin: bool = False


def _networks(value: Any) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    if not isinstance(value, list):
        raise ValueError("a list of addresses or networks, such as [127.0.0.1/32, ::1/128]")
    found = []
    for item in value:
        if not isinstance(item, str):
            raise ValueError(f"{item!r} is not an address or network (such as 127.0.0.1/32)")
        try:
            found.append(ipaddress.ip_network(item.strip(), strict=True))
        except ValueError as error:
            raise ValueError(f"{item!r} is not an address or network: {error}") from None
    return tuple(found)


Networks = Annotated[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...], PlainValidator(_networks)]


class AuthModel(Strict):
    """Web sign-in (issue 23, services/signin.py and services/session.py): how long a one-time code
    works, how many a person may be sent per ``code_window``, a web session's idle and absolute limits,
    and a trusted reverse proxy's identity header with the addresses it is accepted from."""

    code_ttl: Duration = timedelta(minutes=10)
    codes_per_person: int = Field(default=3, ge=1, le=100)
    code_window: Duration = timedelta(minutes=15)
    session_idle: Duration = timedelta(hours=12)
    session_max: Duration = timedelta(days=7)
    proxy_header: str | None = Field(default=None, pattern=r"^[A-Za-z0-9-]+$")
    proxy_addresses: Networks = ()

    @model_validator(mode="after")
    def _coherent(self) -> AuthModel:
        if self.code_ttl <= timedelta(0) or self.code_ttl > timedelta(hours=1):
            raise ValueError("code_ttl must be more than 0 and at most 1h: a code is for the next minutes")
        if self.code_window <= timedelta(0):
            raise ValueError("code_window must be more than 0")
        if self.session_idle <= timedelta(0) or self.session_max <= timedelta(0):
            raise ValueError("session_idle and session_max must be more than 0")
        if self.session_idle > self.session_max:
            raise ValueError("session_idle must not be longer than session_max")
        if (self.proxy_header is None) != (not self.proxy_addresses):
            raise ValueError("give both proxy_header and proxy_addresses (the proxies it is accepted from), or neither")
        return self


class HttpModel(SecretRef):
    """``public_url``: where people reach this service (links in e-mails and events). ``link_secret_*``:
    the key that signs the acknowledgement links of e-mail pages (issue 16); ``link_ttl``: how long a
    link works after its e-mail was sent."""

    listen: str = "127.0.0.1:8080"
    public_url: str | None = None
    link_secret_file: str | None = None
    link_secret_env: str | None = None
    link_ttl: Duration = timedelta(hours=24)
    # Replies to e-mail pages (adapters/smtp/listener.py): where the listener binds (HOST:PORT) and the
    # domain of the reply addresses, which the site's mail server forwards to it.
    reply_listen: str | None = None
    reply_domain: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)+$"
    )
    auth: AuthModel = AuthModel()  # web sign-in: codes, sessions, a trusted proxy's identity header

    @model_validator(mode="after")
    def _replies(self) -> HttpModel:
        if (self.reply_listen is None) != (self.reply_domain is None):
            raise ValueError("give both reply_listen (HOST:PORT) and reply_domain, or neither")
        if self.reply_listen is not None:
            host, sep, port = self.reply_listen.rpartition(":")
            if not sep or not host.strip("[]") or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"reply_listen {self.reply_listen!r}: expected HOST:PORT such as 127.0.0.1:2525")
        if self.reply_listen is not None and self.link_secret_file is None and self.link_secret_env is None:
            raise ValueError("reply addresses are signed: set link_secret_file or link_secret_env")
        return self


def _listen(value: str, key: str, example: str) -> str:
    host, sep, port = value.rpartition(":")
    if not sep or not host.strip("[]") or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{key} {value!r}: expected HOST:PORT such as {example}")
    return value


class MetricsModel(SecretRef):
    """/metrics (Prometheus): ``token_file``/``token_env`` serve it on the API's port to a scraper sending
    ``Authorization: Bearer <token>``; ``listen`` serves it, without a token, on an address of its own
    (a private interface). Neither: no /metrics."""

    token_file: str | None = None
    token_env: str | None = None
    listen: str | None = None

    @model_validator(mode="after")
    def _address(self) -> MetricsModel:
        if self.listen is not None:
            _listen(self.listen, "listen", "127.0.0.1:9108")
        return self


class LoggingModel(Strict):
    """How ``serve`` logs (engine/logs.py): ``auto`` is text on a terminal, the journal's own protocol
    under systemd (``$JOURNAL_STREAM``), JSON lines otherwise."""

    format: Literal["auto", "json", "text", "journald"] = "auto"
    level: Literal["debug", "info", "warning", "error"] = "info"


def _schedule(value: Any) -> str:
    text = _text(value, "a schedule such as 'mon 10:00'")
    parse_schedule(text, ZoneInfo("UTC"))  # the zone is the self-test's: only the shape is checked here
    return text


class SelfTestModel(Strict):
    """A test page on a schedule (services/selftest.py): ``to`` is paged on each of their channels at
    ``every`` (in ``timezone``); unacknowledged within ``timeout`` it escalates through ``policy``."""

    every: Annotated[str, PlainValidator(_schedule)]
    to: TargetRef
    policy: Name
    timeout: Duration = timedelta(minutes=15)
    timezone: str | None = None  # memoguard.yaml's timezone when not given

    @model_validator(mode="after")
    def _positive(self) -> SelfTestModel:
        if self.timeout <= timedelta():
            raise ValueError("timeout must be longer than 0s")
        return self


class SourceModel(SecretRef):
    kind: Literal["generic", "alertmanager", "opsgenie", "grafana", "zabbix", "pagerduty", "heartbeat"] = "generic"
    token_file: str | None = None
    token_env: str | None = None
    # The tool's severities onto memoguard's, over the kind's defaults (domain/severity.py).
    severity_map: dict[str, str] = {}
    # Dead man's switch (issue 17, services/deadman.py): a ping to /api/v1/heartbeats/NAME expected every
    # ``heartbeat``, late by up to ``grace``; ``kind: heartbeat`` is a source that only pings.
    heartbeat: Duration | None = None
    grace: Duration | None = None

    @model_validator(mode="after")
    def _has_token(self) -> SourceModel:
        if self.token_file is None and self.token_env is None:
            raise ValueError("a source needs token_file or token_env (its bearer token)")
        problems = check_map(self.kind, self.severity_map)
        if problems:
            raise ValueError("severity_map: " + "; ".join(problems))
        return _check_heartbeat(self)


class MatchModel(Strict):
    source: Name | list[Name] | None = None
    severity: str | list[str] | None = None
    labels: dict[str, str] = {}


def _check_heartbeat(source: SourceModel) -> SourceModel:
    if source.kind == "heartbeat" and source.heartbeat is None:
        raise ValueError("a source of kind heartbeat needs heartbeat: how often it pings, such as 5m")
    if source.heartbeat is not None and source.heartbeat <= timedelta():
        raise ValueError("heartbeat must be longer than 0s")
    if source.grace is not None and source.heartbeat is None:
        raise ValueError("grace is the lateness allowed to a heartbeat: set heartbeat too")
    return source


def _every(value: Any) -> str:
    text = _text(value, "a weekly window such as 'sunday 02:00-04:00'")
    parse_every(text, ZoneInfo("UTC"))  # the zone is the silence's: only the shape is checked here
    return text


class SilenceModel(Strict):
    """A recurring maintenance window (domain/silence.py): alarms matching ``match`` (as routes do)
    open silenced incidents during ``every`` (weekdays and HH:MM-HH:MM in ``timezone``)."""

    name: Name
    every: Annotated[str, PlainValidator(_every)]
    timezone: str | None = None  # memoguard.yaml's timezone when not given
    match: MatchModel = MatchModel()
    comment: str = ""


class RouteModel(Strict):
    match: MatchModel = MatchModel()
    policy: Name
    resolve: bool = True


class ConsoleProvider(Strict):
    kind: Literal["console"]
    file: str | None = None
    rate: list[RateText] = []


class SmppSource(Strict):
    """The sender address of messages, with its type of number (TON) and numbering plan (NPI). Without
    them they follow from the address: any letter → alphanumeric (TON 5, NPI 0); ``+`` then digits →
    international (TON 1, NPI 1, sent without the ``+``); digits only (a short code) → unknown (TON 0,
    NPI 1)."""

    address: str = Field(min_length=1, max_length=20)
    ton: int | None = Field(default=None, ge=0, le=6)
    npi: int | None = Field(default=None, ge=0, le=18)

    @model_validator(mode="after")
    def _alphanumeric_length(self) -> SmppSource:
        # GSM carries an alphanumeric sender in 11 characters; networks cut or reject longer ones.
        if any(c.isalpha() for c in self.address) and len(self.address) > 11:
            raise ValueError(f"an alphanumeric sender has at most 11 characters, got {self.address!r}")
        return self


def _smpp_source(value: Any) -> Any:
    return {"address": value} if isinstance(value, str) else value


SmppSourceEntry = Annotated[SmppSource, BeforeValidator(_smpp_source)]


class SmppProvider(SecretRef):
    """A link to an SMSC over SMPP 3.4: pages out, delivery receipts and replies in."""

    kind: Literal["smpp"]
    host: str
    port: int = Field(default=2775, ge=1, le=65535)
    system_id: str = Field(min_length=1, max_length=15)
    password_file: str | None = None
    password_env: str | None = None
    system_type: str = Field(default="", max_length=12)
    source: SmppSourceEntry | None = None  # None: the SMSC's default sender
    bind: Literal["transceiver", "separate"] = "transceiver"  # separate: one transmitter and one receiver bind
    enquire_link: Duration = timedelta(seconds=30)  # how often the link is checked when idle
    timeout: Duration = timedelta(seconds=10)  # how long an answer (submit_sm_resp, enquire_link_resp) may take
    reconnect_max: Duration = timedelta(minutes=1)  # the longest wait between two attempts to bind again
    receipts: bool = True  # ask the SMSC for delivery receipts (registered_delivery)
    tls: bool = False
    tls_ca: str | None = None  # a CA bundle (PEM file) to verify the SMSC's certificate (default: the system's)
    rate: list[RateText] = []

    @model_validator(mode="after")
    def _tls_ca_needs_tls(self) -> SmppProvider:
        if self.tls_ca is not None and not self.tls:
            raise ValueError("tls_ca is set but tls is not: set tls: true to bind over TLS")
        return self


def _url(value: Any) -> str:
    text = _text(value, "a URL such as https://desk.example.net")
    if not re.fullmatch(r"https?://[^\s/]+(/\S*)?", text):
        raise ValueError(f"invalid URL {text!r}: expected http:// or https://, a host, then an optional path")
    return text


HttpUrl = Annotated[str, PlainValidator(_url)]


class ZendeskProvider(SecretRef):
    """A Zendesk-compatible helpdesk: one ticket per incident, updated as it goes."""

    kind: Literal["zendesk"]
    url: HttpUrl
    email: str | None = None  # API token auth is ``{email}/token:{token}``
    token_file: str | None = None
    token_env: str | None = None
    rate: list[RateText] = []
    batch: int = Field(default=100, ge=1, le=100)  # tickets per create_many call
    poll_every: Duration = timedelta(seconds=2)  # how often a batch job's status is asked for
    timeout: Duration = timedelta(seconds=10)

    @model_validator(mode="after")
    def _credentials(self) -> ZendeskProvider:
        if (self.email is None) != (self.token_file is None and self.token_env is None):
            raise ValueError("give both email and token_file/token_env (API token), or neither")
        return self


class WebhookProvider(SecretRef):
    """POSTs each message as JSON, signed with HMAC-SHA256 when a secret is set."""

    kind: Literal["webhook"]
    url: HttpUrl
    secret_file: str | None = None
    secret_env: str | None = None
    rate: list[RateText] = []
    timeout: Duration = timedelta(seconds=10)


EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


def _email_address(value: Any) -> str:
    text = _text(value, "an e-mail address such as pager@example.net")
    if not re.fullmatch(EMAIL_PATTERN, text):
        raise ValueError(f"invalid e-mail address {text!r}: expected local-part@domain.tld, without spaces")
    return text


EmailAddress = Annotated[str, PlainValidator(_email_address)]


class SmtpProvider(SecretRef):
    """A mail server pages are handed to over SMTP (memoguard.adapters.smtp): one connection per message.

    ``tls``: ``starttls`` upgrades a plain connection (port 587) and fails if the server cannot;
    ``implicit`` speaks TLS from the first byte (port 465); ``none`` sends in clear (a local relay).
    A login over a clear connection would hand the password to the network, so it is refused unless
    ``allow_plaintext_login`` says the operator knows (a relay on the same host)."""

    kind: Literal["smtp"]
    host: str = Field(min_length=1)
    port: int | None = Field(default=None, ge=1, le=65535)  # None: 587 for starttls, 465 implicit, 25 none
    tls: Literal["starttls", "implicit", "none"] = "starttls"
    tls_ca: str | None = None  # a CA bundle (PEM file) to verify the server's certificate (default: the system's)
    username: str | None = Field(default=None, min_length=1)
    password_file: str | None = None
    password_env: str | None = None
    allow_plaintext_login: bool = False
    from_: EmailAddress = Field(alias="from")
    from_name: str = Field(default="memoguard", max_length=100)
    timeout: Duration = timedelta(seconds=10)
    rate: list[RateText] = []

    @model_validator(mode="after")
    def _login_and_tls(self) -> SmtpProvider:
        has_password = self.password_file is not None or self.password_env is not None
        if (self.username is None) != (not has_password):
            raise ValueError("give both username and password_file/password_env, or neither")
        if self.username is not None and self.tls == "none" and not self.allow_plaintext_login:
            raise ValueError(
                "a login without TLS sends the password in clear: use tls: starttls or implicit, "
                "or set allow_plaintext_login: true for a relay on a trusted network"
            )
        if self.tls_ca is not None and self.tls == "none":
            raise ValueError("tls_ca is set but tls is none: use tls: starttls or implicit")
        if any(c in self.from_name for c in "\r\n"):
            raise ValueError("from_name must be on one line")
        return self

    @property
    def port_or_default(self) -> int:
        return self.port if self.port is not None else {"starttls": 587, "implicit": 465, "none": 25}[self.tls]


E164 = r"^\+[1-9][0-9]{1,14}$"


class TwilioProvider(SecretRef):
    """Twilio's REST API: SMS pages out through the Messages API; delivery statuses and replies come back
    as webhooks to ``http.public_url`` (adapters/twilio/). The auth token signs those webhooks too."""

    kind: Literal["twilio"]
    account_sid: str
    auth_token_file: str | None = None
    auth_token_env: str | None = None
    from_: str | None = Field(default=None, alias="from")  # E.164 number the messages come from
    messaging_service_sid: str | None = None
    api_base_url: HttpUrl = "https://api.twilio.com"  # another base: tests, Twilio-compatible services
    timeout: Duration = timedelta(seconds=10)
    rate: list[RateText] = []

    @model_validator(mode="after")
    def _sender_and_token(self) -> TwilioProvider:
        if self.auth_token_file is None and self.auth_token_env is None:
            raise ValueError("a twilio provider needs auth_token_file or auth_token_env (its auth token)")
        if (self.from_ is None) == (self.messaging_service_sid is None):
            raise ValueError("give exactly one of from (an E.164 number) and messaging_service_sid")
        return self

    @field_validator("account_sid", "messaging_service_sid")
    @classmethod
    def _sid(cls, value: str | None, info: ValidationInfo) -> str | None:
        prefix = "AC" if info.field_name == "account_sid" else "MG"
        if value is not None and not re.fullmatch(prefix + r"[0-9a-fA-F]{32}", value):
            raise ValueError(
                f"{value!r} is not a Twilio SID: {prefix} then 32 hexadecimal digits, as the console shows it"
            )
        return value

    @field_validator("from_")
    @classmethod
    def _e164(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(E164, value):
            raise ValueError(f"{value!r} is not an E.164 number: write it as + then digits, e.g. +33612345678")
        return value


# The provider kinds this build implements, and the only ones the schema accepts: bootstrap.providers
# builds each (mypy checks that its match covers them all), and a kind not here is refused when the
# configuration is loaded instead of failing every page at run time.
ProviderModel = Annotated[
    ConsoleProvider | SmppProvider | ZendeskProvider | WebhookProvider | SmtpProvider | TwilioProvider,
    Field(discriminator="kind"),
]
PROVIDER_KINDS: tuple[str, ...] = tuple(
    kind
    for model in typing.get_args(typing.get_args(ProviderModel)[0])
    for kind in typing.get_args(model.model_fields["kind"].annotation)
)


class ChannelModel(Strict):
    """A channel's providers in failover order, and how long transient failures of one provider are
    retried before the next one is tried."""

    providers: list[Name]
    deadline: Duration = timedelta(minutes=2)


def _channel(value: Any) -> Any:
    return {"providers": value} if isinstance(value, list) else value


ChannelEntry = Annotated[ChannelModel, BeforeValidator(_channel)]


class StormModel(Strict):
    """At most ``pages`` pages per person and channel within ``per``; the rest go out bundled."""

    pages: int = Field(default=3, ge=0)  # 0: no storm control
    per: Duration = timedelta(minutes=10)


class MainModel(Strict):
    database: str | None = None
    timezone: str = "UTC"
    phone_region: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")
    http: HttpModel = HttpModel()
    people: dict[Name, PersonModel] = Field(min_length=1)
    sources: dict[Name, SourceModel] = {}
    routes: list[RouteModel] = []
    channels: dict[Name, ChannelEntry] = {}
    providers: dict[Name, ProviderModel] = {}
    storm: StormModel = StormModel()
    silences: list[SilenceModel] = []
    metrics: MetricsModel = MetricsModel()
    logging: LoggingModel = LoggingModel()
    self_test: SelfTestModel | None = None


# --- rosters/*.yaml -----------------------------------------------------------------------------------


class WindowModel(Strict):
    days: list[Weekday] | None = Field(default=None, min_length=1)
    from_: TimeOfDay | None = Field(default=None, alias="from")
    to: TimeOfDay | None = None
    holidays: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> WindowModel:
        if self.holidays is not None and (self.days or self.from_ or self.to):
            raise ValueError("a holidays window covers whole days: it takes no days, from or to")
        if self.holidays is None and self.days is None and self.from_ is None and self.to is None:
            raise ValueError("an empty window: give days, from/to, or holidays")
        if self.from_ is not None and self.from_ == self.to:
            raise ValueError("from and to are equal: leave both out for whole days")
        return self


class LayerModel(Strict):
    name: Name
    members: list[Name] = Field(min_length=1)
    shift: Duration
    handoff: Handoff = "09:00"
    start: Day
    active: list[WindowModel] = []


class LevelModel(Strict):
    offset: int | None = Field(default=None, ge=1)
    layers: list[LayerModel] | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _one_kind(self) -> LevelModel:
        if (self.offset is None) == (self.layers is None):
            raise ValueError("a level needs exactly one of offset (next members of the rotation) or layers")
        return self


class OverrideModel(Strict):
    who: Name
    from_: str = Field(alias="from")
    to: str
    level: str = "primary"


class RosterModel(Strict):
    name: Name
    timezone: str | None = None
    layers: list[LayerModel] = Field(min_length=1)
    levels: dict[Name, LevelModel] = {}
    overrides: list[OverrideModel] = []


# --- escalation_policies/*.yaml ----------------------------------------------------------------------


class AckModel(Strict):
    mode: Literal["single", "double"] = "single"
    confirm_within: Duration | None = None
    quorum: int = Field(default=1, ge=1)
    reack_after: Duration | None = None


class StepModel(Strict):
    notify: list[TargetRef] = Field(min_length=1)
    channels: list[Name] = Field(min_length=1)
    ack_within: Duration


class CrisisModel(Strict):
    members: list[Name] = Field(min_length=1)
    channels: list[Name] = Field(min_length=1)
    quorum: int = Field(default=1, ge=1)
    bridge: str | None = None
    repeat_every: Duration | None = None


Notice = Literal["acknowledged", "confirmed", "escalated", "resolved"]


class PolicyModel(Strict):
    name: Name
    acknowledgement: AckModel = AckModel()
    steps: list[StepModel] = Field(min_length=1)
    repeat: int = Field(default=0, ge=0, le=100)
    crisis_cell: CrisisModel | None = None
    notices: list[Notice] = []  # status messages to everyone already paged when these happen
    outbound: list[Name] = []  # zendesk/webhook providers that receive the incident's events
