"""dagster-celery's executor, with the step's worker watched: a worker that dies mid-step fails the run, named.

dagster-celery waits on each step's Celery result with no timeout. When the process that took the step is
killed, its pool child reports ``WorkerLostError`` (the run fails), but when the whole worker dies (its host
lost, ``kill -9`` of the worker), the result never comes and the run waits forever. Here each submitted step's
result is wrapped: once a worker has started the step (``task_track_started``), that worker is pinged every
``PING_SECONDS``; after ``MISSED_PINGS`` unanswered pings in a row, or on a ``WorkerLostError``, the step is
reported failed with the worker's name (a STEP_FAILURE in the run, as if the worker had sent it): what depends
on it is skipped, the run fails, and the step's pool slot is freed. A step that no worker takes for
``UNTAKEN_WARN_SECONDS`` gets one warning naming its queue.

A broker that restarts without its data (Redis with no persistence, a failover to an empty replica) takes two
things with it, and the run would otherwise wait for ever on each: a step's message that no worker had taken yet,
and a step's result stored just before the restart. The run's event log, kept by the instance and not the broker,
says what really happened: a step whose worker logged its end has its events read back from the log
(``LOST_RESULT_GRACE_SECONDS`` after the log shows its end without a Celery result), and a step that no worker
logged starting, whose message is in neither the broker's queue nor its unacknowledged set on
``LOST_MESSAGE_CHECKS`` checks in a row, is revoked and submitted again (Redis brokers; on others it is warned about
as before). The event log also names the worker of a step whose STARTED state the restart erased.

Everything else is dagster-celery's own loop (``core_celery_execution_loop``): pools, priorities, retries.
"""

from __future__ import annotations

import json
import sys
import time
import warnings
import weakref
from collections.abc import Callable

from dagster import (
    DagsterEventType,
    Field,
    Noneable,
    StringSource,
    executor,
    multiple_process_executor_requirements,
)

from llmhni_pipeline.deploy.internals import (  # the private names, in one place (internals.py says why)
    CELERY_CONFIG,
    CeleryExecutor,
    DagsterEvent,
    ErrorSource,
    RetryMode,
    StepFailureData,
    core_celery_execution_loop,
    redis_queue_keys,
    serializable_error_info_from_exc_info,
    serialize_value,
    submit_task,
)
from llmhni_pipeline.deploy.queues import backend_url, broker_url

PING_SECONDS = 5.0
MISSED_PINGS = 3
UNTAKEN_WARN_SECONDS = 60.0
# a broker that restarts (a service manager's SIGTERM, a failover) is waited for this long before the run gives
# up on it; while it is away no worker can be pinged, so its silence is not counted against the worker
BROKER_GRACE_SECONDS = 180.0
RECONNECT_GRACE_SECONDS = (
    60.0  # after the broker is back, workers get this long to reconnect before pings count
)
# a step the event log says ended gets this long for its Celery result before the log's events are used instead
LOST_RESULT_GRACE_SECONDS = 30.0
# an untaken step is looked for in the broker once it has waited this long, then every PING_SECONDS; found nowhere
# (not queued, not taken, not started) this many times in a row, its message is lost and it is submitted again
LOST_MESSAGE_AFTER_SECONDS = 10.0
LOST_MESSAGE_CHECKS = 2
MAX_RESUBMITS = 3


def broker_unreachable(exc: BaseException) -> bool:
    """Whether ``exc``, or an error it was raised from, says the broker or result backend cannot be reached (rather
    than anything about the step). Celery's Redis backend wraps a refused connection in a ``RuntimeError`` ("Retry
    limit exceeded ... must be restarted") that the next call recovers from once Redis is back."""
    seen: set[int] = set()
    error: BaseException | None = exc
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        names = {cls.__name__ for cls in type(error).__mro__}
        if names & {"ConnectionError", "TimeoutError", "OperationalError", "ConnectionRefusedError"}:
            return True
        if isinstance(error, OSError):
            return True
        error = error.__cause__ or error.__context__
    return False


# the worker records STARTED with its hostname (one task per pool child at a time is dagster-celery's own
# DEFAULT_CONFIG); a Redis that restarts is waited for (reads time out and are retried) instead of a socket read
# that could block for ever
CELERY_SETTINGS = {
    "task_track_started": True,
    "redis_socket_timeout": 30,
    "redis_socket_connect_timeout": 10,
    "result_backend_always_retry": True,
    "result_backend_max_retries": 20,
    "broker_connection_retry_on_startup": True,
}


class WorkerLost(RuntimeError):
    """The Celery worker running a step died or stopped answering, or the broker did not come back in time."""


