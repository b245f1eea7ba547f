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
