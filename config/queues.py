"""django-q2 brokers that can hold a task until a given time, and :func:`async_task_later` to use them.

django-q2's own delayed task is a ``Schedule`` (``ONCE``, ``next_run``), but a cluster looks at its
schedules only every 30 seconds (``django_q.cluster.Sentinel.guard`` calls the scheduler when its count of
guard-loop seconds reaches 30, whatever ``guard_cycle`` is): a retry due in 1 s would start 1 to 31 s later.
These brokers instead keep a delayed task in the broker itself, and the cluster's pusher takes it when due:

* ORM (the embedded default): an ``OrmQ`` row whose ``lock`` is the due time. django-q2's ORM broker already
  takes only rows whose lock has passed (that is how it re-delivers an unacknowledged task), so the row waits
  in the queue table and is picked up within ``Q_POLL`` of its due time. Survives restarts (it is a row).
* Redis: a sorted set ``<list key>:later`` scored by due time; the pusher moves due tasks onto the cluster's
  list (atomically, so two pushers never both take one) before each blocking pop, and blocks no longer than
  until the next due task. Survives worker restarts (it lives in Redis).

Everything else (signing, the task's options, acknowledgement) is django-q2's own: :func:`async_task_later`
goes through ``django_q.tasks.async_task`` with a broker that only changes how the signed package is stored.
Settings select these classes through ``Q_CLUSTER["broker_class"]``.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone
from django_q.brokers import get_broker
from django_q.brokers.orm import ORM
from django_q.brokers.redis_broker import Redis
from django_q.signing import SignedPackage
from django_q.tasks import async_task, schedule

# Move up to 100 due tasks from the delayed set onto the list, atomically; answer how many moved.
_PROMOTE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 100)
for _, task in ipairs(due) do
  redis.call('ZREM', KEYS[1], task)
  redis.call('RPUSH', KEYS[2], task)
end
return #due
"""


class QueueNamedStats:
    """Each cluster's heartbeat (django-q2's ``Stat``, saved by its sentinel every guard cycle and kept 3 s)
    also says which queue the cluster serves, as ``stat.queue``: django-q2 leaves the broker, the one thing
    that knows it, out of the pickled ``Stat``. Read by the monitoring routes (runs.api.sartiq.monitoring)."""

    def set_stat(self, key: str, value: str, timeout: int):
        try:
            stat = SignedPackage.loads(value)
            stat.queue, stat.broker = self.queue_name, self  # the broker is dropped again when pickled
            value = SignedPackage.dumps(stat, True)
        except Exception:  # noqa: BLE001 - a heartbeat is saved as django-q2 made it rather than not at all
            pass
        return super().set_stat(key, value, timeout)

    @property
    def queue_name(self) -> str:
        """The queue (cluster) name this broker serves, as ``async_task(cluster=…)`` names it."""
        return self.list_key


class OrmBroker(QueueNamedStats, ORM):
    """django-q2's ORM broker, plus :meth:`enqueue_at`."""

    def enqueue_at(self, task: str, when: datetime) -> int:
        # dequeue() takes rows with lock < now: this one waits until ``when``.
        return self.get_connection().create(key=self.list_key, payload=task, lock=when).pk

    def delayed_size(self) -> int:
        return self.get_connection().filter(key=self.list_key, lock__gt=timezone.now()).count()


class RedisBroker(QueueNamedStats, Redis):
    """django-q2's Redis broker, plus :meth:`enqueue_at` (a sorted set beside the list)."""

    @property
    def queue_name(self) -> str:
        # django-q2's Redis list of queue <name> is django_q:<name>:q
        return self.list_key.removeprefix("django_q:").removesuffix(":q")

    @property
    def delayed_key(self) -> str:
        return f"{self.list_key}:later"

    def enqueue_at(self, task: str, when: datetime) -> int:
        return self.connection.zadd(self.delayed_key, {task: when.timestamp()})

    def promote_due(self) -> int:
        return int(self.connection.eval(_PROMOTE, 2, self.delayed_key, self.list_key, time.time()))

    def delayed_size(self) -> int:
        return self.connection.zcard(self.delayed_key)

    def dequeue(self):
        self.promote_due()
        # Block at most 1 s (django-q2's own), and no later than the next delayed task is due.
        wait = 1.0
        head = self.connection.zrange(self.delayed_key, 0, 0, withscores=True)
        if head:
            wait = min(wait, max(0.01, head[0][1] - time.time()))
        task = self.connection.blpop(self.list_key, wait)
        if task:
            return [(None, task[1])]
        return None

    def delete_queue(self):
        self.connection.delete(self.delayed_key)
        return super().delete_queue()

    def purge_queue(self):
        self.connection.delete(self.delayed_key)
        return super().purge_queue()


class _At:
    """Stands in for a broker in ``async_task``: stores the signed package to run at ``when``."""

    def __init__(self, broker: Any, when: datetime):
        self.broker, self.when, self.list_key = broker, when, broker.list_key

    def enqueue(self, task: str) -> Any:
        return self.broker.enqueue_at(task, self.when)


def async_task_later(func: str, *args: Any, delay: float, cluster: str | None = None, **kwargs: Any) -> Any:
    """``django_q.tasks.async_task(func, *args, cluster=cluster, **kwargs)``, run ``delay`` seconds from now.

    Answers the task id. A broker without ``enqueue_at`` (a ``broker_class`` other than these) falls back to a
    ``Schedule`` (ONCE), which its cluster starts on its next look at schedules (every 30 s), and answers the
    schedule."""
    when = timezone.now() + timedelta(seconds=max(0.0, delay))
    broker = get_broker(cluster)
    if hasattr(broker, "enqueue_at"):
        return async_task(func, *args, broker=_At(broker, when), cluster=cluster, **kwargs)
    q_options = {k: kwargs.pop(k) for k in ("group", "hook", "timeout", "task_name") if k in kwargs}
    return schedule(func, *args, next_run=when, cluster=cluster, q_options=q_options, **kwargs)
