"""The private Dagster, dagster-celery and kombu code the worker executor builds on (``deploy/internals.py``): no
service needed, so it runs in the default suite (the dev extra installs dagster-celery), where an upgrade that
moves it fails first."""

from __future__ import annotations

import pytest

pytest.importorskip(
    "dagster_celery", reason="dagster-celery, in the dev extra: .venv/bin/pip install -e '.[dev]'"
)


def test_the_private_dagster_code_the_executor_builds_on_is_still_there():
    """A dagster upgrade that moves what deploy/internals.py imports fails here, naming it (not a run, later)."""
    from llmhni_pipeline.deploy.internals import DagsterInternalsChanged, check_internals

    check_internals()
    from llmhni_pipeline.deploy import internals

    internals.EXPECTED["probe"] = (lambda app: None, ["app", "plan_context"])
    try:
        with pytest.raises(DagsterInternalsChanged, match=r"probe: parameters \['plan_context'\] are gone"):
            check_internals()
    finally:
        del internals.EXPECTED["probe"]
