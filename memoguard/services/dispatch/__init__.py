"""The dispatcher: the one place that decides when, and through which provider, each outbox row goes.

A round (``Dispatcher.drain``) plans under the dispatch lock, in one transaction (``planning``): it
reads the ready rows (pages, then status messages, then incident events), groups them into calls — one
message, a storm bundle, a batch job, a job poll — and gives each call a slot in its provider's rate
limits (``pacing``), whose log lives in the database so every instance shares it. Calls without a slot
wait in the outbox until the window allows (their ``not_before`` moves there). The calls then run
outside the transaction (``dispatcher``), each recorded as it ends (``recording``): sent, retried with
backoff and jitter, throttled (the provider said "slow down": every instance holds it until then),
failed over to the channel's next provider after a permanent failure or once the channel's deadline has
passed, then to the person's next channel; a page nobody could take becomes a DeliveryFailed event, so
the escalation moves on early. Every attempt is on the incident's timeline.

Delivery is at least once: a crash between a provider accepting a message and the commit that records
it sends it again, with the same idempotency key (``Message.key``) for providers that honour one.
"""

from memoguard.services.dispatch.dispatcher import BATCH, Dispatcher
from memoguard.services.dispatch.pacing import LEASE

__all__ = ["BATCH", "LEASE", "Dispatcher"]