class StepJournal:
    """What the run's event log (kept by the instance, not the broker) says of one step since it was submitted:
    which worker started it, whether it ended, and its events, the same ones the worker's Celery result holds."""

    def __init__(self, instance, run_id: str, step_key: str, since: float):
        self.instance, self.run_id, self.step_key = instance, run_id, step_key
        self.since = since - 1.0  # the instance's clock and ours: a second of slack

    def _entries(self, of_type=None) -> list:
        return [
            entry
            for entry in self.instance.all_logs(self.run_id, of_type=of_type)
            if entry.is_dagster_event and entry.step_key == self.step_key and entry.timestamp >= self.since
        ]

    def worker(self) -> str | None:
        """The hostname dagster-celery's worker logged when it began the step ("Executing steps ... in celery
        worker"), or None."""
        for entry in self._entries({DagsterEventType.ENGINE_EVENT}):
            data = entry.dagster_event.event_specific_data
            value = (getattr(data, "metadata", None) or {}).get("Celery worker")
            if value is not None:
                return str(getattr(value, "value", value))
        return None

    def ended(self) -> bool:
        kinds = {DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE}
        return bool(self._entries(kinds))

    def events(self) -> list:
        """The step's events, serialized as a worker's Celery result holds them."""
        return [serialize_value(entry.dagster_event) for entry in self._entries()]


class QueueScan:
    """Which task ids a Redis broker holds for a queue, waiting or taken but not yet acknowledged, read at most once
    per ``PING_SECONDS`` for all of a run's steps (one read of the queue, not one per step). ``holds`` is None when
    the broker is not Redis: nothing is known, and nothing is submitted again."""

    def __init__(self, app, clock=time.monotonic):
        self.app, self.clock = app, clock
        self.read: dict[str, tuple[float, set[str] | None]] = {}

    def _ids(self, queue: str) -> set[str] | None:
        with self.app.connection_for_read() as conn:
            if conn.transport.driver_type != "redis":
                return None
            channel = conn.default_channel
            client, keys = channel.client, redis_queue_keys(channel, queue)
            waiting = [m for key in keys[:-1] for m in client.lrange(key, 0, -1)]
            taken = [json.loads(v)[0] for v in client.hvals(keys[-1])]  # [message, exchange, routing key]
        ids = set()
        for message in waiting + taken:
            body = json.loads(message) if isinstance(message, (bytes, str)) else message
            headers, properties = body.get("headers") or {}, body.get("properties") or {}
            task_id = headers.get("id") or properties.get("correlation_id")
            if task_id:
                ids.add(str(task_id))
        return ids

    def holds(self, task_id: str, queue: str) -> bool | None:
        now = self.clock()
        at, ids = self.read.get(queue, (float("-inf"), None))
        if now - at >= PING_SECONDS:
            ids = self._ids(queue)
            self.read[queue] = (now, ids)
        return None if ids is None else task_id in ids


_SCANS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # one QueueScan per Celery app (per run)


