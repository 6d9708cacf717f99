"""The console provider: prints each notification, and with ``file:`` appends it as one JSON line.

It is the embedded default, so a fresh checkout pages someone without an SMS account. The JSON line
carries the notification id, which stays the same if a crash makes the dispatcher send it again.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

from rich.console import Console

from memoguard.services.clock import Clock
from memoguard.services.provider import DeliveryError, Message


class ConsoleProvider:
    def __init__(self, name: str, clock: Clock, file: Path | None = None, console: Console | None = None) -> None:
        self.name = name
        self._clock = clock
        self._file = file
        self._console = console or Console(stderr=True, highlight=False)
        self._lock = threading.Lock()

    def send(self, message: Message) -> str | None:
        now = self._clock.now()
        who = message.person.name if message.person is not None else message.channel
        record = {
            "id": message.id,
            "incident": message.incident,
            "person": who,
            "channel": message.channel,
            "purpose": message.purpose,
            "step": None if message.step is None else message.step + 1,
            "text": message.text,
            "time": now.isoformat(),
        }
        if message.incidents:
            record["incidents"] = list(message.incidents)
        with self._lock:
            if self._file is not None:
                try:
                    with self._file.open("a", encoding="utf-8") as out:
                        out.write(json.dumps(record, ensure_ascii=False) + "\n")
                        out.flush()
                except OSError as error:
                    raise DeliveryError(f"cannot write {self._file}: {error.strerror}", retryable=True) from None
            style = "bold red" if message.purpose == "page" else "yellow"
            number = f" #{message.incident}" if message.incident else ""  # a sign-in code is of no incident
            self._console.print(
                f"[{style}]{message.purpose.upper()}[/{style}]{number} → {who} by {message.channel}: {message.text}",
                markup=True,
                soft_wrap=True,
            )
        return f"console-{message.id}"
