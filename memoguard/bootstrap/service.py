"""What only ``serve`` builds: the application in force and its reloads, and the metrics listener.

A reload (SIGHUP, ``memoguard reload``) loads the directory again; a configuration with any problem is
refused whole, every problem logged, and the one in force stays. A valid one is built into a new
``Application`` on the same store, the same providers (their links stay up; what they need of the
configuration they take from the application in force) and the same metrics, and swapped in
(services/live.py); heartbeats it adds are then declared. What a reload cannot change without a
restart (the database, the HTTP and metrics settings, channels and providers, which are built once with
their connections and secrets) refuses the reload, naming each, rather than half-applying it.
"""

from __future__ import annotations

import logging
from pathlib import Path

from memoguard.adapters.metrics import MetricsListener, PrometheusMetrics
from memoguard.adapters.storage.store import SqlStore
from memoguard.bootstrap import _application, load, store
from memoguard.config.model import Config
from memoguard.config.problem import ConfigError
from memoguard.services.application import Application
from memoguard.services.clock import Clock
from memoguard.services.live import Live
from memoguard.services.store import StoreUnavailable

log = logging.getLogger(__name__)

# Settings a running service cannot take without a restart, and what each is in memoguard.yaml.
RESTART_ONLY = (
    ("database_url", "database"),
    ("http", "http"),
    ("metrics", "metrics"),
    ("logging", "logging"),  # the handler is set up once, before the engine starts
    ("channels", "channels"),
    ("deadlines", "channels"),
    ("providers", "providers"),
)


class ReloadRefused(Exception):
    """The new configuration is not applied; ``problems`` says why, one line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def service(config: Config, clock: Clock) -> Live:
    """The service's application (providers built, metrics counted), held for reloads."""
    sql = store(config)
    live = Live()
    try:
        live.swap(_application(sql, config, clock, with_tokens=True, with_providers=True, live=live))
    except BaseException:
        sql.close()
        raise
    return live


def restart_only(old: Config, new: Config) -> list[str]:
    """The settings that differ and need a restart, each named once."""
    changed: list[str] = []
    for attribute, key in RESTART_ONLY:
        if getattr(old, attribute) != getattr(new, attribute) and key not in changed:
            changed.append(key)
    return changed


def reload(live: Live, directory: Path) -> Application:
    """Load ``directory`` and put it in force; ReloadRefused (the old one stays) when it cannot be."""
    old = live.current()
    try:
        config = load(directory)
    except ConfigError as error:
        raise ReloadRefused([str(problem) for problem in error.problems]) from None
    changed = restart_only(old.config, config)
    if changed:
        raise ReloadRefused([f"{key} changed: a restart applies it (systemctl restart memoguard)" for key in changed])
    if not isinstance(old.store, SqlStore):
        raise ReloadRefused(["this service's store cannot be reloaded"])
    try:
        # Reads the sources' tokens and the link secret again: one that cannot be read refuses the reload.
        fresh = _application(old.store, config, old.clock, with_tokens=True, with_providers=True, reuse=old)
    except Exception as error:
        raise ReloadRefused([str(error)]) from None
    live.swap(fresh)
    try:
        # A heartbeat the reload added gets its first deadline now (the engine declares only at its start).
        declared = fresh.deadman.declare()
    except StoreUnavailable as error:  # the database away for a moment: declared at the first ping instead
        log.warning("reload: new heartbeats not declared (%s): their first ping or the next start declares them", error)
    else:
        if declared:
            log.info("reload: declared %d new heartbeat(s): their first period starts now", declared)
    if fresh.selftest is not None:
        try:
            # A self-test the reload added, or whose schedule it changed, gets its next run now.
            if fresh.selftest.declare():
                log.info("reload: the self-test page's next run is %s", fresh.selftest.next_due())
        except StoreUnavailable as error:
            log.warning("reload: the self-test's schedule not updated (%s): the next start updates it", error)
    return fresh


def metrics_listener(app: Application) -> MetricsListener | None:
    """``metrics.listen``: /metrics on an address of its own (started and stopped by ``serve``)."""
    listen = app.config.metrics.listen
    if listen is None or not isinstance(app.metrics, PrometheusMetrics):
        return None
    host, _, port = listen.rpartition(":")
    return MetricsListener(app.metrics, host.strip("[]"), int(port))
