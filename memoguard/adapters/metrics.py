"""The ``Metrics`` port in the Prometheus format (prometheus-client), with its own registry.

Counters and histograms live in process (each instance counts what it did; Prometheus sums instances);
the gauges are read from the database at each scrape by a custom collector (``services/metrics.py``
says which indexes bound them), so a scrape costs two indexed statements and one row per provider.
A scrape whose database read fails still answers, with ``memoguard_database_up 0`` and the counters:
the alert on it is more useful than a failed scrape.

Names follow Prometheus's conventions: ``memoguard_`` prefix, ``_total`` counters, seconds as the unit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily
from prometheus_client.registry import Collector

from memoguard.services.metrics import Gauges

log = logging.getLogger(__name__)

# Time to acknowledge: from a minute to a few hours; timer lateness: from milliseconds to minutes.
ACK_BUCKETS = (15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, float("inf"))
LATENESS_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, float("inf"))
GROUP_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, float("inf"))


class _StateCollector(Collector):
    def __init__(self, gauges: Callable[[], Gauges], config_hash: Callable[[], str]) -> None:
        self._gauges = gauges
        self._hash = config_hash

    def collect(self) -> Iterator[GaugeMetricFamily | InfoMetricFamily]:
        info = InfoMetricFamily("memoguard_config", "The configuration this instance has loaded")
        info.add_metric([], {"hash": self._hash()})
        yield info
        up = GaugeMetricFamily("memoguard_database_up", "1 if the database answered this scrape's reads")
        try:
            read = self._gauges()
        except Exception as error:  # any driver error: say so, keep the counters
            log.warning("metrics: reading the gauges failed: %s", error)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        incidents = GaugeMetricFamily("memoguard_incidents_open", "Open incidents by state", labels=["state"])
        for state, count in read.open_incidents.items():
            incidents.add_metric([state], count)
        yield incidents
        depth = GaugeMetricFamily(
            "memoguard_outbox_depth", "Notifications not sent yet (queued, being sent)", labels=["provider"]
        )
        age = GaugeMetricFamily(
            "memoguard_outbox_oldest_age_seconds",
            "Age of the oldest notification not sent yet (0 when none)",
            labels=["provider"],
        )
        for provider, outbox in sorted(read.outbox.items()):
            depth.add_metric([provider], outbox.depth)
            age.add_metric([provider], outbox.oldest_age)
        yield depth
        yield age
        link = GaugeMetricFamily(
            "memoguard_provider_up",
            "1 unless the provider is failing, throttled or its link is down",
            labels=["provider"],
        )
        for provider, ok in sorted(read.provider_up.items()):
            link.add_metric([provider], 1 if ok else 0)
        yield link


class PrometheusMetrics:
    def __init__(self, gauges: Callable[[], Gauges]) -> None:
        """``gauges`` reads the states at a scrape; ``config_hash`` says which configuration is loaded
        (set again by each reload)."""
        self.config_hash = ""
        self.registry = CollectorRegistry(auto_describe=False)
        self._alarms = Counter(
            "memoguard_alarms_received",
            "Alarms stored, by source and outcome (opened, attached, resolved, unrouted…)",
            ["source", "outcome"],
            registry=self.registry,
        )
        self._groups = Histogram(
            "memoguard_ingest_group_size",
            "Alarms written per ingest transaction (group commit)",
            buckets=GROUP_BUCKETS,
            registry=self.registry,
        )
        self._pages = Counter(
            "memoguard_pages",
            "Calls to providers for notifications, by channel, provider and outcome (sent, retry, throttled, failed)",
            ["channel", "provider", "outcome"],
            registry=self.registry,
        )
        self._ack = Histogram(
            "memoguard_time_to_acknowledge_seconds",
            "From an incident's opening to its first acknowledgement",
            buckets=ACK_BUCKETS,
            registry=self.registry,
        )
        self._late = Histogram(
            "memoguard_timer_lateness_seconds",
            "How long after its due time each escalation timer fired",
            buckets=LATENESS_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_StateCollector(gauges, lambda: self.config_hash))

    def alarm(self, source: str, outcome: str) -> None:
        self._alarms.labels(source, outcome).inc()

    def group(self, size: int) -> None:
        self._groups.observe(size)

    def page(self, channel: str, provider: str, outcome: str) -> None:
        self._pages.labels(channel, provider, outcome).inc()

    def acknowledged(self, seconds: float) -> None:
        self._ack.observe(seconds)

    def timer_late(self, seconds: float) -> None:
        self._late.observe(seconds)

    def exposition(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class MetricsListener:
    """``metrics.listen``: the same figures on an address of their own, without a token (bind it to a
    private interface), served by prometheus-client's own small HTTP server in a thread."""

    def __init__(self, metrics: PrometheusMetrics, host: str, port: int) -> None:
        self._metrics = metrics
        self._host = host
        self._port = port
        self._server: WSGIServer | None = None

    def start(self) -> None:
        self._server, _ = start_http_server(self._port, self._host, registry=self._metrics.registry)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
