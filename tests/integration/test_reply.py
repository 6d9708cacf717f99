"""SMS replies and delivery receipts (memoguard/services/reply.py) against the database, on the fake clock.

Replies come in as an SMS provider hands them over (``Inbound``), whatever the provider; the answers go
through the outbox and the dispatcher like any message, back through the provider the reply came in by.
The provider here is the recording fake of tests/support/delivery.py; the SMPP link itself is tested in test_smpp
and end to end in tests/e2e/test_sms.py.
"""

from __future__ import annotations

from datetime import timedelta

from memoguard.domain.incident import IncidentState
from memoguard.services.action import Verb
from memoguard.services.inbox import Inbound, Receipt
from memoguard.services.record import REPLY, NotificationStatus
from tests.support.delivery import CONSOLE_ONLY, Builder, World

ALICE = "+33612345601"  # on call for ops at T0 (primary), reads French
BOB = "+33612345602"  # ops secondary, reads English
STRANGER = "+33699999999"


def sms(w: World, sender: str, text: str) -> None:
    w.app.replies.reply(Inbound("console", sender, "memoguard", text))


def answers(w: World, incident: str) -> list[tuple[str, str, str]]:
    """(person, reason, text) of the answers to SMS replies on this incident, once sent."""
    w.settle()
    sent = [m for _, m in w.providers["console"].sent if m.purpose == REPLY and m.incident == incident]
    rows = {r.id: r for r in w.rows(incident)}
    return [(m.person.name if m.person else "", rows[m.id].reason, m.text) for m in sent]


def paged(w: World, *keys: str, policy: str = "quiet") -> list[str]:
    incidents = w.open(*keys, policy=policy)
    w.settle()
    return incidents


# --- acting by SMS ------------------------------------------------------------------------------------


def test_a_page_shows_the_reply_code_and_1a_acknowledges_as_the_person_paged(build: Builder) -> None:
    w = build(CONSOLE_ONLY)
    [incident] = paged(w, "db-1")
    [(_, page)] = w.providers["console"].sent
    assert page.text.endswith("Répondez 1a pour acquitter.")

    sms(w, ALICE, "1a")

    assert w.incident(incident).state == IncidentState.ACKNOWLEDGED
    assert w.incident(incident).acked_by == ("alice",)
    [reply] = w.timeline(incident, "sms_reply")
    assert reply.text == f"SMS reply from alice ({ALICE}) via console: '1a'"
    assert reply.person == "alice"
    acked = w.timeline(incident, "acknowledged")[-1]
    assert "SMS" in acked.text
    [audited] = [e for e in w.app.access.audit() if e.action == "ack"]
    assert (audited.person, audited.how, audited.address, audited.target) == ("alice", "sms reply", ALICE, incident)
    assert answers(w, incident) == [("alice", "done", f"memoguard #{incident} acquitté. Répondez 1r une fois résolu.")]


def test_double_acknowledgement_by_sms(build: Builder) -> None:
    w = build(CONSOLE_ONLY)
    [incident] = paged(w, "db-1", policy="double")

    sms(w, ALICE, "1a")
    sms(w, ALICE, "conf 1")

    assert w.incident(incident).state == IncidentState.CONFIRMED
    assert w.incident(incident).confirmed_by == ("alice",)
    assert [a[2] for a in answers(w, incident)] == [
        f"memoguard #{incident} acquitté. Répondez 1c pour confirmer la prise en charge.",
        f"memoguard #{incident} confirmé (pris en charge). Répondez 1r une fois résolu.",
    ]


def test_resolve_and_escalate_by_sms(build: Builder) -> None:
    w = build(CONSOLE_ONLY)
    first, second = paged(w, "db-1", "db-2")

    sms(w, ALICE, "2e")
    sms(w, ALICE, "RES 1.")

    assert w.incident(first).state == IncidentState.RESOLVED
    second_now = w.incident(second)
    assert second_now.step == 1 and second_now.state == IncidentState.TRIGGERED
    assert answers(w, second)[0][1:] == ("done", f"memoguard #{second} escaladé. Le niveau suivant est appelé.")
    assert answers(w, first)[0][1:] == ("done", f"memoguard #{first} résolu.")


def test_a_repeated_ack_is_answered_as_already_done(build: Builder) -> None:
    w = build(CONSOLE_ONLY)
    [incident] = paged(w, "db-1")
    sms(w, ALICE, "1a")
    sms(w, ALICE, "ok 1")
    assert [a[1:] for a in answers(w, incident)][-1] == (
        "duplicate",
        f"memoguard #{incident} : déjà acquitté par vous.",
    )


