"""Configuration checks added from the field (issues 14 and 21): every file checked whatever the others'
state, provider kinds this build lacks, sources sharing a token, quorums that can never be met.

Each test writes a small configuration directory and reads the problems ``load_config`` reports, as
``file:line: path: message`` relative to that directory.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from memoguard import bootstrap
from memoguard.config.loader import load_config
from memoguard.config.problem import ConfigError
from memoguard.domain.errors import InvalidValueError
from memoguard.domain.policy import CrisisCell
from tests.support.parts import MemoryParts

PEOPLE = """\
people:
  erin: {phone: "+33 6 12 34 56 78", channels: [sms]}
  gina: {phone: "+33 6 12 34 56 79", channels: [sms]}
channels:
  sms: [console]
providers:
  console: {kind: console}
"""

ROSTER = """\
name: desk
layers:
  - {name: week, members: [erin, gina], shift: 1w, handoff: "mon 09:00", start: 2026-01-05}
"""


# What e-mail pages need to link back (issue 16): last in the file, so the lines above keep their numbers.
LINKS = 'http: {public_url: "https://memoguard.example.org", link_secret_env: MG_LINK_SECRET}\n'


def write(directory: Path, main: str, files: dict[str, str] | None = None) -> Path:
    (directory / "memoguard.yaml").write_text(main, encoding="utf-8")
    for name, text in (files or {}).items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return directory


def problems(directory: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(directory)
    prefix = f"{directory}/"
    return [str(problem).removeprefix(prefix) for problem in caught.value.problems]


def policy(steps: str, extra: str = "") -> str:
    return f"name: default\nsteps:\n{steps}{extra}"


# --- every file is checked ------------------------------------------------------------------------------


def test_rosters_and_policies_are_checked_among_themselves_when_memoguard_yaml_is_not_yaml(tmp_path: Path) -> None:
    write(
        tmp_path,
        "people:\n\terin: {}\n",
        {
            "rosters/desk.yaml": ROSTER.replace("[erin, gina]", "[erin, nobody]"),
            "escalation_policies/default.yaml": policy(
                '  - {notify: ["roster:desk/secondary", "person:erin"], channels: [sms], ack_within: 5m}\n'
                '  - {notify: ["roster:web"], channels: [sms], ack_within: 5m}\n'
            ),
        },
    )
    assert problems(tmp_path) == [
        "escalation_policies/default.yaml:3: steps[0].notify[0]: roster 'desk' has no level 'secondary' "
        "(levels: primary)",
        "escalation_policies/default.yaml:4: steps[1].notify[0]: unknown roster 'web' (known: desk)",
        "memoguard.yaml:2: invalid YAML at column 1: found character '\\t' that cannot start any token",
        # Who erin, nobody and the sms channel are cannot be known without memoguard.yaml: not reported.
    ]


def test_a_list_item_cut_for_its_mistake_leaves_the_others_under_their_own_index(tmp_path: Path) -> None:
    write(
        tmp_path,
        PEOPLE,
        {
            "escalation_policies/default.yaml": policy(
                '  - {notify: ["person:erin"], channels: [sms], ack_within: soon}\n'
                '  - {notify: ["person:erin"], channels: [sms], ack_within: later}\n'
                '  - {notify: ["person:zack"], channels: [fax], ack_within: 5m}\n',
                "crisis_cell: {members: [erin, erin], channels: [sms], quorum: 2, oops: 1}\n",
            )
        },
    )
    duration = "expected a number and a unit (s, m, h, d, w), e.g. 30s, 5m, 4h, 1w"
    assert problems(tmp_path) == [
        f"escalation_policies/default.yaml:3: steps[0].ack_within: invalid duration 'soon': {duration}",
        f"escalation_policies/default.yaml:4: steps[1].ack_within: invalid duration 'later': {duration}",
        "escalation_policies/default.yaml:5: steps[2].channels[0]: unknown channel 'fax' (known: sms)",
        "escalation_policies/default.yaml:5: steps[2].notify[0]: unknown person 'zack' (known: erin, gina)",
        "escalation_policies/default.yaml:6: crisis_cell.members[1]: 'erin' is already a member (line 6)",
        "escalation_policies/default.yaml:6: crisis_cell.oops: unknown key 'oops' (expected one of: bridge, channels, "
        "members, quorum, repeat_every)",
        "escalation_policies/default.yaml:6: crisis_cell.quorum: quorum 2 can never be met: the cell has 1 distinct "
        "member(s)",
    ]


def test_what_a_cut_definition_is_referred_to_by_is_not_reported_again(tmp_path: Path) -> None:
    main = PEOPLE.replace("  erin: {phone", "  erin: {fone").replace(
        "  console: {kind: console}\n", "  console: {kind: console}\n  pager: {kind: smpp}\n"
    )
    write(
        tmp_path,
        main.replace("sms: [console]", "sms: [console, pager]"),
        {"rosters/desk.yaml": ROSTER},
    )
    # erin keeps her entry (only the typo is cut); the pager provider is cut as a whole (no host, no
    # system_id), and the sms channel naming it is not told it is unknown.
    assert problems(tmp_path) == [
        "memoguard.yaml:2: people.erin.fone: unknown key 'fone' (did you mean 'phone'?)",
        "memoguard.yaml:8: providers.pager.host: required key is missing",
        "memoguard.yaml:8: providers.pager.system_id: required key is missing",
    ]


# --- provider kinds -------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["pigeon"])
def test_a_provider_kind_this_build_lacks_is_an_error_naming_the_provider(tmp_path: Path, kind: str) -> None:
    main = PEOPLE.replace("sms: [console]", "sms: [console, later]") + f"  later: {{kind: {kind}, from: x}}\n"
    write(tmp_path, main)
    assert problems(tmp_path) == [
        f"memoguard.yaml:8: providers.later: provider kind '{kind}' is not available in this build "
        "(kinds it has: 'console', 'smpp', 'zendesk', 'webhook', 'smtp', 'twilio')",
    ]


def test_bootstrap_builds_a_provider_for_every_kind_the_schema_accepts(tmp_path: Path) -> None:
    main = PEOPLE + (
        "  smsc: {kind: smpp, host: 127.0.0.1, system_id: mg}\n"
        '  desk: {kind: zendesk, url: "https://desk.example.net"}\n'
        '  hook: {kind: webhook, url: "https://hooks.example.net/in"}\n'
        "  mail: {kind: smtp, host: mail.example.net, from: pager@example.net}\n"
        f"  sms-api: {{kind: twilio, account_sid: {SID}, auth_token_file: twilio.token, from: '+33700000001'}}\n"
        + LINKS
    )
    (tmp_path / "twilio.token").write_text("secret\n", encoding="utf-8")
    config = load_config(write(tmp_path, main))
    from memoguard.config.schema import PROVIDER_KINDS  # noqa: PLC0415 - next to what it is compared with

    assert sorted(p.kind for p in config.providers.values()) == sorted(PROVIDER_KINDS)
    built = bootstrap.providers(config, bootstrap.clock(), inbox=_NoInbox(), parts=MemoryParts())
    assert sorted(built) == sorted(config.providers)


# --- smtp (issue 16) -------------------------------------------------------------------------------------

MAILER = PEOPLE.replace("sms: [console]", "sms: [console]\n  email: [mail]") + "  mail: {kind: smtp, %s}\n" + LINKS


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        (
            "host: mail.example.net, from: pager@example.net, tls: none, username: mg, password_env: MG_SMTP",
            "memoguard.yaml:9: providers.mail: a login without TLS sends the password in clear: use tls: starttls "
            "or implicit, or set allow_plaintext_login: true for a relay on a trusted network",
        ),
        (
            "host: mail.example.net, from: pager@example.net, username: mg",
            "memoguard.yaml:9: providers.mail: give both username and password_file/password_env, or neither",
        ),
        (
            "host: mail.example.net, from: pager@example.net, password_env: MG_SMTP",
            "memoguard.yaml:9: providers.mail: give both username and password_file/password_env, or neither",
        ),
        (
            "host: mail.example.net, from: pager@example.net, tls: none, tls_ca: ca.pem",
            "memoguard.yaml:9: providers.mail: tls_ca is set but tls is none: use tls: starttls or implicit",
        ),
        (
            "host: mail.example.net, from: pager@example.net, tls: ssl",
            "memoguard.yaml:9: providers.mail.tls: input should be 'starttls', 'implicit' or 'none', got 'ssl'",
        ),
        (
            "host: mail.example.net, from: pager at example.net",
            "memoguard.yaml:9: providers.mail.from: invalid e-mail address 'pager at example.net': "
            "expected local-part@domain.tld, without spaces",
        ),
        (
            "host: mail.example.net",
            "memoguard.yaml:9: providers.mail.from: required key is missing",
        ),
        (
            "host: mail.example.net, from: pager@example.net, password: hunter2",
            "memoguard.yaml:9: providers.mail.password: secrets are not allowed in YAML: use password_file "
            "(e.g. a systemd credential) or password_env",
        ),
    ],
)
def test_smtp_settings_are_checked_at_their_line(tmp_path: Path, settings: str, expected: str) -> None:
    write(tmp_path, MAILER % settings)
    assert problems(tmp_path) == [expected]


def test_an_smtp_login_in_clear_is_accepted_when_explicitly_allowed(tmp_path: Path) -> None:
    settings = (
        "host: 127.0.0.1, from: pager@example.net, tls: none, username: mg, password_env: MG_SMTP, "
        "allow_plaintext_login: true"
    )
    config = load_config(write(tmp_path, MAILER % settings))
    mail = config.providers["mail"]
    assert mail.kind == "smtp"
    assert (mail.tls, mail.port_or_default, mail.username) == ("none", 25, "mg")


@pytest.mark.parametrize(("tls", "port"), [("starttls", 587), ("implicit", 465), ("none", 25)])
def test_the_smtp_port_follows_from_tls_unless_given(tmp_path: Path, tls: str, port: int) -> None:
    config = load_config(write(tmp_path, MAILER % f"host: mail.example.net, from: pager@example.net, tls: {tls}"))
    mail = config.providers["mail"]
    assert mail.kind == "smtp"
    assert mail.port_or_default == port


def test_a_person_reached_by_email_needs_an_address(tmp_path: Path) -> None:
    main = (MAILER % "host: mail.example.net, from: pager@example.net").replace(
        "channels: [sms]}\n  gina", "channels: [sms, email]}\n  gina"
    )
    write(tmp_path, main)
    assert problems(tmp_path) == [
        "memoguard.yaml:2: people.erin.channels[1]: channel 'email' sends e-mail (provider 'mail') "
        "but erin has no email address",
    ]


def test_a_person_s_email_address_is_checked(tmp_path: Path) -> None:
    main = (MAILER % "host: mail.example.net, from: pager@example.net").replace(
        "channels: [sms]}\n  gina", "email: erin@localhost, channels: [sms, email]}\n  gina"
    )
    write(tmp_path, main)
    assert problems(tmp_path) == ["memoguard.yaml:2: people.erin.email: invalid e-mail address 'erin@localhost'"]


# --- twilio -----------------------------------------------------------------------------------------------

SID = "AC" + "0123456789abcdef" * 2
TWILIO = f"  sms-api: {{kind: twilio, account_sid: {SID}, auth_token_env: MG_TWILIO, from: '+33700000001'}}\n"
PUBLIC = "http: {public_url: 'https://memoguard.example.net'}\n"


def test_a_twilio_provider_needs_the_public_url_twilio_calls_back(tmp_path: Path) -> None:
    write(tmp_path, PEOPLE + TWILIO)
    assert problems(tmp_path) == [
        "memoguard.yaml:8: providers.sms-api: provider 'sms-api' is a twilio provider, which needs "
        "http.public_url: the https:// address where Twilio reaches this service (delivery statuses, replies)",
    ]
    write(tmp_path, PEOPLE + TWILIO + PUBLIC)
    assert load_config(tmp_path).providers["sms-api"].kind == "twilio"


def test_a_public_url_without_its_scheme_is_refused_for_twilio_too(tmp_path: Path) -> None:
    # Twilio refuses a StatusCallback that is not absolute: every page would be retried, then fail over.
    write(tmp_path, PEOPLE + TWILIO + "http: {public_url: memoguard.example.net}\n")
    assert problems(tmp_path) == ["memoguard.yaml:9: http.public_url: public_url must start with http:// or https://"]


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (
            ("from: '+33700000001'", "from: '0700000001'"),
            "providers.sms-api.from: '0700000001' is not an E.164 number: write it as + then digits, e.g. +33612345678",
        ),
        (
            ("auth_token_env: MG_TWILIO, ", ""),
            "providers.sms-api: a twilio provider needs auth_token_file or auth_token_env (its auth token)",
        ),
        (
            ("auth_token_env: MG_TWILIO", "auth_token: inline"),
            "providers.sms-api.auth_token: secrets are not allowed in YAML: use auth_token_file (e.g. a systemd "
            "credential) or auth_token_env",
        ),
        (
            ("from: '+33700000001'", "from: '+33700000001', messaging_service_sid: MG" + "ab" * 16),
            "providers.sms-api: give exactly one of from (an E.164 number) and messaging_service_sid",
        ),
        (
            (f"account_sid: {SID}", "account_sid: AC123"),
            "providers.sms-api.account_sid: 'AC123' is not a Twilio SID: AC then 32 hexadecimal digits, as the "
            "console shows it",
        ),
    ],
)
def test_a_twilio_provider_is_checked_where_it_is_written(
    tmp_path: Path, change: tuple[str, str], problem: str
) -> None:
    write(tmp_path, PEOPLE + TWILIO.replace(*change) + PUBLIC)
    [found] = problems(tmp_path)
    assert found.startswith(f"memoguard.yaml:8: {problem}")


def test_a_twilio_provider_places_calls_only_from_a_number(tmp_path: Path) -> None:
    service = TWILIO.replace("from: '+33700000001'", "messaging_service_sid: MG" + "ab" * 16)
    voice = PEOPLE.replace("  sms: [console]\n", "  sms: [console]\n  voice: [sms-api]\n")
    write(tmp_path, voice + service + PUBLIC)
    assert problems(tmp_path) == [
        "memoguard.yaml:6: channels.voice[0]: provider 'sms-api' places calls for the voice channel, which needs "
        "its 'from' number: a messaging_service_sid can send SMS, not call",
    ]
    write(tmp_path, voice + TWILIO + PUBLIC)
    assert load_config(tmp_path).providers["sms-api"].kind == "twilio"


def test_a_missing_auth_token_is_a_secret_problem_and_stops_serve(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MG_TWILIO", raising=False)
    config = load_config(write(tmp_path, PEOPLE + TWILIO + PUBLIC))
    message = "provider 'sms-api': environment variable MG_TWILIO (auth_token_env) is not set or empty"
    assert bootstrap.secret_problems(config) == [message]
    with pytest.raises(bootstrap.StartupError, match=message.replace("(", r"\(").replace(")", r"\)")):
        bootstrap.providers(config, bootstrap.clock(), inbox=_NoInbox(), parts=MemoryParts())


class _NoInbox:
    """Nothing is received: the providers are only built, never started."""

    def receipt(self, *args: object, **kwargs: object) -> None:
        raise AssertionError("not started")

    def reply(self, *args: object, **kwargs: object) -> None:
        raise AssertionError("not started")


# --- sources sharing a token ----------------------------------------------------------------------------


def sources(first: str, second: str) -> str:
    return PEOPLE + f"sources:\n  alpha: {{{first}}}\n  beta: {{{second}}}\n"


def test_two_sources_reading_the_same_environment_variable_share_a_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MG_TEST_TOKEN", raising=False)  # unset: known from where it comes from alone
    write(tmp_path, sources("token_env: MG_TEST_TOKEN", "token_env: MG_TEST_TOKEN"))
    assert problems(tmp_path) == [
        "memoguard.yaml:10: sources.beta: the same token_env, so the same token as source 'alpha' (line 9): "
        "each source needs a token of its own, it is what tells their alarms apart",
    ]


def test_two_sources_reading_the_same_file_share_a_token(tmp_path: Path) -> None:
    write(tmp_path, sources("token_file: secret/a", "token_file: ./secret/../secret/a"))
    assert problems(tmp_path) == [
        "memoguard.yaml:10: sources.beta: the same token_file, so the same token as source 'alpha' (line 9): "
        "each source needs a token of its own, it is what tells their alarms apart",
    ]


def test_a_file_token_and_an_environment_token_are_compared_without_the_final_newline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "alpha.token").write_text("s3cret-Token\n", encoding="utf-8")
    monkeypatch.setenv("MG_TEST_TOKEN", "s3cret-Token")
    write(tmp_path, sources("token_file: alpha.token", "token_env: MG_TEST_TOKEN"))
    assert problems(tmp_path) == [
        "memoguard.yaml:10: sources.beta: the same token as source 'alpha' (line 9): "
        "each source needs a token of its own, it is what tells their alarms apart",
    ]
    # The service refuses to start on them too, should check have run without the secrets.
    config = load_config(write(tmp_path, sources("token_file: alpha.token", "token_env: MG_OTHER_TOKEN")))
    monkeypatch.setenv("MG_OTHER_TOKEN", "s3cret-Token")
    with pytest.raises(bootstrap.StartupError, match="sources 'alpha' and 'beta' have the same token"):
        bootstrap.tokens(config)


@pytest.mark.parametrize(("first", "second"), [("s3cret-Token", "S3CRET-TOKEN"), ("two words", "two  words")])
def test_tokens_differing_in_case_or_inner_whitespace_are_different(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, first: str, second: str
) -> None:
    monkeypatch.setenv("MG_TEST_A", first)
    monkeypatch.setenv("MG_TEST_B", second)
    config = load_config(write(tmp_path, sources("token_env: MG_TEST_A", "token_env: MG_TEST_B")))
    tokens = bootstrap.tokens(config)
    assert (tokens.source_for(first), tokens.source_for(second)) == ("alpha", "beta")


# --- quorums --------------------------------------------------------------------------------------------


def test_a_crisis_cell_with_fewer_distinct_members_than_its_quorum_is_refused(tmp_path: Path) -> None:
    # Issue 21: this loaded, and the incident could never be acknowledged.
    write(
        tmp_path,
        PEOPLE,
        {
            "escalation_policies/default.yaml": policy(
                '  - {notify: ["person:gina"], channels: [sms], ack_within: 5m}\n',
                "crisis_cell: {members: [erin, erin, gina], channels: [sms], quorum: 3}\n",
            )
        },
    )
    assert problems(tmp_path) == [
        "escalation_policies/default.yaml:4: crisis_cell.members[1]: 'erin' is already a member (line 4)",
        "escalation_policies/default.yaml:4: crisis_cell.quorum: quorum 3 can never be met: the cell has 2 distinct "
        "member(s)",
    ]


def test_a_duplicate_crisis_member_is_an_error_even_when_the_quorum_can_be_met(tmp_path: Path) -> None:
    write(
        tmp_path,
        PEOPLE,
        {
            "escalation_policies/default.yaml": policy(
                '  - {notify: ["person:gina"], channels: [sms], ack_within: 5m}\n',
                "crisis_cell:\n  members:\n    - erin\n    - gina\n    - erin\n  channels: [sms]\n  quorum: 2\n",
            )
        },
    )
    assert problems(tmp_path) == [
        "escalation_policies/default.yaml:8: crisis_cell.members[2]: 'erin' is already a member (line 6)",
    ]


def test_the_domain_counts_distinct_crisis_members_too() -> None:
    with pytest.raises(InvalidValueError, match="the cell has 2 distinct member"):
        CrisisCell(("erin", "erin", "gina"), ("sms",), quorum=3)


def test_an_acknowledgement_quorum_the_steps_people_cannot_meet_is_refused(tmp_path: Path) -> None:
    write(
        tmp_path,
        PEOPLE,
        {
            "escalation_policies/default.yaml": policy(
                '  - {notify: ["person:erin"], channels: [sms], ack_within: 5m}\n'
                '  - {notify: ["person:gina", "person:erin"], channels: [sms], ack_within: 5m}\n',
                "acknowledgement: {quorum: 3}\n",
            )
        },
    )
    assert problems(tmp_path) == [
        "escalation_policies/default.yaml:5: acknowledgement.quorum: quorum 3 can never be met: "
        "the steps page 2 distinct person(s)",
    ]


def test_a_roster_target_counts_as_at_least_one_person_so_its_policy_is_not_refused(tmp_path: Path) -> None:
    write(
        tmp_path,
        PEOPLE,
        {
            "rosters/desk.yaml": ROSTER,
            "escalation_policies/default.yaml": policy(
                '  - {notify: ["roster:desk", "person:erin"], channels: [sms], ack_within: 5m}\n',
                "acknowledgement: {quorum: 3}\n",
            ),
        },
    )
    assert load_config(tmp_path).policy("default").ack.quorum == 3


def test_a_target_named_twice_in_a_step_is_refused(tmp_path: Path) -> None:
    write(
        tmp_path,
        PEOPLE,
        {
            "rosters/desk.yaml": ROSTER,
            "escalation_policies/default.yaml": policy(
                "  - notify:\n"
                "      - roster:desk\n"
                "      - person:erin\n"
                "      - roster:desk/primary\n"
                "    channels: [sms]\n"
                "    ack_within: 5m\n"
            ),
        },
    )
    assert problems(tmp_path) == [
        "escalation_policies/default.yaml:6: steps[0].notify[2]: roster:desk is already a target of this step (line 4)",
    ]


# --- e-mail links (issue 16) ------------------------------------------------------------------------------

SMTP_ONLY = PEOPLE + "  mail: {kind: smtp, host: mail.example.net, from: pager@example.net}\n"


@pytest.mark.parametrize(
    ("http", "expected"),
    [
        (
            "",
            [
                "memoguard.yaml:1: http: provider 'mail' sends e-mail, whose acknowledgement links are signed: "
                "set http.link_secret_file or http.link_secret_env (a random key of 32 bytes or more)",
                "memoguard.yaml:1: http: provider 'mail' sends e-mail, whose pages link back to this service: "
                "set http.public_url (e.g. https://memoguard.example.org)",
            ],
        ),
        (
            "http: {public_url: memoguard.example.org, link_secret_env: MG_LINK}\n",
            ["memoguard.yaml:9: http.public_url: public_url must start with http:// or https://"],
        ),
        (
            "http: {public_url: https://mg.example.org, link_secret_env: MG_LINK, link_secret_file: key}\n",
            ["memoguard.yaml:9: http: set only one of link_secret_file and link_secret_env"],
        ),
    ],
)
def test_an_smtp_provider_needs_the_public_url_and_a_link_secret(
    tmp_path: Path, http: str, expected: list[str]
) -> None:
    write(tmp_path, SMTP_ONLY + http)
    assert problems(tmp_path) == expected


def test_links_need_nothing_without_an_smtp_provider(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, PEOPLE))
    assert config.http.public_url is None and config.http.link_secret_env is None


@pytest.mark.parametrize(
    ("http", "expected"),
    [
        (
            "reply_domain: replies.example.org, link_secret_env: K",
            "http: give both reply_listen (HOST:PORT) and reply_domain, or neither",
        ),
        (
            "reply_listen: 'mail-2525', reply_domain: replies.example.org, link_secret_env: K",
            "http: reply_listen 'mail-2525': expected HOST:PORT such as 127.0.0.1:2525",
        ),
        (
            "reply_listen: '127.0.0.1:2525', reply_domain: replies.example.org",
            "http: reply addresses are signed: set link_secret_file or link_secret_env",
        ),
    ],
)
def test_the_reply_listener_settings_are_checked(tmp_path: Path, http: str, expected: str) -> None:
    write(tmp_path, PEOPLE + "http: {" + http + "}\n")
    assert problems(tmp_path) == [f"memoguard.yaml:8: {expected}"]


def test_a_bad_reply_domain_is_refused(tmp_path: Path) -> None:
    write(
        tmp_path, PEOPLE + "http: {reply_listen: '127.0.0.1:2525', reply_domain: 'not a domain', link_secret_env: K}\n"
    )
    [problem] = problems(tmp_path)
    assert problem.startswith("memoguard.yaml:8: http.reply_domain:")


@pytest.mark.parametrize(
    ("metrics", "expected"),
    [
        ("listen: 'metrics-9108'", "metrics: listen 'metrics-9108': expected HOST:PORT such as 127.0.0.1:9108"),
        ("listen: '127.0.0.1:0'", "metrics: listen '127.0.0.1:0': expected HOST:PORT such as 127.0.0.1:9108"),
        ("token_file: a, token_env: B", "metrics: set only one of token_file and token_env"),
    ],
)
def test_the_metrics_settings_are_checked(tmp_path: Path, metrics: str, expected: str) -> None:
    write(tmp_path, PEOPLE + "metrics: {" + metrics + "}\n")
    assert problems(tmp_path) == [f"memoguard.yaml:8: {expected}"]


def test_the_config_digest_changes_with_any_file_and_only_then(tmp_path: Path) -> None:
    write(tmp_path, PEOPLE)
    first = load_config(tmp_path).digest
    assert len(first) == 64
    assert load_config(tmp_path).digest == first
    (tmp_path / "memoguard.yaml").write_text(PEOPLE + "# a comment\n", encoding="utf-8")
    assert load_config(tmp_path).digest != first


@pytest.mark.parametrize(
    ("auth", "expected"),
    [
        (
            "proxy_header: X-Forwarded-User",
            "http.auth: give both proxy_header and proxy_addresses (the proxies it is accepted from), or neither",
        ),
        (
            "proxy_addresses: ['127.0.0.1/32']",
            "http.auth: give both proxy_header and proxy_addresses (the proxies it is accepted from), or neither",
        ),
        (
            "proxy_header: X-Forwarded-User, proxy_addresses: ['10.0.0.1/8']",
            "http.auth.proxy_addresses: '10.0.0.1/8' is not an address or network: 10.0.0.1/8 has host bits set",
        ),
        (
            "proxy_header: X-Forwarded-User, proxy_addresses: [proxy.example.org]",
            "http.auth.proxy_addresses: 'proxy.example.org' is not an address or network:"
            " 'proxy.example.org' does not appear to be an IPv4 or IPv6 network",
        ),
        (
            "proxy_header: X-Forwarded-User, proxy_addresses: 127.0.0.1",
            "http.auth.proxy_addresses: a list of addresses or networks, such as [127.0.0.1/32, ::1/128]",
        ),
        ("code_ttl: 2h", "http.auth: code_ttl must be more than 0 and at most 1h: a code is for the next minutes"),
        ("session_idle: 8d", "http.auth: session_idle must not be longer than session_max"),
        ("codes_per_person: 0", "http.auth.codes_per_person: input should be greater than or equal to 1"),
    ],
)
def test_the_sign_in_settings_are_checked(tmp_path: Path, auth: str, expected: str) -> None:
    write(tmp_path, PEOPLE + "http: {auth: {" + auth + "}}\n")
    assert problems(tmp_path) == [f"memoguard.yaml:8: {expected}"]


def test_the_sign_in_settings_are_read(tmp_path: Path) -> None:
    auth = "code_ttl: 5m, session_idle: 1h, session_max: 1d, proxy_header: X-Auth, proxy_addresses: ['::1', 10.0.0.0/8]"
    config = load_config(write(tmp_path, PEOPLE + "http: {auth: {" + auth + "}}\n"))
    assert config.http.auth.code_ttl == timedelta(minutes=5)
    assert (config.http.auth.session_idle, config.http.auth.session_max) == (timedelta(hours=1), timedelta(days=1))
    assert [str(n) for n in config.http.auth.proxy_addresses] == ["::1/128", "10.0.0.0/8"]


# --- heartbeats need a route (issue 17) -------------------------------------------------------------------


ERIN = policy('  - {notify: ["person:erin"], channels: [sms], ack_within: 5m}\n')


def beats(routes: str) -> str:
    return (
        PEOPLE
        + "sources:\n  scripts: {token_env: MG_TEST_A}\n"
        + "  cron: {kind: heartbeat, token_env: MG_TEST_B, heartbeat: 1h}\n"
        + "routes:\n"
        + routes
    )


def test_a_heartbeat_whose_miss_no_route_takes_is_refused_at_its_source(tmp_path: Path) -> None:
    # Its miss alarm was stored unrouted and paged nobody: the silence a heartbeat is there to catch.
    write(
        tmp_path,
        beats("  - {match: {labels: {team: dba}}, policy: default}\n  - {match: {source: scripts}, policy: default}\n"),
        {
            "escalation_policies/default.yaml": policy(
                '  - {notify: ["person:erin"], channels: [sms], ack_within: 5m}\n'
            )
        },
    )
    assert problems(tmp_path) == [
        "memoguard.yaml:10: sources.cron: heartbeat 'cron' would page nobody when missed: no route matches its "
        "alarm (source cron, severity critical, labels heartbeat=cron, alertname=HeartbeatMissed); add a route "
        "for it, e.g. {match: {labels: {alertname: HeartbeatMissed}}, policy: ...}"
    ]


@pytest.mark.parametrize(
    "route",
    [
        "{policy: default}",
        "{match: {labels: {alertname: HeartbeatMissed}}, policy: default}",
        "{match: {source: cron, severity: critical, labels: {heartbeat: cron}}, policy: default}",
    ],
)
def test_a_heartbeat_a_route_takes_loads(tmp_path: Path, route: str) -> None:
    write(
        tmp_path,
        beats(f"  - {{match: {{labels: {{team: dba}}}}, policy: default}}\n  - {route}\n"),
        {
            "escalation_policies/default.yaml": policy(
                '  - {notify: ["person:erin"], channels: [sms], ack_within: 5m}\n'
            )
        },
    )
    assert load_config(tmp_path).heartbeats() == {"cron": (timedelta(hours=1), timedelta())}


def test_a_source_without_a_heartbeat_needs_no_route(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, PEOPLE + "sources:\n  scripts: {token_env: MG_TEST_A}\n"))
    assert config.routes == ()
