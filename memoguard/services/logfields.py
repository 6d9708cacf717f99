"""The ids a log line about an incident or a page carries as fields (issue 19, engine/logs.py).

Passed as ``extra=`` so JSON lines have them as keys (``incident_id``, ``notification_id``, ``provider``,
``person``) and the journal as fields (``INCIDENT_ID=12``): an operator filters on them instead of
parsing sentences. Only ids and names: never a token, a reply address, a phone number or a link's MAC.
"""

from __future__ import annotations


def ids(
    incident: str | int | None = None,
    notification: int | None = None,
    provider: str | None = None,
    person: str | None = None,
    **more: str | int | None,
) -> dict[str, str | int]:
    """The fields given (those that are not None or empty), for ``log.info(…, extra=ids(…))``."""
    found: dict[str, str | int | None] = {
        "incident_id": None if incident is None else str(incident),
        "notification_id": notification,
        "provider": provider,
        "person": person,
        **more,
    }
    return {key: value for key, value in found.items() if value is not None and value != ""}
