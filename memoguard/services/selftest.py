"""The self-test page (issue 19): proof, on a schedule, that the chain from alarm to phone works.

``self_test: {every: "mon 10:00", to: roster:infra, policy: default, timeout: 15m}`` in memoguard.yaml:
at each run, an incident opens (source ``memoguard``, severity ``info``) whose first step pages ``to``
(whoever is on call then) on each of their channels at once, one page per channel, not one after the
other, so a broken channel shows on the timeline. A page that fails for good on its channel makes the
person unreachable on the test step (``domain/escalation.py``, ``DeliveryFailed``): the test fails at once
and the incident escalates (reason ``undeliverable``), since a broken channel is what the test looks for.
Its steps after the test step are ``policy``'s. Acknowledged
within ``timeout`` (by SMS reply, key press, link, CLI: any way an incident is acknowledged), the test
passed: the incident is resolved and nothing more happens. Not acknowledged, the test failed and the
incident simply goes on escalating through ``policy``'s steps, like any unacknowledged incident: the
person after the on-call one learns that the on-call one could not be reached.

The schedule is a durable timer (one row, table ``selftest``), looked at by the engine's timer loop like
heartbeat deadlines: the run is claimed ``FOR UPDATE SKIP LOCKED`` in the transaction that opens the
incident and moves the row on, so several instances send one test page per run and a restart loses
none; a run missed while no engine ran goes out at the next start, once (not once per missed week).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime

from memoguard.config.model import Config
from memoguard.domain.duration import format_duration
from memoguard.domain.event import Resolved, Triggered
from memoguard.domain.incident import Incident, IncidentState
from memoguard.domain.policy import AckRule, Policy, Step
from memoguard.domain.selftest import SelfTest
from memoguard.services.clock import Clock
from memoguard.services.error import ServiceError
from memoguard.services.escalator import Escalator
from memoguard.services.logfields import ids
from memoguard.services.record import Alarm, AlarmStatus, NewIncident, NotificationStatus, Outcome, StoredAlarm, TestRun
from memoguard.services.store import Store, Unit

log = logging.getLogger(__name__)

SOURCE = "memoguard"
SEVERITY = "info"
# People-facing: the page's summary, read on a phone by someone who may speak either language.
SUMMARY = "TEST memoguard : page de test, acquittez-la / self-test page, please acknowledge it"
PASSED, FAILED = "passed", "failed"


class NoSelfTest(ServiceError):
    """memoguard.yaml has no ``self_test``."""


class TestUnderWay(ServiceError):
    """A test page was sent and its timeout is not over: one test at a time."""


class SelfTester:
    def __init__(self, store: Store, clock: Clock, config: Config, escalator: Escalator) -> None:
        self._store = store
        self._clock = clock
        self._config = config
        self._escalator = escalator
        self.test: SelfTest | None = config.self_test

    def declare(self) -> bool:
        """Give the schedule its next run (engine start, reload): the first one, or the one a changed
        schedule says when the run waiting is not due yet (a run missed while down stays due, and goes
        out once); True when the row was written."""
        if self.test is None:
            return False
        now = self._clock.now()
        following = self.test.schedule.next_after(now)
        with self._store.write() as unit:
            run = unit.test_run_for_update()
            if run is None:
                unit.add_test_run(TestRun("waiting", following))
                return True
            if run.state != "waiting" or run.due <= now or run.due == following:
                return False
            unit.save_test_run(replace(run, due=following))
        return True

    def check_due(self) -> int:
        """Send the test page or decide its outcome when the row is due; returns 1 when it did, else 0."""
        if self.test is None:
            return 0
        with self._store.write() as unit:
            run = unit.test_run_for_update(due_by=self._clock.now())
            if run is None:
                return 0
            now = self._clock.now()  # with the row held
            if run.state == "sent":
                self._conclude(unit, self.test, run, now)
            else:
                self._send(unit, self.test, now)
        return 1

    def run_now(self) -> str:
        """``memoguard selftest``: send a test page now; returns its incident's id. The scheduled runs go
        on after it (the next one after this test's outcome)."""
        if self.test is None:
            raise NoSelfTest("no self_test in memoguard.yaml: nothing says whom a test page goes to")
        with self._store.write() as unit:
            run = unit.test_run_for_update()
            if run is None:
                unit.add_test_run(TestRun("waiting", self._clock.now()))
                unit.test_run_for_update()
            elif run.state == "sent":
                raise TestUnderWay(
                    f"a self-test page is already waiting for its acknowledgement: incident {run.incident}, "
                    f"until {run.due:%Y-%m-%d %H:%M:%S}Z"
                )
            return self._send(unit, self.test, self._clock.now())

    def next_due(self) -> datetime | None:
        if self.test is None:
            return None
        with self._store.read() as unit:
            run = unit.test_run()
        return None if run is None else run.due

    def _send(self, unit: Unit, test: SelfTest, now: datetime) -> str:
        policy = self._policy(test)
        rosters = tuple(self._config.roster(name) for name in sorted(policy.roster_names))
        key = f"memoguard:selftest:{now:%Y%m%dT%H%M%S}"
        draft = NewIncident(SUMMARY, SEVERITY, SOURCE, key, False, policy, rosters, now)
        incident_id = unit.create_incident(draft)
        alarm = Alarm(SOURCE, key, AlarmStatus.FIRING, SEVERITY, SUMMARY, labels={"selftest": "true"})
        unit.add_alarms([StoredAlarm(alarm, incident_id, Outcome.OPENED)], now)
        text = (
            f"Self-test ({test.schedule.describe()}): a test page to {test.target} on each of their channels; "
            f"not acknowledged within {format_duration(test.timeout)}, it escalates through policy {test.policy}"
        )
        unit.add_entry(incident_id, now, "selftest", text, None)
        incident = Incident(incident_id, SUMMARY, policy, rosters, now, severity=SEVERITY)
        self._escalator.apply(unit, incident, Triggered(), now, each_channel=True)
        unit.save_test_run(TestRun("sent", now + test.timeout, incident_id))
        log.info("self-test page sent: incident %s", incident_id, extra=ids(incident_id, selftest="sent"))
        return incident_id

    def _conclude(self, unit: Unit, test: SelfTest, run: TestRun, now: datetime) -> None:
        incident = unit.incident(run.incident) if run.incident is not None else None
        following = test.schedule.next_after(now)
        acked = incident is not None and (
            bool(incident.acked_by) or incident.state not in (IncidentState.TRIGGERED, IncidentState.SILENCED)
        )
        # Passed only when acknowledged on the test step itself with every test page delivered: a channel
        # that failed escalated the test at once, and the next step's acknowledgement proves the chain to
        # that person, not the channel the test was for.
        broken = incident is not None and (
            incident.step > 0
            or incident.cycle > 0
            or any(
                n.purpose == "page" and n.step == 0 and n.status == NotificationStatus.FAILED
                for n in unit.notifications(incident.id)
            )
        )
        if incident is not None and acked and not broken:
            if incident.state != IncidentState.RESOLVED:
                unit.add_entry(incident.id, now, "selftest", "Self-test passed: the test page was acknowledged", None)
                self._escalator.apply(unit, incident, Resolved(via="self-test"), now)
            log.info("self-test passed: incident %s acknowledged", incident.id, extra=ids(incident.id, selftest=PASSED))
            outcome = PASSED
        else:
            if incident is not None and acked:
                text = (
                    "Self-test failed: a test page could not be delivered, or the acknowledgement came after "
                    "the test step"
                )
                unit.add_entry(incident.id, now, "selftest", text, None)
                log.error("self-test failed: incident %s", incident.id, extra=ids(incident.id, selftest=FAILED))
            else:
                if incident is not None:
                    text = (
                        f"Self-test failed: the test page was not acknowledged within "
                        f"{format_duration(test.timeout)}; the incident escalates"
                    )
                    unit.add_entry(incident.id, now, "selftest", text, None)
                log.error(
                    "self-test failed: incident %s not acknowledged within %s; it escalates through policy %s",
                    run.incident,
                    format_duration(test.timeout),
                    test.policy,
                    extra=ids(run.incident, selftest=FAILED),
                )
            outcome = FAILED
        unit.save_test_run(replace(run, state="waiting", due=following, last_outcome=outcome))

    def _policy(self, test: SelfTest) -> Policy:
        """The test step (``to`` on every channel, ``timeout``), then ``policy``'s steps. A single
        acknowledgement passes the test; the policy's crisis cell and repeats stay; no helpdesk ticket."""
        base = self._config.policy(test.policy)
        step = Step((test.target,), tuple(self._config.channels), test.timeout)
        return Policy(
            f"self-test/{base.name}",
            (step, *base.steps),
            AckRule(),
            base.repeat,
            base.crisis_cell,
            base.notices,
        )