def test_a_reply_to_a_resolved_incident_says_who_resolved_it(build: Builder) -> None:
    w = build(CONSOLE_ONLY)
    [incident] = paged(w, "db-1")
    w.app.actions.act(incident, Verb.RESOLVE, "root", "cli")  # an admin

    sms(w, ALICE, "1a")

    assert w.incident(incident).state == IncidentState.RESOLVED
    assert answers(w, incident)[-1][1:] == ("closed", f"memoguard #{incident} : déjà résolu par root. Rien à faire.")
    assert w.timeline(incident, "sms_reply")[-1].text == f"SMS reply from alice ({ALICE}) via console: '1a'"


def test_a_number_that_was_not_paged_changes_nothing(build: Builder) -> None:
    w = build(CONSOLE_ONLY)
    [incident] = paged(w, "db-1")  # alice only: bob is the second step

    sms(w, BOB, "1a")
    sms(w, STRANGER, "1a")

    assert w.incident(incident).state == IncidentState.TRIGGERED
    assert w.timeline(incident, "sms_reply") == []  # bob was never paged: nothing to attach his reply to
    w.settle()
    assert [m for _, m in w.providers["console"].sent if m.purpose == REPLY] == []


def test_an_unknown_code_is_answered_with_the_open_codes(build: Builder) -> None:
    w = build(CONSOLE_ONLY)
    first, second = paged(w, "db-1", "db-2")

    sms(w, ALICE, "7a")

    assert w.incident(first).state == w.incident(second).state == IncidentState.TRIGGERED
    [(_, reason, text)] = answers(w, second)  # on the timeline of the last incident paged to her
    assert reason == "unknown_code"
    assert text == (
        "memoguard : aucun incident avec le code 7 pour ce numéro. "
        f"Ouverts : 2 (#{second} disk full on db-2), 1 (#{first} disk full on db-1)."
    )
    assert w.timeline(second, "sms_reply")[-1].text.endswith("'7a': unknown code")


def test_a_bare_ack_acts_on_the_only_open_incident_and_asks_when_there_are_several(build: Builder) -> None:
    w = build(CONSOLE_ONLY)
    [first] = paged(w, "db-1")
    sms(w, ALICE, "OK")
    assert w.incident(first).state == IncidentState.ACKNOWLEDGED

    second, third = paged(w, "db-2", "db-3")
    sms(w, ALICE, "a")
    assert w.incident(second).state == w.incident(third).state == IncidentState.TRIGGERED
    [(_, reason, text)] = answers(w, third)
    assert reason == "ambiguous"
    assert f"3a pour #{third} disk full on db-3 ; 2a pour #{second} disk full on db-2" in text
    assert f"#{first}" not in text  # acknowledged already: a bare ack is not about it


def test_unparseable_replies_are_recorded_and_answered_a_few_times_an_hour(build: Builder) -> None:
    w = build(CONSOLE_ONLY)
    [incident] = paged(w, "db-1")
    for n in range(5):
        sms(w, ALICE, f"who is this {n}")

    replies = w.timeline(incident, "sms_reply")
    assert [e.text.split(": ", 1)[1] for e in replies] == [f"'who is this {n}': not understood" for n in range(5)]
    sent = answers(w, incident)
    assert [reason for _, reason, _ in sent] == ["unparsed"] * 3
    assert sent[0][2].startswith('memoguard : "who is this 0" non compris.')  # plain quotes keep it GSM-7
    assert len(w.timeline(incident, "sms_reply_unanswered")) == 2

    w.clock.advance(timedelta(hours=1))
    sms(w, ALICE, "again?")
    assert [reason for _, reason, _ in answers(w, incident)] == ["unparsed"] * 4


def test_a_national_number_is_read_with_the_phone_region(build: Builder) -> None:
    w = build("phone_region: FR\n" + CONSOLE_ONLY)
    [incident] = paged(w, "db-1")
    sms(w, "0612345601", "1a")
    assert w.incident(incident).acked_by == ("alice",)


# --- codes --------------------------------------------------------------------------------------------


