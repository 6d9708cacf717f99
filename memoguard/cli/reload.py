"""``memoguard reload``: make the running service load its configuration again, and say whether it did.

How the command reaches the service: through the database and a signal, on the same host. Every
``memoguard serve`` writes its host and pid in ``engine_beat`` (services/heartbeat.py); the command checks
the configuration first (every problem printed, nothing signalled when there is one), sends SIGHUP to
each service of this host whose engine runs, then reads ``/readyz`` at ``http.listen`` until it reports
the new configuration's hash. No admin route: reloading needs the right to signal the process (root or
the service's user), which is exactly who may change its configuration files.

Under systemd, ``systemctl reload memoguard`` does the same signalling (ExecReload); this command adds the
check before and the confirmation after. With several instances on other hosts, run it on each: each
instance reloads its own files, and /readyz and /metrics show each one's hash.
"""

from __future__ import annotations

import os
import signal
import socket
import time

import click
import httpx

from memoguard.cli.context import AppContext, pass_app
from memoguard.cli.heartbeat import status


def _readyz(listen: str) -> str:
    host, _, port = listen.rpartition(":")
    host = host.strip("[]")
    if host in ("0.0.0.0", "::", ""):
        host = "::1" if host == "::" else "127.0.0.1"
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/readyz"


@click.command()
@click.option(
    "--wait",
    default=15.0,
    show_default=True,
    type=click.FloatRange(0, 300),
    help="Seconds to wait for /readyz to report the new configuration.",
)
@click.option(
    "--url",
    metavar="URL",
    help="Where the service answers, e.g. http://127.0.0.1:8080 (default: http.listen of the configuration; "
    "give it when serve runs with --listen).",
)
@pass_app
def reload(app: AppContext, wait: float, url: str | None) -> None:
    """Reload the running service's configuration (the --config directory), checked first.

    Exit code 0 once /readyz reports the new configuration's hash; 1 when the configuration has problems
    (each printed, nothing signalled), no service runs on this host, or the service did not take it
    (its log says why: journalctl -u memoguard).
    """
    config = app.config()  # every problem printed, exit 1, before anything is signalled
    here = socket.gethostname()
    engines = [beat for beat in status(app).alive if beat.host == here]
    if not engines:
        raise click.ClickException(f"no memoguard serve runs its engine on this host ({here}) on this database")
    for beat in engines:
        try:
            os.kill(beat.pid, signal.SIGHUP)
        except ProcessLookupError:
            raise click.ClickException(f"process {beat.pid} (memoguard serve) is gone: is it restarting?") from None
        except PermissionError:
            raise click.ClickException(
                f"not allowed to signal process {beat.pid}: run as root or as the service's user"
            ) from None
    pids = ", ".join(str(beat.pid) for beat in engines)
    url = f"{url.rstrip('/')}/readyz" if url else _readyz(config.http.listen)
    deadline = time.monotonic() + wait
    seen = "nothing"
    while True:
        try:
            seen = httpx.get(url, timeout=2).json().get("config_hash", "none")
        except (httpx.HTTPError, ValueError) as error:
            seen = f"no answer ({error})"
        if seen == config.digest:
            click.echo(f"reloaded: configuration {config.digest[:12]} in force (process {pids})")
            return
        if time.monotonic() >= deadline:
            break
        time.sleep(0.2)
    raise click.ClickException(
        f"signalled process {pids}, but {url} reports {seen[:12] if len(seen) == 64 else seen}, not "
        f"{config.digest[:12]}: the service refused it or has not finished (its log says why)"
    )
