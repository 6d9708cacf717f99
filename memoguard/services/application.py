"""The use cases wired together, as the entry points (HTTP, CLI, engine) see them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from memoguard.config.model import Config
from memoguard.services.access import Access
from memoguard.services.action import Actions
from memoguard.services.clock import Clock
from memoguard.services.deadman import Deadman
from memoguard.services.dispatch import Dispatcher
from memoguard.services.escalator import Escalator
from memoguard.services.heartbeat import Engines
from memoguard.services.hook import Hook
from memoguard.services.ingest import Ingest
from memoguard.services.link import EmailLinks
from memoguard.services.mailreply import MailReplies
from memoguard.services.metrics import NO_METRICS, Metrics
from memoguard.services.override import Overrides
from memoguard.services.provider import Provider
from memoguard.services.query import Incidents
from memoguard.services.queue import Queue
from memoguard.services.reply import Replies
from memoguard.services.secret import SourceTokens
from memoguard.services.selftest import SelfTester
from memoguard.services.session import Sessions
from memoguard.services.signin import SignIn
from memoguard.services.silences import Silences
from memoguard.services.store import Store
from memoguard.services.timer import Timers
from memoguard.services.voice import Calls


@dataclass(frozen=True)
class Application:
    config: Config
    clock: Clock
    store: Store
    escalator: Escalator
    ingest: Ingest
    actions: Actions
    replies: Replies
    timers: Timers
    dispatcher: Dispatcher
    overrides: Overrides
    incidents: Incidents
    tokens: SourceTokens
    queue: Queue
    engines: Engines  # which services run their engine on this database (their heartbeats)
    access: Access  # personal API tokens and the audit trail
    deadman: Deadman  # the heartbeats of the monitoring (dead man's switches), not the engine's own
    silences: Silences  # maintenance windows made at run time, and the list with memoguard.yaml's
    sessions: Sessions  # web sessions (a browser's sign-in)
    signin: SignIn  # web sign-in by one-time code or a trusted proxy's header
    hooks: Mapping[str, Hook] = field(default_factory=dict)  # provider name -> its webhooks (Twilio)
    links: EmailLinks | None = None  # the acknowledgement links of e-mail pages, when configured
    mail_replies: MailReplies | None = None  # replies to e-mail pages, when http.reply_domain is set
    calls: Calls | None = None  # what voice pages say and what keys pressed on them do
    providers: Mapping[str, Provider] = field(default_factory=dict)  # built once by serve, kept by reloads
    metrics: Metrics = NO_METRICS  # what /metrics shows (services/metrics.py); counted by ``serve`` only
    selftest: SelfTester | None = None  # the scheduled test page (issue 19); None: not wired (tests)
    metrics_token: str | None = None  # the bearer token /metrics requires on the API's port (metrics.token_*)
