"""``memoguard selftest``: send the self-test page now (issue 19, services/selftest.py).

The same page as the schedule's (``self_test:`` in memoguard.yaml), written to the database like any
incident: a running ``memoguard serve`` sends it, and decides after ``timeout`` whether it was
acknowledged. For a first check after installing, or after changing a provider.
"""

from __future__ import annotations

import click

from memoguard.cli.context import AppContext, pass_app
from memoguard.cli.heartbeat import warn_unless_running
from memoguard.cli.output import console
from memoguard.domain.duration import format_duration
from memoguard.services.selftest import NoSelfTest, TestUnderWay


@click.command()
@pass_app
def selftest(app: AppContext) -> None:
    """Send a test page now to `self_test.to`, on each of their channels.

    Acknowledge it as any page (SMS reply, key, link); not acknowledged within `self_test.timeout`, it
    escalates through `self_test.policy`, as the scheduled test does. The next scheduled run follows.
    """
    tester = app.application().selftest
    try:
        if tester is None:
            raise NoSelfTest("the self-test is not wired in this build")
        incident = tester.run_now()
    except (NoSelfTest, TestUnderWay) as error:
        raise click.ClickException(str(error)) from None
    test = tester.test
    assert test is not None
    console().print(
        f"self-test page queued: incident {incident}, to {test.target}; acknowledge it within "
        f"{format_duration(test.timeout)} or it escalates through policy {test.policy}"
    )
    warn_unless_running(app)
