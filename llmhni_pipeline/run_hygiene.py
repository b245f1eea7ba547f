"""Runs that died must not hold pool slots, and a run that must wait for a slot says so and can be stopped.

Every run the ``llmhni`` CLI starts carries its process id and host in its tags. Before a new run starts,
``release_dead_runs`` marks every started run of this host whose process is gone as failed and frees its pool
slots and pending claims (a SIGKILLed run leaves both behind, and Dagster would wait on them forever).
``wait_for_pools`` then waits, with a message and a real sleep that Ctrl-C interrupts, while live runs hold
every slot of a pool this run needs (Dagster's own wait loop in 1.13 spins at 100% CPU and ignores signals).
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Iterable

import dagster as dg

PID_TAG, HOST_TAG = "llmhni/pid", "llmhni/host"
LIVE = [dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.NOT_STARTED]


def run_tags() -> dict[str, str]:
    return {PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()}


def own_run(instance: dg.DagsterInstance, since: float) -> str | None:
    """The id of the newest run this process started after ``since`` (epoch seconds; its tags name this
    process), if there is one yet."""
    import datetime

    after = datetime.datetime.fromtimestamp(since - 1, tz=datetime.UTC)
    runs = instance.get_runs(dg.RunsFilter(tags=run_tags(), created_after=after), limit=1)
    return runs[0].run_id if runs else None


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def release_dead_runs(instance: dg.DagsterInstance, report: Callable[[str], None] = print) -> list[str]:
    """Mark this host's started runs whose process is gone as failed and free their slots; their run ids."""
    released = []
    host = socket.gethostname()
    for run in instance.get_runs(dg.RunsFilter(statuses=LIVE)):
        pid = run.tags.get(PID_TAG)
        if not pid or run.tags.get(HOST_TAG) != host or process_alive(int(pid)):
            continue
        instance.report_run_failed(run, f"process {pid} is gone (killed?); llmhni released its pool slots")
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        released.append(run.run_id)
        report(f"released run {run.run_id} (process {pid} is gone): marked failed, its pool slots freed")
    return released


ENDED = (dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED, dg.DagsterRunStatus.SUCCESS)


def release_finished_runs(instance: dg.DagsterInstance, report: Callable[[str], None] = print) -> list[str]:
    """Free the pool slots still held by runs that have ended (a run failed by its orchestrator while a worker
    held a slot kept it, and the next run waited on it for ever); their run ids."""
    storage = instance.event_log_storage
    released = []
    for pool in storage.get_concurrency_keys():
        for run_id in sorted(storage.get_concurrency_info(pool).active_run_ids):
            run = instance.get_run_by_id(run_id)
            if run is not None and run.status in ENDED and run_id not in released:
                storage.free_concurrency_slots_for_run(run_id)
                released.append(run_id)
                report(f"freed the pool slots of run {run_id}, which has ended ({run.status.value})")
    return released


class RunEnded(RuntimeError):
    """The step's run has already ended (failed or was canceled): the step must not publish anything."""


def require_live_run(instance: dg.DagsterInstance | None, run_id: str | None) -> None:
    """Raise ``RunEnded`` when ``run_id`` has already failed or been canceled: a step that outlived its run (a
    worker that reconnected after its broker came back) writes nothing, the lake keeps the previous version."""
    if instance is None or run_id is None:
        return
    run = instance.get_run_by_id(run_id)
    stopped = (dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED, dg.DagsterRunStatus.CANCELING)
    if run is not None and run.status in stopped:
        raise RunEnded(
            f"run {run_id} already ended ({run.status.value}) while this step ran: nothing is written, the lake "
            "keeps its previous version"
        )


def busy_pools(instance: dg.DagsterInstance, pools: Iterable[str]) -> dict[str, list[str]]:
    """Pools (of ``pools``) whose every slot is held, with the runs holding them."""
    busy = {}
    for pool in pools:
        info = instance.event_log_storage.get_concurrency_info(pool)
        if info.slot_count and info.active_slot_count >= info.slot_count:
            busy[pool] = sorted(info.active_run_ids)
    return busy


def wait_for_pools(
    instance: dg.DagsterInstance,
    pools: Iterable[str],
    report: Callable[[str], None] = print,
    poll_seconds: float = 5.0,
    timeout_seconds: float | None = None,
) -> None:
    """Sleep (interruptibly) while live runs hold every slot of one of ``pools``; report who holds them."""
    pools = list(pools)
    started, last_message = time.monotonic(), ""
    while True:
        release_dead_runs(instance, report)
        release_finished_runs(instance, report)
        busy = busy_pools(instance, pools)
        if not busy:
            return
        message = "; ".join(f"pool {p} is held by run(s) {', '.join(r)}" for p, r in busy.items())
        if message != last_message:
            report(f"waiting: {message} (Ctrl-C stops waiting)")
            last_message = message
        if timeout_seconds is not None and time.monotonic() - started > timeout_seconds:
            raise TimeoutError(f"gave up after {timeout_seconds:.0f}s: {message}")
        time.sleep(poll_seconds)
