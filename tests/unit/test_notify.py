"""sd_notify spoken to a real datagram socket, and the watchdog's rule: ping only when every loop came round."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from memoguard.engine.notify import Notifier, NotifyError, watchdog_seconds
from memoguard.engine.watchdog import Watchdog
from tests.support.notify import NotifySocket


def test_messages_reach_an_abstract_socket_as_one_datagram_of_lines() -> None:
    with NotifySocket() as manager:
        notifier = Notifier.from_environment({"NOTIFY_SOCKET": manager.address})
        assert notifier.enabled
        assert notifier.ready("serving on 127.0.0.1:8080")
        assert manager.read(5) == ["READY=1", "STATUS=serving on 127.0.0.1:8080"]
        assert notifier.watchdog()
        assert manager.read(5) == ["WATCHDOG=1"]
        assert notifier.stopping("stopping")
        assert manager.read(5) == ["STOPPING=1", "STATUS=stopping"]
        assert notifier.reloading(123)
        assert manager.read(5) == ["RELOADING=1", "MONOTONIC_USEC=123"]


def test_messages_reach_a_socket_at_a_path(tmp_path: Path) -> None:
    with NotifySocket(tmp_path / "notify") as manager:
        assert Notifier(manager.address).status("starting")
        assert manager.read(5) == ["STATUS=starting"]


def test_without_notify_socket_nothing_is_sent() -> None:
    notifier = Notifier.from_environment({})
    assert not notifier.enabled
    assert not notifier.ready("x")
    assert not Notifier.from_environment({"NOTIFY_SOCKET": ""}).enabled


def test_a_relative_notify_socket_is_refused_by_name() -> None:
    with pytest.raises(NotifyError, match=r"NOTIFY_SOCKET='run/notify': expected an absolute path"):
        Notifier("run/notify")


def test_a_socket_gone_is_logged_once_and_never_raised(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    notifier = Notifier(str(tmp_path / "nobody-listens"))
    with caplog.at_level(logging.WARNING):
        assert not notifier.watchdog()
        assert not notifier.watchdog()
    warnings = [r for r in caplog.records if "could not notify the service manager" in r.getMessage()]
    assert len(warnings) == 1
    assert "nobody-listens" in warnings[0].getMessage()


def test_watchdog_seconds_reads_watchdog_usec_for_this_process_only() -> None:
    assert watchdog_seconds({}) is None
    assert watchdog_seconds({"WATCHDOG_USEC": "30000000"}, pid=7) == 30.0
    assert watchdog_seconds({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "7"}, pid=7) == 30.0
    assert watchdog_seconds({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "8"}, pid=7) is None  # another's


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"WATCHDOG_USEC": "30s"}, r"WATCHDOG_USEC='30s': expected a positive whole number of microseconds"),
        ({"WATCHDOG_USEC": "0"}, r"WATCHDOG_USEC='0': expected a positive"),
        ({"WATCHDOG_USEC": "-5"}, r"WATCHDOG_USEC='-5'"),
        ({"WATCHDOG_USEC": "1000", "WATCHDOG_PID": "me"}, r"WATCHDOG_PID='me': expected a process id"),
    ],
)
def test_a_malformed_watchdog_setting_is_refused_by_name(environ: dict[str, str], message: str) -> None:
    with pytest.raises(NotifyError, match=message):
        watchdog_seconds(environ, pid=7)


class Ticks:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_watchdog_pings_only_once_every_loop_completed_a_round_begun_since_the_last_ping() -> None:
    ticks = Ticks()
    with NotifySocket() as manager:
        dog = Watchdog(Notifier(manager.address), 2.0, ("timers", "dispatcher"), monotonic=ticks)
        assert dog.every == 0.5
        assert not dog.round_done("dispatcher", 100.0)  # the timer loop has not come round yet
        assert dog.round_done("timers", 100.0)  # both have: ping
        assert manager.read(5) == ["WATCHDOG=1"]

        # The timer loop is stuck in a round begun at 100.2; the dispatcher comes round again and again.
        for step in range(1, 20):
            ticks.now = 100.0 + step * 0.5
            assert not dog.round_done("dispatcher", ticks.now - 0.1)
        assert manager.read(0.2) is None
        assert dog.pings == 1

        # The stuck round ends: it began after the last ping, so it counts, once.
        ticks.now = 111.0
        assert dog.round_done("timers", 100.2)
        assert manager.read(5) == ["WATCHDOG=1"]
        ticks.now = 112.0
        assert not dog.round_done("dispatcher", 111.5)  # the timer loop has not begun a round since
        assert dog.round_done("timers", 111.6)
        assert manager.read(5) == ["WATCHDOG=1"]


def test_the_watchdog_pings_at_most_every_quarter_of_its_timeout() -> None:
    ticks = Ticks()
    with NotifySocket() as manager:
        dog = Watchdog(Notifier(manager.address), 4.0, ("timers",), monotonic=ticks)
        assert dog.round_done("timers", 100.0)
        ticks.now = 100.5
        assert not dog.round_done("timers", 100.4)  # too soon after the last ping
        ticks.now = 101.0
        assert dog.round_done("timers", 100.9)
        assert [manager.read(5), manager.read(5)] == [["WATCHDOG=1"], ["WATCHDOG=1"]]


def test_a_watchdog_refuses_bad_settings_and_unknown_loops() -> None:
    notifier = Notifier(None)
    with pytest.raises(ValueError, match=r"watchdog timeout 0: expected a positive number of seconds"):
        Watchdog(notifier, 0, ("timers",))
    with pytest.raises(ValueError, match="at least one loop"):
        Watchdog(notifier, 1.0, ())
    with pytest.raises(KeyError, match=r"loop 'mail' is not watched \(watched: dispatcher, timers\)"):
        Watchdog(notifier, 1.0, ("timers", "dispatcher")).round_done("mail", 1.0)
