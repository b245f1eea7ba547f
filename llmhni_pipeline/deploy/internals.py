"""The one place that reaches into Dagster's, dagster-celery's and kombu's private modules, and the check that
they are still what this project was written against (dagster 1.13.27, dagster-celery 0.29.27, pinned in
pyproject.toml; kombu as dagster-celery's Redis extra installs it).

Why private code at all: dagster-celery's public executor waits on each step's Celery result with no timeout, so
a worker that dies with its host (``kill -9``, a lost machine) leaves the run waiting for ever, and it has no
hook to watch the worker running a step. ``deploy/executor.py`` keeps dagster-celery's own execution loop and
submission and wraps each step's result (``WatchedResult``); to report a lost worker as the step's failure it
builds the same event a worker would send. That needs these names, and nothing else does. To tell a step's
Celery message lost by a broker restart from one still waiting, it looks where kombu's Redis transport keeps
queued and unacknowledged messages (``redis_queue_keys``). The CLI's run on workers needs a reconstructable
repository, which Dagster only exposes here.

``check_internals()`` (run by ``deploy/test_internals.py``, in the default suite) fails loudly, naming the missing or changed piece and
the versions, when an upgrade moves any of them: upgrade this module before the pins.
"""

from __future__ import annotations

import inspect

from dagster._core.definitions.reconstruct import ReconstructableRepository
from dagster._core.events import DagsterEvent
from dagster._core.execution.plan.objects import ErrorSource, StepFailureData
from dagster._core.execution.retries import RetryMode
from dagster._serdes import serialize_value
from dagster._utils.error import serializable_error_info_from_exc_info
from dagster_celery.core_execution_loop import core_celery_execution_loop
from dagster_celery.executor import CELERY_CONFIG, CeleryExecutor, _submit_task
from kombu.transport.redis import Channel as RedisChannel

__all__ = [
    "CELERY_CONFIG",
    "CeleryExecutor",
    "DagsterEvent",
    "ErrorSource",
    "ReconstructableRepository",
    "RetryMode",
    "StepFailureData",
    "check_internals",
    "core_celery_execution_loop",
    "redis_queue_keys",
    "serializable_error_info_from_exc_info",
    "serialize_value",
    "submit_task",
]

submit_task = _submit_task


def redis_queue_keys(channel: RedisChannel, queue: str) -> list[str]:
    """The Redis lists kombu keeps ``queue``'s waiting messages in (one per priority step), and the hash of the
    messages workers have taken but not yet acknowledged: where a step's Celery message is until it starts."""
    return [channel._q_for_pri(queue, pri) for pri in channel.priority_steps] + [channel.unacked_key]


WRITTEN_AGAINST = "dagster 1.13.27 / dagster-celery 0.29.27"

# what deploy/executor.py and the CLI call, with the parameters they pass
EXPECTED = {
    "dagster_celery.executor._submit_task": (
        _submit_task,
        ["app", "plan_context", "step", "queue", "priority", "known_state"],
    ),
    "dagster_celery.core_execution_loop.core_celery_execution_loop": (
        core_celery_execution_loop,
        ["job_context", "execution_plan", "step_execution_fn"],
    ),
    "DagsterEvent.step_failure_event": (
        DagsterEvent.step_failure_event,
        ["step_context", "step_failure_data", "message"],
    ),
    "StepFailureData": (StepFailureData, ["error", "user_failure_data", "error_source"]),
    "kombu.transport.redis.Channel._q_for_pri": (RedisChannel._q_for_pri, ["self", "queue", "pri"]),
    "ReconstructableRepository.for_module": (
        ReconstructableRepository.for_module,
        ["module", "fn_name", "working_directory"],
    ),
}


class DagsterInternalsChanged(RuntimeError):
    """A private Dagster or dagster-celery name this project relies on moved or changed its parameters."""


def check_internals() -> None:
    """Raise ``DagsterInternalsChanged`` naming every expected piece that is missing or has other parameters."""
    import dagster
    import dagster_celery

    problems = []
    for name, (target, params) in EXPECTED.items():
        try:
            have = list(inspect.signature(target).parameters)
        except (TypeError, ValueError) as exc:
            problems.append(f"{name}: no signature ({exc})")
            continue
        missing = [p for p in params if p not in have]
        if missing:
            problems.append(f"{name}: parameters {missing} are gone (it takes {have})")
    if (
        not hasattr(CeleryExecutor, "app_args")
        or "retries" not in inspect.signature(CeleryExecutor).parameters
    ):
        problems.append("dagster_celery.executor.CeleryExecutor: app_args() or its retries parameter changed")
    if not all(hasattr(RedisChannel, name) for name in ("priority_steps", "unacked_key")):
        problems.append("kombu.transport.redis.Channel: priority_steps or unacked_key is gone")
    if {"broker", "backend", "config_source"} - set(CELERY_CONFIG):
        problems.append(f"dagster_celery.executor.CELERY_CONFIG lost a key: it has {sorted(CELERY_CONFIG)}")
    if problems:
        raise DagsterInternalsChanged(
            f"Dagster's private code changed under llmhni_pipeline/deploy/internals.py (written against "
            f"{WRITTEN_AGAINST}; installed: dagster {dagster.__version__}, dagster-celery "
            f"{dagster_celery.__version__}): " + "; ".join(problems)
        )