def test_codes_are_per_number_and_not_reused_for_72_hours(build: Builder) -> None:
    w = build(CONSOLE_ONLY, storm="storm: {pages: 0}\n")
    first, second = paged(w, "db-1", "db-2")
    texts = [m.text for _, m in w.providers["console"].sent]
    assert [t.rsplit(" ", 3)[-3] for t in texts] == ["1a", "2a"]

    w.resolve("db-1")
    w.clock.advance(timedelta(hours=71))
    [third] = paged(w, "db-3")
    assert w.providers["console"].sent[-1][1].text.endswith("Répondez 3a pour acquitter.")  # 1 is still held

    w.clock.advance(timedelta(hours=2))
    [fourth] = paged(w, "db-4")
    assert w.providers["console"].sent[-1][1].text.endswith("Répondez 1a pour acquitter.")  # 72 h after its page
    sms(w, ALICE, "1a")
    assert w.incident(fourth).state == IncidentState.ACKNOWLEDGED
    assert w.incident(first).state == IncidentState.RESOLVED
    assert w.incident(second).state == w.incident(third).state == IncidentState.TRIGGERED


def test_an_open_incident_keeps_its_code_past_72_hours(build: Builder) -> None:
    w = build(CONSOLE_ONLY)
    [first] = paged(w, "db-1", policy="sticky")
    w.app.actions.act(first, Verb.ACK, "alice", "cli")
    w.clock.advance(timedelta(days=4))
    [later] = paged(w, "db-2")
    assert w.providers["console"].sent[-1][1].text.endswith("Répondez 2a pour acquitter.")
    sms(w, ALICE, "1r")
    assert w.incident(first).state == IncidentState.RESOLVED
    assert w.incident(later).state == IncidentState.TRIGGERED


def test_a_bundle_code_acknowledges_every_incident_of_the_bundle(build: Builder) -> None:
    w = build(CONSOLE_ONLY)  # default storm control: 3 pages per 10 minutes
    incidents = paged(w, *(f"db-{n}" for n in range(6)))
    bundle = w.providers["console"].sent[2][1]
    assert bundle.text.endswith("Répondez 100a pour toutes les acquitter.")

    sms(w, ALICE, "100a")

    states = [w.incident(i).state for i in incidents]
    assert states == [IncidentState.TRIGGERED] * 2 + [IncidentState.ACKNOWLEDGED] * 4
    for incident in incidents[2:]:
        assert w.timeline(incident, "sms_reply")[-1].text == f"SMS reply from alice ({ALICE}) via console: '100a'"
    audited = [(e.person, e.how, e.address, e.target) for e in w.app.access.audit() if e.action == "ack"]
    assert audited == [("alice", "sms reply", ALICE, incident) for incident in incidents[2:]]
    [(_, reason, text)] = answers(w, incidents[2])
    assert (reason, text) == ("bundle", "memoguard : 4 incident(s) sur 4 acquitté(s) (code 100).")


# --- STOP / START -------------------------------------------------------------------------------------


def test_stop_keeps_pages_but_no_other_sms_until_start(build: Builder) -> None:
    w = build(
        "channels:\n  sms: [console]\n  voice: [console]\n  email: [mailer]\n"
        "providers:\n  console: {kind: console}\n  mailer: {kind: console}\n",
        ("console", "mailer"),
    )
    w.providers["console"].sms = True  # type: ignore[attr-defined]  # an SMS provider, as SMPP is
    [first] = paged(w, "db-1", policy="notify")

    sms(w, ALICE, "STOP")
    stop = answers(w, first)
    assert [r for _, r, _ in stop] == ["stop"]  # the confirmation of a STOP still goes out
    assert stop[0][2].startswith("memoguard : plus de messages d'information par SMS vers ce numéro.")

    [second] = paged(w, "db-2", policy="notify")  # a page still goes by SMS
    assert w.providers["console"].sent[-1][1].incident == second
    sms(w, ALICE, "2a")  # acknowledged: its answer and the "acknowledged" notice may not go by SMS
    w.run()
    rows = [r for r in w.rows(second) if r.purpose != "page"]
    by_purpose = {(r.purpose, r.person): r for r in rows}
    answer = by_purpose[(REPLY, "alice")]
    assert (answer.status, answer.error) == (NotificationStatus.FAILED, f"{ALICE} answered STOP: no SMS but pages")

    sms(w, ALICE, "start")
    assert [r for _, r, _ in answers(w, second)][-1] == "start"


# --- delivery receipts --------------------------------------------------------------------------------


