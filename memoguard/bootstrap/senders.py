"""The providers that send pages, built from the configuration: one per entry of ``providers:``.

Each provider's module (and its client library: smpplib, twilio, aiosmtpd's neighbours) is imported only
here, when one of its kind is configured, so that a CLI command imports none of them (issue 20), and a
kind whose optional extra is missing is refused by name at start-up rather than at the first page.
Secrets are read here, once: rotating one in its file needs a restart (a reload keeps the providers).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import assert_never

from memoguard.bootstrap.errors import StartupError
from memoguard.config.model import Config
from memoguard.config.schema import ConsoleProvider as ConsoleSettings
from memoguard.config.schema import SmppProvider as SmppSettings
from memoguard.config.schema import SmtpProvider as SmtpSettings
from memoguard.config.schema import TwilioProvider as TwilioSettings
from memoguard.config.schema import WebhookProvider as WebhookSettings
from memoguard.config.schema import ZendeskProvider as ZendeskSettings
from memoguard.config.secret import SecretError, read_secret
from memoguard.services.clock import Clock
from memoguard.services.hook import Hook
from memoguard.services.inbox import Inbox, SmsParts
from memoguard.services.provider import Provider
from memoguard.services.voice import CallDesk


def secret_problems(config: Config) -> list[str]:
    """Every provider secret named in the configuration that cannot be read here, as one line each.
    ``check`` prints them as warnings (it may run without the service's secrets); ``serve`` refuses to
    start on the first (``providers``)."""
    problems = []
    for name, settings in config.providers.items():
        for prefix in ("password", "secret", "token", "auth_token"):
            file = getattr(settings, f"{prefix}_file", None)
            env = getattr(settings, f"{prefix}_env", None)
            if file is None and env is None:
                continue
            try:
                read_secret(f"provider {name!r}", prefix, file, env, config.directory)
            except SecretError as error:
                problems.append(str(error))
    return problems


def providers(
    config: Config,
    clock: Clock,
    parts: SmsParts,
    inbox: Inbox,
    links: Callable[[str, str, int | None, datetime], dict[str, str]] | None = None,
    reply_to: Callable[[str, str], str | None] | None = None,
    calls: CallDesk | None = None,
) -> dict[str, Provider]:
    """Every configured provider, built: the schema only accepts the kinds this release can drive
    (config.schema.PROVIDER_KINDS), and the match below covers each. ``inbox`` takes what SMS providers
    receive (replies, delivery receipts), ``parts`` keeps the parts of long texts until they are whole.
    Nothing connects here: links open on ``start``. ``links`` signs the acknowledgement links of e-mail pages,
    ``reply_to`` makes their Reply-To; ``calls`` is what voice pages say and what keys pressed on them do
    (the service passes the ones that go to the application in force: services/live.py)."""
    # The providers' modules (and their clients) are imported only by what sends: see the docstring.
    from memoguard.adapters.console import ConsoleProvider  # noqa: PLC0415
    from memoguard.adapters.smtp import SmtpProvider  # noqa: PLC0415
    from memoguard.adapters.webhook import WebhookProvider  # noqa: PLC0415
    from memoguard.adapters.zendesk import ZendeskProvider  # noqa: PLC0415

    built: dict[str, Provider] = {}
    for name, settings in config.providers.items():
        try:
            match settings:
                case SmppSettings():
                    built[name] = _smpp(name, settings, config, clock, inbox, parts)
                case ConsoleSettings():
                    file = None
                    if settings.file is not None:
                        file = config.directory / settings.file  # an absolute path stays as it is
                    built[name] = ConsoleProvider(name, clock, file)
                case WebhookSettings():
                    secret = None
                    if settings.secret_file is not None or settings.secret_env is not None:
                        owner = f"provider {name!r}"
                        secret = read_secret(
                            owner, "secret", settings.secret_file, settings.secret_env, config.directory
                        )
                    built[name] = WebhookProvider(name, settings.url, clock, secret=secret, timeout=settings.timeout)
                case ZendeskSettings():
                    token = None
                    if settings.token_file is not None or settings.token_env is not None:
                        owner = f"provider {name!r}"
                        token = read_secret(owner, "token", settings.token_file, settings.token_env, config.directory)
                    built[name] = ZendeskProvider(
                        name,
                        settings.url,
                        clock,
                        email=settings.email,
                        token=token,
                        batch_size=settings.batch,
                        poll_every=settings.poll_every,
                        timeout=settings.timeout,
                    )
                case SmtpSettings():
                    password = None
                    if settings.password_file is not None or settings.password_env is not None:
                        owner = f"provider {name!r}"
                        password = read_secret(
                            owner, "password", settings.password_file, settings.password_env, config.directory
                        )
                    built[name] = SmtpProvider(
                        name,
                        settings,
                        password,
                        clock,
                        links=links,
                        reply_to=reply_to,
                    )
                case TwilioSettings():
                    built[name] = _twilio(name, settings, config, clock, inbox, calls)
                case _:
                    assert_never(settings)
        except SecretError as error:
            raise StartupError(str(error)) from None
    return built


def _smpp(name: str, settings: SmppSettings, config: Config, clock: Clock, inbox: Inbox, parts: SmsParts) -> Provider:
    try:
        from memoguard.adapters.smpp import SmppProvider  # noqa: PLC0415 (only when a link is configured)
    except ImportError as error:  # smpplib is an optional extra
        raise StartupError(
            f"provider {name!r} is an SMPP link, which needs the smpp extra: pip install 'memoguard[smpp]' ({error})"
        ) from None
    password = ""
    if settings.password_file is not None or settings.password_env is not None:
        password = read_secret(
            f"provider {name!r}", "password", settings.password_file, settings.password_env, config.directory
        )
    return SmppProvider(name, settings, password, inbox, clock, parts)


def _twilio(
    name: str, settings: TwilioSettings, config: Config, clock: Clock, inbox: Inbox, calls: CallDesk | None
) -> Provider:
    try:
        from memoguard.adapters.twilio import TwilioProvider  # noqa: PLC0415 (only when one is configured)
    except ImportError as error:  # the twilio package is an optional extra
        raise StartupError(
            f"provider {name!r} is a twilio provider, which needs the twilio extra: "
            f"pip install 'memoguard[twilio]' ({error})"
        ) from None
    if config.http.public_url is None:  # the loader refuses it too
        raise StartupError(f"provider {name!r} is a twilio provider, which needs http.public_url")
    token = read_secret(
        f"provider {name!r}", "auth_token", settings.auth_token_file, settings.auth_token_env, config.directory
    )
    return TwilioProvider(name, settings, token, config.http.public_url, inbox, clock, calls)


def hooks(built: Mapping[str, Provider]) -> dict[str, Hook]:
    """The webhooks of the providers that take some (Twilio's), by provider name, for the HTTP routes."""
    return {name: hook for name, provider in built.items() if (hook := getattr(provider, "hook", None)) is not None}
