"""Which Celery queue a step goes to, and the settings of the worker deployment; each default defined once.

Training steps (``pool="gpu"``) go to the ``gpu`` queue and LLM steps (``pool="llm"``) to the ``llm`` queue, so a
worker started with ``-q gpu`` takes only training; everything else goes to dagster-celery's default queue.
The tag is read only by the Celery executor: the in-process executor ignores it.
"""

from __future__ import annotations

import os

EXECUTOR_ENV = "LLMHNI_EXECUTOR"  # in_process (default) | celery
BROKER_ENV = "LLMHNI_CELERY_BROKER"
BACKEND_ENV = "LLMHNI_CELERY_BACKEND"  # default: the broker's URL
DEFAULT_BROKER = "redis://127.0.0.1:6379/0"
EXECUTORS = ("in_process", "celery")

QUEUE_TAG = (
    "dagster-celery/queue"  # dagster_celery.tags.DAGSTER_CELERY_QUEUE_TAG (not imported: optional extra)
)
DEFAULT_QUEUE = "dagster"  # dagster_celery.defaults.task_default_queue
QUEUES = {"gpu": "gpu", "llm": "llm"}  # pool -> queue


def pool_tags(pool: str) -> dict[str, str]:
    """The op tags that send a step of ``pool`` to its queue."""
    return {QUEUE_TAG: QUEUES[pool]}


def executor_kind() -> str:
    kind = (os.environ.get(EXECUTOR_ENV) or "in_process").strip().replace("-", "_")
    if kind not in EXECUTORS:
        raise ValueError(
            f"{EXECUTOR_ENV}={os.environ[EXECUTOR_ENV]!r}: expected one of {', '.join(EXECUTORS)}"
        )
    return kind


def broker_url() -> str:
    return os.environ.get(BROKER_ENV) or DEFAULT_BROKER


def backend_url() -> str:
    return os.environ.get(BACKEND_ENV) or broker_url()
