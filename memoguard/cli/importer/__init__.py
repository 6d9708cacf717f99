"""``memoguard import opsgenie|grafana-oncall|pagerduty``: another on-call tool's people, schedules and
escalations as memoguard's configuration directory, with IMPORT-REPORT.md naming everything that did not
carry over, and ``--compare DAYS`` as the proof that the same people are on call.

Cut by concern: ``command`` (the options and the run, the same for every vendor), ``common`` (names,
report, the writer with provenance comments), ``api`` (the HTTP reader and its three paginations),
``compare`` (the comparison of on-call entries with memoguard's roster code), then one module per vendor.
"""

from __future__ import annotations

import click

from memoguard.cli.importer import grafana_oncall, opsgenie, pagerduty


@click.group(name="import")
def import_group() -> None:
    """Write a configuration directory from another on-call tool's data."""


import_group.add_command(opsgenie.command)
import_group.add_command(grafana_oncall.command)
import_group.add_command(pagerduty.command)


__all__ = ["import_group"]
