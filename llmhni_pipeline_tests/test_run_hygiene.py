import os
import subprocess
import sys

import dagster as dg
import pytest
from dagster._core.storage.dagster_run import DagsterRun

from llmhni_pipeline.run_hygiene import (
    HOST_TAG,
    PID_TAG,
    busy_pools,
    release_dead_runs,
    run_tags,
    wait_for_pools,
)


def _run(instance, pid: int) -> str:
    run = DagsterRun(
        job_name="llmhni_job",
        status=dg.DagsterRunStatus.STARTED,
        tags={PID_TAG: str(pid), HOST_TAG: run_tags()[HOST_TAG]},
    )
    instance.add_run(run)
    return run.run_id


def test_a_killed_runs_slot_and_pending_claim_are_released_and_a_live_one_is_waited_for(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    with dg.DagsterInstance.local_temp(str(tmp_path)) as instance:
        storage = instance.event_log_storage
        storage.set_concurrency_slots("llm", 1)
        killed = _run(instance, dead.pid)
        storage.claim_concurrency_slot("llm", killed, "llm_logical_scores")
        waiting = _run(instance, dead.pid)  # a killed waiter leaves a pending claim behind
        storage.claim_concurrency_slot("llm", waiting, "llm_logical_scores")
        assert busy_pools(instance, ["llm", "gpu"]) == {"llm": [killed]}
        messages = []
        assert set(release_dead_runs(instance, messages.append)) == {killed, waiting}
        assert (
            busy_pools(instance, ["llm"]) == {} and not storage.get_concurrency_info("llm").pending_step_count
        )
        assert instance.get_run_by_id(killed).status == dg.DagsterRunStatus.FAILURE
        assert any("process" in m and "gone" in m for m in messages)

        alive = _run(instance, os.getpid())
        storage.claim_concurrency_slot("llm", alive, "llm_logical_scores")
        with pytest.raises(TimeoutError, match=f"pool llm is held by run\\(s\\) {alive}"):
            wait_for_pools(instance, ["llm"], messages.append, poll_seconds=0.05, timeout_seconds=0.2)
        assert instance.get_run_by_id(alive).status == dg.DagsterRunStatus.STARTED  # a live run is left alone
        assert sum("waiting: pool llm" in m for m in messages) == 1  # said once, not once per poll


def test_the_slot_of_a_run_that_has_ended_is_freed_before_the_next_waits_on_it(tmp_path):
    """A run failed by its orchestrator while a worker held a gpu slot kept the slot; the next materialize
    waited for it silently until someone freed it by hand."""
    from llmhni_pipeline.run_hygiene import release_finished_runs

    with dg.DagsterInstance.local_temp(str(tmp_path)) as instance:
        storage = instance.event_log_storage
        storage.set_concurrency_slots("gpu", 1)
        failed = _run(instance, os.getpid())  # a live process: not released as dead
        storage.claim_concurrency_slot("gpu", failed, "pretrained_recommender")
        instance.report_run_failed(instance.get_run_by_id(failed), "broker gone")
        assert busy_pools(instance, ["gpu"]) == {"gpu": [failed]}
        messages = []
        assert release_finished_runs(instance, messages.append) == [failed]
        assert busy_pools(instance, ["gpu"]) == {} and "has ended (FAILURE)" in messages[0]
        wait_for_pools(instance, ["gpu"], messages.append, poll_seconds=0.01, timeout_seconds=1)


def test_a_step_whose_run_has_ended_publishes_nothing(tmp_path, datasets_instance):
    """A worker that reconnected after its broker came back wrote its table 13-19 s after its run was marked
    FAILURE. Here the step learns that its run ended just before it returns: the lake keeps the old table."""
    import polars as pl

    from llmhni_pipeline.lake import table_path
    from llmhni_pipeline.resources.io_managers import PolarsParquetIOManager

    lake = tmp_path / "lake"
    state = {"end_run": False}

    @dg.asset
    def toy(context: dg.AssetExecutionContext) -> pl.DataFrame:
        if state["end_run"]:  # the orchestrator gave up on this run meanwhile
            context.instance.report_run_failed(
                context.instance.get_run_by_id(context.run_id), "orchestrator gone"
            )
        return pl.DataFrame({"v": [2 if state["end_run"] else 1]})

    resources = {"io_manager": PolarsParquetIOManager(lake_dir=str(lake))}
    (tmp_path / "home").mkdir()
    with dg.DagsterInstance.local_temp(str(tmp_path / "home")) as instance:
        assert dg.materialize([toy], resources=resources, instance=instance).success
        state["end_run"] = True
        again = dg.materialize([toy], resources=resources, instance=instance, raise_on_error=False)
    assert not again.success
    assert pl.read_parquet(table_path(lake, "toy", None))["v"].to_list() == [1]
