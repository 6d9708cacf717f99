"""The ``memoguard import VENDOR`` command, the same for every vendor: one of ``--from-dir`` (saved API
answers, for air-gapped sites) or ``--api-key-file`` with ``--url`` (the live API, whose answers are kept
in the output), ``--output``, and ``--compare DAYS`` from ``--from``. A vendor module gives three functions:
``fetch`` (API to saved files), ``translate`` (saved files to YAML text) and ``compare``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click

from memoguard.cli.importer.common import ImportProblem, Report, Written, write_config

Fetch = Callable[[str, str, Path], None]
Translate = Callable[[Path, datetime, Report], Written]
# (saved answers, written configuration, start, end, (url, key) of the live API or None) -> disagreements
Compare = Callable[[Path, Path, datetime, datetime, "tuple[str, str] | None"], list[str]]


@dataclass(frozen=True)
class Vendor:
    title: str  # as the vendor spells itself
    command: str  # memoguard import <command>
    export: str  # where, in the output directory, the answers read from the API are kept
    url: str  # the default API ("" when there is none: --url is then needed with --api-key-file)
    url_help: str
    key_help: str
    dir_help: str
    fetch: Fetch
    translate: Translate
    compare: Compare


def _start(text: str | None) -> datetime:
    if text is None:
        return datetime.now(UTC)
    try:
        found = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not an ISO 8601 instant", param_hint="--from") from None
    if found.tzinfo is None:
        raise click.BadParameter(f"{text!r} has no offset (such as +01:00 or Z)", param_hint="--from")
    return found


def make_command(vendor: Vendor, doc: str) -> click.Command:
    def run(
        from_dir: Path | None,
        api_key_file: Path | None,
        url: str | None,
        output: Path,
        days: int | None,
        start_text: str | None,
    ) -> None:
        now = _start(start_text)
        if (from_dir is None) == (api_key_file is None):
            raise click.UsageError("give --from-dir (saved answers) or --api-key-file (the live API), one of them")
        live: tuple[str, str] | None = None
        if api_key_file is not None:
            if not url:
                raise click.UsageError(f"give --url with --api-key-file: {vendor.title}'s API has no one address")
            if output.exists() and any(output.iterdir()):
                raise ImportProblem(f"{output}: not empty; give a new directory")
            key = api_key_file.read_text(encoding="utf-8").strip()
            if not key:
                raise ImportProblem(f"{api_key_file}: empty (the {vendor.title} API key)")
            from_dir = output / vendor.export
            vendor.fetch(url, key, from_dir)
            live = (url, key)
        assert from_dir is not None
        report = Report(vendor.title)
        written = vendor.translate(from_dir, now, report)
        write_config(output, written, report, f"memoguard import {vendor.command}", vendor.export)
        click.echo(report.markdown())
        click.echo(f"written: {output} (check it with `memoguard check {output}`)")
        if days is None:
            return
        lines = vendor.compare(from_dir, output, now, now + timedelta(days=days), live)
        for line in lines:
            click.echo(line)
        if lines:
            raise ImportProblem(f"{len(lines)} hand-offs disagree over the next {days} days (listed above)")
        click.echo(f"compare: every hand-off over the next {days} days agrees with {vendor.title}")

    run.__doc__ = doc
    options = [
        click.option(
            "--from-dir",
            "from_dir",
            default=None,
            type=click.Path(exists=True, file_okay=False, path_type=Path),
            help=vendor.dir_help,
        ),
        click.option(
            "--api-key-file",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            default=None,
            help=vendor.key_help + f" The answers are kept in OUTPUT/{vendor.export}/.",
        ),
        click.option("--url", default=vendor.url or None, show_default=bool(vendor.url), help=vendor.url_help),
        click.option(
            "--output",
            "-o",
            required=True,
            type=click.Path(file_okay=False, path_type=Path),
            help="The configuration directory to write (new or empty).",
        ),
        click.option(
            "--compare",
            "days",
            metavar="DAYS",
            type=click.IntRange(1, 366),
            default=None,
            help=f"Then print every hand-off over the next DAYS days where the written rosters put other people "
            f"on call than {vendor.title}; exit code 1 if any.",
        ),
        click.option(
            "--from",
            "start_text",
            metavar="INSTANT",
            default=None,
            help="Where --compare starts: an ISO 8601 instant with its offset (default: now).",
        ),
    ]
    command: Callable[..., None] = run
    for option in reversed(options):
        command = option(command)
    return click.command(name=vendor.command)(command)