def test_a_delivery_receipt_lands_on_the_notification_and_the_timeline(build: Builder) -> None:
    w = build(CONSOLE_ONLY)
    [incident] = paged(w, "db-1")
    row = w.row(incident)
    assert row.reference == f"console-{row.id}"  # what the fake provider answered

    w.app.replies.receipt(Receipt("console", f"console-{row.id}", "DELIVRD", "000"))
    w.app.replies.receipt(Receipt("console", f"console-{row.id}", "DELIVRD", "000"))  # a second part
    w.app.replies.receipt(Receipt("console", "no-such-message", "UNDELIV"))
    w.app.replies.receipt(Receipt("other", f"console-{row.id}", "UNDELIV"))  # ids are per provider

    row = w.row(incident)
    assert (row.receipt, row.receipt_at) == ("DELIVRD", w.clock.now())
    [entry] = w.timeline(incident, "delivery_receipt")
    assert entry.text == f"Page #{row.id} to alice delivered (DELIVRD), receipt from console"

    w.app.replies.receipt(Receipt("console", f"console-{row.id}", "UNDELIV", "001"))
    assert w.timeline(incident, "delivery_receipt")[-1].text == (
        f"Page #{row.id} to alice NOT delivered (UNDELIV, error 001), receipt from console"
    )


def test_a_receipt_never_takes_back_a_worse_state(build: Builder) -> None:
    w = build(CONSOLE_ONLY)
    [incident] = paged(w, "db-1")
    row = w.row(incident)
    for state in ("ENROUTE", "UNDELIV", "DELIVRD", "ENROUTE"):  # the parts of a long message, in any order
        w.app.replies.receipt(Receipt("console", f"console-{row.id}", state))
    # UNDELIV failed the page (nothing to fail over to), so the secondary is paged: a second row.
    assert w.rows(incident)[0].receipt == "UNDELIV"
    assert [e.text.split(" (")[1] for e in w.timeline(incident, "delivery_receipt")] == [
        "ENROUTE), receipt from console",
        "UNDELIV), receipt from console",
    ]


# --- the network repeating itself, odd input ----------------------------------------------------------


def test_the_same_command_delivered_again_is_not_acted_on_twice(build: Builder) -> None:
    w = build(CONSOLE_ONLY)
    [incident] = paged(w, "db-1")
    sms(w, ALICE, "1e")
    sms(w, ALICE, "1e")  # the SMSC did not get our acknowledgement and sends it again
    assert w.incident(incident).step == 1
    assert len(w.timeline(incident, "sms_reply")) == 1
    assert len(w.timeline(incident, "escalate_requested")) == 1
    assert [r for _, r, _ in answers(w, incident)] == ["done"]

    w.clock.advance(timedelta(minutes=3))
    sms(w, ALICE, "1e")  # minutes later it is a new request
    assert len(w.timeline(incident, "escalate_requested")) == 2


def test_control_characters_are_blanked_and_the_reply_still_understood(build: Builder) -> None:
    w = build(CONSOLE_ONLY)
    [incident] = paged(w, "db-1")
    sms(w, ALICE, "1a\x00")
    assert w.incident(incident).state == IncidentState.ACKNOWLEDGED
    sms(w, ALICE, "\x00\x07hi")
    assert w.timeline(incident, "sms_reply")[-1].text.endswith("'hi': not understood")


def test_a_bundle_answered_twice_says_already_done(build: Builder) -> None:
    w = build(CONSOLE_ONLY)
    incidents = paged(w, *(f"db-{n}" for n in range(6)))
    sms(w, ALICE, "100a")
    w.clock.advance(timedelta(minutes=3))
    sms(w, ALICE, "100a")
    [_, (_, _, text)] = answers(w, incidents[2])
    assert text == "memoguard : 0 incident(s) sur 4 acquitté(s) (code 100), 4 déjà fait(s)."


def test_a_code_stays_with_its_incident_72_hours_after_it_is_resolved(build: Builder) -> None:
    w = build(CONSOLE_ONLY)
    [first] = paged(w, "db-1", policy="sticky")
    sms(w, ALICE, "1a")
    w.clock.advance(timedelta(hours=73))  # its last page is long past, but it is still open
    w.app.actions.act(first, Verb.RESOLVE, "root", "cli")
    [second] = paged(w, "db-2")
    [page] = [m for _, m in w.providers["console"].sent if m.incident == second]
    assert page.text.endswith("Répondez 2a pour acquitter.")
    sms(w, ALICE, "1r")  # late, about the first one
    assert w.incident(second).state == IncidentState.TRIGGERED
    assert answers(w, first)[-1][1] == "closed"
