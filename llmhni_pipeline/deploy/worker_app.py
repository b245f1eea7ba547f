"""The Celery app a worker runs: ``celery -A llmhni_pipeline.deploy.worker_app worker -Q gpu`` (``llmhni worker``).

Its broker and backend come from ``LLMHNI_CELERY_BROKER``/``LLMHNI_CELERY_BACKEND``, like the orchestrator's.
The code location is imported here, in the worker's parent process, so that each pool child starts with torch,
polars and the assets already imported instead of importing them for its first step.
"""

from dagster_celery.make_app import make_app
from dagster_celery.tasks import create_task

from llmhni_pipeline.deploy.executor import app_args

app = make_app(app_args())
execute_plan = create_task(app)

import llmhni_pipeline.definitions  # noqa: E402,F401  (pre-import for the pool children)