class WatchedResult:
    """A step's ``AsyncResult`` whose ``ready()`` also turns true when the worker running it is gone, and which
    recovers from a broker that lost the step's message or result (``journal``, ``queued`` and ``resubmit``; the
    module's docstring says how)."""

    def __init__(
        self,
        result,
        app,
        step_key: str,
        queue: str,
        warn=None,
        clock=time.monotonic,
        step_context=None,
        journal: StepJournal | None = None,
        queued: Callable[[str], bool | None] | None = None,
        resubmit: Callable[[], object] | None = None,
    ):
        self.result, self.app, self.step_key, self.queue = result, app, step_key, queue
        self.step_context = step_context
        self.warn, self.clock = warn, clock
        self.journal, self.queued, self.resubmit = journal, queued, resubmit
        self.submitted = self.last_ping = clock()
        self.worker: str | None = None
        self.missed = 0
        self.lost: str | None = None
        self.recovered: list | None = None
        self.ended_seen_at: float | None = None
        self.absent = 0
        self.resubmits = 0
        self.warned = False
        self.broker_down_since: float | None = None
        self.broker_back_at: float | None = None

    def _broker_away(self, exc: BaseException) -> None:
        """The broker or backend did not answer: wait for it, within ``BROKER_GRACE_SECONDS``."""
        now = self.clock()
        if self.broker_down_since is None:
            self.broker_down_since = now
            if self.warn is not None:
                self.warn(
                    f"step {self.step_key}: the Celery broker does not answer ({type(exc).__name__}: {exc}); "
                    f"waiting up to {BROKER_GRACE_SECONDS:.0f} s for it to come back"
                )
        elif now - self.broker_down_since > BROKER_GRACE_SECONDS:
            self.lost = (
                f"the Celery broker did not answer for {now - self.broker_down_since:.0f} s while step "
                f"{self.step_key} ran ({type(exc).__name__}: {exc}). Tables are written atomically and a step of "
                "an ended run writes nothing, so the lake holds the previous version; re-run the step."
            )

    def _watch(self) -> None:
        now = self.clock()
        if now - self.last_ping < PING_SECONDS:
            return
        self.last_ping = now
        try:
            self._ping()
            self._check_ended(now)
        except Exception as exc:
            if not broker_unreachable(exc):
                raise
            self._broker_away(exc)
            return
        if self.broker_down_since is not None:  # back: the worker reconnects in its own time
            self.broker_down_since, self.broker_back_at, self.missed = None, now, 0

    def _ping(self) -> None:
        now = self.clock()
        state = self.result.state
        info = self.result.info if state == "STARTED" else None
        if isinstance(info, dict) and info.get("hostname"):
            self.worker = str(info["hostname"])
        if self.worker is None and self.journal is not None:  # its STARTED state may be gone with the broker
            self.worker = self.journal.worker()
        if self.worker is None:
            self._check_message(now, state)
            if not self.warned and now - self.submitted > UNTAKEN_WARN_SECONDS and self.warn is not None:
                self.warned = True
                self.warn(
                    f"step {self.step_key} has waited {now - self.submitted:.0f} s on Celery queue "
                    f"'{self.queue}' and no worker has taken it: is a worker listening on it "
                    f"(llmhni worker -q {self.queue}), and are its pool slots free?"
                )
            return
        replies = self.app.control.ping(destination=[self.worker], timeout=1.0)
        reconnecting = self.broker_back_at is not None and now - self.broker_back_at < RECONNECT_GRACE_SECONDS
        self.missed = 0 if replies or reconnecting else self.missed + 1
        if self.missed >= MISSED_PINGS:
            self.lost = (
                f"Celery worker {self.worker} stopped answering ({MISSED_PINGS} pings, "
                f"{PING_SECONDS * MISSED_PINGS:.0f} s) while running step {self.step_key}: killed, or its "
                "host is gone. Tables are written atomically, so the lake holds the previous version; "
                "re-run the step."
            )

    def _check_ended(self, now: float) -> None:
        """The log says the step ended but no Celery result came: after the grace, its events come from the log."""
        if self.journal is None or self.recovered is not None:
            return
        if self.ended_seen_at is None:
            if self.journal.ended():
                self.ended_seen_at = now
            return
        if now - self.ended_seen_at >= LOST_RESULT_GRACE_SECONDS:
            self.recovered = self.journal.events()
            if self.warn is not None:
                self.warn(
                    f"step {self.step_key} ended on Celery worker {self.worker or '(unknown)'} "
                    f"{now - self.ended_seen_at:.0f} s ago by the run's event log, but its Celery result never "
                    "came (the broker restarted and lost it?): its events are read from the event log instead"
                )

    def _check_message(self, now: float, state: str) -> None:
        """An untaken step whose message the broker no longer holds (and whose state is still PENDING, and that no
        worker logged starting) on ``LOST_MESSAGE_CHECKS`` checks in a row is revoked and submitted again."""
        if self.queued is None or self.resubmit is None or now - self.submitted < LOST_MESSAGE_AFTER_SECONDS:
            return
        if self.queued(self.result.id) is not False or state != "PENDING":
            self.absent = 0
            return
        self.absent += 1
        if self.absent < LOST_MESSAGE_CHECKS:
            return
        if self.resubmits >= MAX_RESUBMITS:
            self.lost = (
                f"step {self.step_key}'s Celery message was lost from queue '{self.queue}' "
                f"{self.resubmits + 1} times before any worker took it: is the broker restarting over and over?"
            )
            return
        old = self.result.id
        self.result.revoke()  # should it turn up after all, no worker runs it
        try:
            self.result = self.resubmit()
        except WorkerLost as exc:  # the broker went away again, for longer than its grace
            self.lost = str(exc)
            return
        self.resubmits += 1
        self.submitted, self.absent, self.warned = now, 0, False
        if self.warn is not None:
            self.warn(
                f"step {self.step_key}: its Celery message (task {old}) is gone from queue '{self.queue}' and no "
                "worker took it (the broker restarted without its data?): submitted it again as task "
                f"{self.result.id}"
            )

    def ready(self) -> bool:
        if self.lost or self.recovered is not None:
            return True
        try:
            if self.result.ready():
                return True
        except Exception as exc:  # the result backend (the broker's Redis) is away: not ready yet
            if not broker_unreachable(exc):
                raise
            self._broker_away(exc)
            return self.lost is not None
        self._watch()
        return self.lost is not None or self.recovered is not None

    def get(self):
        if self.lost:
            return self._failed(WorkerLost(self.lost))
        if self.recovered is not None:
            return self.recovered
        try:
            return self.result.get()
        except Exception as exc:
            if type(exc).__name__ != "WorkerLostError":
                raise
            return self._failed(
                WorkerLost(
                    f"the process of Celery worker {self.worker or '(unknown)'} running step {self.step_key} "
                    f"died: {exc}. Tables are written atomically, so the lake holds the previous version."
                )
            )

    def _failed(self, error: WorkerLost) -> list:
        """The step's failure as the worker would have reported it: logged to the run (the UI shows the step
        failed, with the worker's name; its pool slot is freed) and handed to the loop, which skips what
        depends on it. Without a step context (unit tests) the error is raised instead."""
        if self.step_context is None:
            raise error
        try:
            raise error
        except WorkerLost:
            info = serializable_error_info_from_exc_info(sys.exc_info())
        event = DagsterEvent.step_failure_event(
            self.step_context,
            StepFailureData(error=info, user_failure_data=None, error_source=ErrorSource.FRAMEWORK_ERROR),
            message=str(error),
        )
        return [serialize_value(event)]

    def revoke(self) -> None:
        self.result.revoke()


