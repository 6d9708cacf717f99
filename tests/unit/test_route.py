from memoguard.domain.route import Route, first_match

ROUTES = (
    Route("database", labels=(("team", "dba"),)),
    Route("critical", severities=frozenset({"critical"})),
    Route("prometheus-only", sources=frozenset({"prometheus"}), severities=frozenset({"warning"})),
    Route("default"),
)


def test_first_matching_route_wins_in_configuration_order() -> None:
    assert first_match(ROUTES, "scripts", "critical", {"team": "dba"}) == ROUTES[0]
    assert first_match(ROUTES, "scripts", "critical", {"team": "web"}) == ROUTES[1]
    assert first_match(ROUTES, "prometheus", "warning", {}) == ROUTES[2]
    assert first_match(ROUTES, "scripts", "warning", {}) == ROUTES[3]


def test_every_criterion_of_a_route_must_match() -> None:
    route = Route("p", sources=frozenset({"prometheus"}), labels=(("team", "dba"), ("env", "prod")))
    assert route.matches("prometheus", "info", {"team": "dba", "env": "prod", "extra": "x"})
    assert not route.matches("prometheus", "info", {"team": "dba"})
    assert not route.matches("scripts", "info", {"team": "dba", "env": "prod"})


def test_no_route_matches_gives_none() -> None:
    assert first_match(ROUTES[:2], "scripts", "info", {}) is None
