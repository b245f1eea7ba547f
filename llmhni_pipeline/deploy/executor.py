"""dagster-celery's executor, with the step's worker watched: a worker that dies mid-step fails the run, named.

dagster-celery waits on each step's Celery result with no timeout. When the process that took the step is
killed, its pool child reports ``WorkerLostError`` (the run fails), but when the whole worker dies (its host
lost, ``kill -9`` of the worker), the result never comes and the run waits forever. Here each submitted step's
result is wrapped: once a worker has started the step (``task_track_started``), that worker is pinged every
``PING_SECONDS``; after ``MISSED_PINGS`` unanswered pings in a row, or on a ``WorkerLostError``, the step is
reported failed with the worker's name (a STEP_FAILURE in the run, as if the worker had sent it): what depends
on it is skipped, the run fails, and the step's pool slot is freed. A step that no worker takes for
``UNTAKEN_WARN_SECONDS`` gets one warning naming its queue.

Everything else is dagster-celery's own loop (``core_celery_execution_loop``): pools, priorities, retries.
"""

from __future__ import annotations

import sys
import time
import warnings

from dagster import Field, Noneable, StringSource, executor, multiple_process_executor_requirements

from llmhni_pipeline.deploy.internals import (  # the private names, in one place (internals.py says why)
    CELERY_CONFIG,
    CeleryExecutor,
    DagsterEvent,
    ErrorSource,
    RetryMode,
    StepFailureData,
    core_celery_execution_loop,
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


def broker_unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` says the broker or result backend cannot be reached (rather than anything about the step)."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    return bool(
        names & {"ConnectionError", "TimeoutError", "OperationalError", "ConnectionRefusedError"}
    ) or (isinstance(exc, OSError))


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
    """The Celery worker running a step died or stopped answering."""


class WatchedResult:
    """A step's ``AsyncResult`` whose ``ready()`` also turns true when the worker running it is gone."""

    def __init__(
        self, result, app, step_key: str, queue: str, warn=None, clock=time.monotonic, step_context=None
    ):
        self.result, self.app, self.step_key, self.queue = result, app, step_key, queue
        self.step_context = step_context
        self.warn, self.clock = warn, clock
        self.submitted = self.last_ping = clock()
        self.worker: str | None = None
        self.missed = 0
        self.lost: str | None = None
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
        except Exception as exc:
            if not broker_unreachable(exc):
                raise
            self._broker_away(exc)
            return
        if self.broker_down_since is not None:  # back: the worker reconnects in its own time
            self.broker_down_since, self.broker_back_at, self.missed = None, now, 0

    def _ping(self) -> None:
        now = self.clock()
        info = self.result.info if self.result.state == "STARTED" else None
        if isinstance(info, dict) and info.get("hostname"):
            self.worker = str(info["hostname"])
        if self.worker is None:
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

    def ready(self) -> bool:
        if self.lost:
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
        return self.lost is not None

    def get(self):
        if self.lost:
            return self._failed(WorkerLost(self.lost))
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


def _submit_watched(app, plan_context, step, queue, priority, known_state) -> WatchedResult:
    with warnings.catch_warnings():  # dagster-celery registers its task again for every step
        warnings.filterwarnings("ignore", message="Task name 'execute_plan' is already registered")
        result = submit_task(app, plan_context, step, queue, priority, known_state)
    return WatchedResult(
        result, app, step.key, queue, warn=plan_context.log.warning, step_context=plan_context.for_step(step)
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