def submit_within_grace(submit_once, step_key: str, warn=None, clock=time.monotonic, sleep=time.sleep):
    """``submit_once()``, tried again while the broker does not answer, for up to ``BROKER_GRACE_SECONDS``: a step
    submitted while the broker restarts waits for it (Celery alone gives up after about a second, failing the run).
    Any other error, or a broker away for longer, is raised, naming the step."""
    started, warned = clock(), False
    while True:
        try:
            return submit_once()
        except Exception as exc:
            if not broker_unreachable(exc):
                raise
            away = clock() - started
            if away > BROKER_GRACE_SECONDS:
                raise WorkerLost(
                    f"step {step_key} could not be submitted: the Celery broker did not answer for {away:.0f} s "
                    f"({type(exc).__name__}: {exc}). Nothing of the step ran; re-run the partition."
                ) from exc
            if not warned and warn is not None:
                warned = True
                warn(
                    f"step {step_key}: the Celery broker does not answer ({type(exc).__name__}: {exc}); waiting "
                    f"up to {BROKER_GRACE_SECONDS:.0f} s for it to submit the step"
                )
            sleep(2.0)


def _submit_watched(app, plan_context, step, queue, priority, known_state) -> WatchedResult:
    def submit_once():
        with warnings.catch_warnings():  # dagster-celery registers its task again for every step
            warnings.filterwarnings("ignore", message="Task name 'execute_plan' is already registered")
            return submit_task(app, plan_context, step, queue, priority, known_state)

    def submit():
        return submit_within_grace(submit_once, step.key, warn=plan_context.log.warning)

    since = time.time()
    result = submit()
    scan = _SCANS.setdefault(app, QueueScan(app))
    return WatchedResult(
        result,
        app,
        step.key,
        queue,
        warn=plan_context.log.warning,
        step_context=plan_context.for_step(step),
        journal=StepJournal(plan_context.instance, plan_context.run_id, step.key, since),
        queued=lambda task_id: scan.holds(task_id, queue),
        resubmit=submit,
    )


class WatchedCeleryExecutor(CeleryExecutor):
    def execute(self, plan_context, execution_plan):
        return core_celery_execution_loop(plan_context, execution_plan, step_execution_fn=_submit_watched)


def app_args() -> dict:
    """The Celery app's arguments, the same for the orchestrator and the workers (from the environment)."""
    return WatchedCeleryExecutor(
        retries=RetryMode(RetryMode.DISABLED),
        broker=broker_url(),
        backend=backend_url(),
        config_source=dict(CELERY_SETTINGS),
    ).app_args()


# dagster-celery's schema, without its defaults for broker and backend (AMQP on localhost, rpc://), which would
# hide ours from the environment: the workers read the same variables, so both sides agree unless told otherwise
CONFIG_SCHEMA = {
    **CELERY_CONFIG,
    "broker": Field(Noneable(StringSource), is_required=False, description="default: $LLMHNI_CELERY_BROKER"),
    "backend": Field(
        Noneable(StringSource), is_required=False, description="default: $LLMHNI_CELERY_BACKEND or the broker"
    ),
}


@executor(
    name="llmhni_celery",
    config_schema=CONFIG_SCHEMA,
    requirements=multiple_process_executor_requirements(),
)
def llmhni_celery_executor(init_context) -> WatchedCeleryExecutor:
    """dagster-celery's executor with watched workers; broker and backend from LLMHNI_CELERY_BROKER/_BACKEND."""
    config = init_context.executor_config
    return WatchedCeleryExecutor(
        broker=config.get("broker") or broker_url(),
        backend=config.get("backend") or backend_url(),
        config_source={**CELERY_SETTINGS, **(config.get("config_source") or {})},
        include=config.get("include"),
        retries=RetryMode.from_config(config["retries"]),
    )
