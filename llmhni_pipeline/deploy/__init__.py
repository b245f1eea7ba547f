"""Running the pipeline on Celery workers: the executor, the worker app and the queue of each kind of step.

``queues`` has no dependency beyond the standard library, so the assets can tag their steps whether or not the
``workers`` extra (dagster-celery, dagster-postgres) is installed; ``executor`` and ``worker_app`` need it.
"""
