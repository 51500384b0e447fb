"""Notification flows (issue 18): the notifier with its deliveries, and the daily digest. Thin: services do the work.

- `notify_flow`: read the event log to its head (notices, once per change), then send the due
  deliveries (retries with back-off are the service's: a failed channel waits its turn in the queue,
  so the task itself never retries a send).
- `digest_flow`: each person's daily digest to their digest channels (once a day however often it runs).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from claims.services import notify as nt
from flows.common import current_runtime, retry_on_io


@dataclass(frozen=True)
class NotifyReport:
    events: int
    notifications: int
    sent: int
    failed: int
    dead: int
    kinds: dict[str, int] = field(default_factory=dict)


@task(retries=2, retry_delay_seconds=5, retry_condition_fn=retry_on_io, cache_policy=NO_CACHE)
def catch_up_task() -> nt.NotifierRun:
    """Read the event log after the stored cursor; write each notice once."""
    return nt.catch_up(current_runtime())


@task(cache_policy=NO_CACHE)
def deliver_task() -> nt.DeliveryRun:
    """Send the due deliveries through Apprise."""
    return nt.deliver(current_runtime())


@flow(name="claims-notify", log_prints=False)
def notify_flow() -> NotifyReport:
    """Notices from the log, then their deliveries."""
    run = catch_up_task()
    sent = deliver_task()
    return NotifyReport(run.events, run.notifications, sent.sent, sent.failed, sent.dead, dict(run.kinds))


@task(retries=2, retry_delay_seconds=5, retry_condition_fn=retry_on_io, cache_policy=NO_CACHE)
def digest_task() -> int:
    """Write today's digests (UNIQUE per person and day)."""
    return nt.send_digests(current_runtime())


@flow(name="claims-digest", log_prints=False)
def digest_flow() -> NotifyReport:
    """The daily digest per person, then its deliveries."""
    made = digest_task()
    sent = deliver_task()
    return NotifyReport(0, made, sent.sent, sent.failed, sent.dead, {"digest": made})
