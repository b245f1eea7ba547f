"""The pipeline on real Celery workers (Redis broker, Postgres instance): which worker ran which step, two
partitions at once, pools across runs, the same tables as the in-process executor, and a worker killed
mid-step. Marked ``workers``: ``.ci/run`` installs redis-server and the workers extra and runs them."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from llmhni_pipeline.lake import table_path
from llmhni_pipeline_tests.conftest import WORKERS_SETUP  # noqa: E402
from llmhni_pipeline_tests.deploy.conftest import Deployment, make_lake
from llmhni_pipeline_tests.support.services import REPO, step_timeline

pytestmark = pytest.mark.workers
pytest.importorskip("dagster_celery", reason=WORKERS_SETUP)

CHEAP = "raw_interactions,text_profiles,pretrained_recommender"
TABLES = ["raw_interactions", "id_mappings", "text_profiles", "pretrained_recommender"]
PARTITIONS = ["ml-100k-noise05", "ml-100k-noise10"]
# a training that ends only when the test stops it, however fast the machine (CI's once ran the 300 epochs of a
# toy training within the 3 s another test had guessed it would take)
UNENDING = 100_000


def training_config(folder: Path, epochs: int, patience: int = 20) -> Path:
    path = folder / f"epochs{epochs}.yaml"
    path.write_text(
        "ops:\n  pretrained_recommender:\n    config:\n"
        f"      epochs: {epochs}\n      min_epochs: {epochs}\n      patience: {patience}\n"
    )
    return path


def llmhni(env: dict[str, str], *argv: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "llmhni_pipeline.cli", *argv],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def start_llmhni(env: dict[str, str], *argv: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "llmhni_pipeline.cli", *argv],
        env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


@contextlib.contextmanager
def running_llmhni(env: dict[str, str], *argv: str) -> Iterator[subprocess.Popen]:
    """``llmhni`` started in the background and killed on the way out if it still runs (a wait that failed)."""
    run = start_llmhni(env, *argv)
    try:
        yield run
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()


def log_mark(deployment: Deployment) -> int:
    """Where the gpu worker's log ends now: what an earlier test logged there must not count for a later one."""
    return deployment.gpu.log_size()


def wait_for_gpu_log(
    deployment: Deployment, text: str, run: subprocess.Popen, since: int, timeout_s: float = 120
) -> None:
    """Until the gpu worker logs ``text`` after byte ``since`` of its log (``log_mark`` taken before ``run``
    started), while ``run`` goes on."""
    deadline = time.monotonic() + timeout_s
    while text not in deployment.gpu.log.read_bytes()[since:].decode(errors="replace"):
        assert time.monotonic() < deadline, deployment.gpu.log.read_text()[-3000:]
        assert run.poll() is None, run.stdout.read()
        time.sleep(0.2)


def wait_for_training(deployment: Deployment, epochs: int, run: subprocess.Popen, since: int) -> None:
    """Until the gpu worker logs the first epoch of a training of ``epochs`` epochs (2 minutes at most)."""
    wait_for_gpu_log(deployment, f"epoch 1/{epochs}", run, since)


@contextlib.contextmanager
def training_run(
    deployment: Deployment, folder: Path, key: str, epochs: int
) -> Iterator[tuple[subprocess.Popen, int]]:
    """The cheap steps of ``key`` with ``epochs`` of training, yielded once the training step has begun, with
    the gpu worker's log mark from before it started."""
    config = training_config(folder, epochs=epochs, patience=epochs)
    mark = log_mark(deployment)
    with running_llmhni(
        deployment.env, "materialize", key, "--select", CHEAP, "--config", str(config)
    ) as run:
        wait_for_training(deployment, epochs, run, mark)
        yield run, mark


def assert_succeeded(deployment: Deployment, run: subprocess.Popen, out: str, key: str) -> None:
    """The run ended well: exit 0, its last line says so, the training's table is there, and no gpu slot is held."""
    assert run.returncode == 0, out[-4000:]
    assert f"SUCCESS ({key})" in out.strip().splitlines()[-1]
    assert table_path(deployment.lake, "pretrained_recommender", key).is_file()
    assert deployment.instance().event_log_storage.get_concurrency_info("gpu").active_slot_count == 0


def runs_by_partition(instance: dg.DagsterInstance) -> dict[str, list]:
    found: dict[str, list] = {}
    for run in instance.get_runs():
        found.setdefault(run.tags.get("dagster/partition"), []).append(run)
    return found


def overlaps(a: dict, b: dict) -> bool:
    return a["start"] < b["end"] and b["start"] < a["end"]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_two_partitions_on_two_workers_equal_the_in_process_run(deployment: Deployment, ml100k_raw, tmp_path):
    config = training_config(tmp_path, epochs=3)
    done = llmhni(deployment.env, "materialize", *PARTITIONS, "--select", CHEAP, "--config", str(config))
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "2 of 2 runs succeeded" in done.stdout

    instance = deployment.instance()
    runs = runs_by_partition(instance)
    steps = {key: step_timeline(instance, runs[key][0].run_id) for key in PARTITIONS}
    for key in PARTITIONS:
        assert runs[key][0].status == dg.DagsterRunStatus.SUCCESS
        # training went to the gpu queue's worker, everything else to the default queue's
        assert steps[key]["pretrained_recommender"]["worker"] == deployment.gpu.hostname
        for step in ("raw_interactions", "text_profiles"):
            assert steps[key][step]["worker"] == deployment.default.hostname, (key, step, steps[key])
    a, b = (steps[key] for key in PARTITIONS)
    # the two partitions ran at the same time ...
    assert any(overlaps(x, y) for x in a.values() for y in b.values()), steps
    # ... but the gpu pool (1 slot) kept their trainings apart, though the gpu worker takes 2 steps at once
    assert not overlaps(a["pretrained_recommender"], b["pretrained_recommender"]), steps
    assert instance.event_log_storage.get_concurrency_info("gpu").active_slot_count == 0

    # the same partitions in process, in a lake of their own: the same tables
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    local_lake = make_lake(tmp_path, ml100k_raw)
    env = {k: v for k, v in deployment.env.items() if k not in ("LLMHNI_EXECUTOR", "LLMHNI_POSTGRES_URL")}
    env.update(DAGSTER_HOME=str(home), LLMHNI_LAKE_DIR=str(local_lake))
    local = llmhni(env, "materialize", *PARTITIONS, "--select", CHEAP, "--config", str(config))
    assert local.returncode == 0, local.stdout[-4000:] + local.stderr[-2000:]
    for key in PARTITIONS:
        for table in TABLES:
            ours, theirs = (
                pl.read_parquet(table_path(lake, table, key)) for lake in (deployment.lake, local_lake)
            )
            timings = [c for c in ours.columns if c.endswith("_seconds")]  # wall-clock columns differ
            assert ours.drop(timings).equals(theirs.drop(timings)), (key, table)


def test_a_killed_worker_fails_the_run_naming_it_and_leaves_the_lake_whole(deployment: Deployment, tmp_path):
    key = "ml-100k-noise15"
    quick = llmhni(
        deployment.env, "materialize", key, "--select", CHEAP, "--config", str(training_config(tmp_path, 2))
    )
    assert quick.returncode == 0, quick.stdout[-4000:] + quick.stderr[-2000:]
    table = table_path(deployment.lake, "pretrained_recommender", key)
    good = digest(table)
    models = sorted(
        p
        for p in (deployment.lake).rglob("*")
        if p.is_file() and "model" in str(p.relative_to(deployment.lake))
    )
    good_models = {p: digest(p) for p in models}

    long = training_config(tmp_path, epochs=UNENDING, patience=UNENDING)
    mark = log_mark(deployment)
    with running_llmhni(
        deployment.env, "materialize", key, "--select", "pretrained_recommender", "--config", str(long)
    ) as run:
        try:
            wait_for_training(deployment, UNENDING, run, mark)
            time.sleep(2)  # a few epochs in
            started = time.monotonic()
            os.killpg(deployment.gpu.proc.pid, 9)  # the whole worker, pool children too: its host is gone
            out, _ = run.communicate(timeout=120)
            detected = time.monotonic() - started
        finally:
            deployment.gpu.stop()
            deployment.gpu.start()  # for the tests after this one
    assert run.returncode == 1, out[-4000:]
    last = out.strip().splitlines()[-1]
    assert "FAILURE" in last and deployment.gpu.hostname in last and "stopped answering" in last, last
    assert detected < 60, detected
    # the previous materialization is untouched and no half-written file is visible
    assert digest(table) == good
    assert {p: digest(p) for p in good_models} == good_models
    assert [p.name for p in table.parent.iterdir() if p.suffix == ".parquet"] == ["part-0.parquet"]
    instance = deployment.instance()
    assert instance.event_log_storage.get_concurrency_info("gpu").active_slot_count == 0
    failed = [r for r in runs_by_partition(instance)[key] if r.status == dg.DagsterRunStatus.FAILURE]
    assert len(failed) == 1
    deployment.gpu.wait_ready()


@pytest.mark.parametrize(
    "key, kill, away_s",
    [
        ("ml-100k-noise20", True, 3),  # SIGKILL: queued messages and stored results are gone with it
        ("ml-100k-hide20", False, 10),  # SIGTERM, as a service manager's restart: the connection is closed
    ],
)
def test_a_broker_restarted_mid_step_is_survived_and_leaves_no_slot_held(
    deployment: Deployment, tmp_path, key, kill, away_s
):
    with training_run(deployment, tmp_path, key, epochs=40) as (run, _):
        deployment.redis.stop(kill=kill)
        time.sleep(away_s)
        deployment.redis.start()
        out, _ = run.communicate(timeout=300)
    # the worker and the orchestrator reconnect; the step's result reaches the restarted backend
    assert_succeeded(deployment, run, out, key)
    # the steps' progress, logged on the workers, reached this console (it once printed nothing for minutes)
    assert "pretrained_recommender: started" in out and "epoch 1/40" in out, out[-3000:]


def test_a_result_the_broker_lost_is_read_from_the_event_log_and_the_run_succeeds(
    deployment: Deployment, tmp_path
):
    """The race CI hit, made certain: a step ends and stores its result, and the broker restarts (no persistence)
    before the orchestrator reads it. The orchestrator is frozen meanwhile, so it cannot read it in time."""
    key = "ml-100k-hide15"
    with training_run(deployment, tmp_path, key, epochs=40) as (run, mark):
        os.kill(run.pid, signal.SIGSTOP)
        try:
            wait_for_gpu_log(deployment, "succeeded in", run, mark, timeout_s=240)  # it is frozen, not ended
            deployment.redis.stop()
            deployment.redis.start()  # the stored result is gone
        finally:
            os.kill(run.pid, signal.SIGCONT)
        out, _ = run.communicate(timeout=300)
    assert_succeeded(deployment, run, out, key)
    assert "step pretrained_recommender ended on Celery worker" in out and "read from the event log" in out, (
        out
    )


def test_a_step_message_the_broker_lost_before_any_worker_took_it_is_sent_again(
    deployment: Deployment, tmp_path
):
    """No worker reads the default queue while the run's first step waits there; the broker restarts without its
    data and the message is gone. The orchestrator finds it in neither queue nor worker, and sends it again."""
    import redis as redis_py

    key = "ml-100k-noise05"
    config = training_config(tmp_path, epochs=2)
    deployment.default.stop()
    with running_llmhni(
        deployment.env, "materialize", key, "--select", CHEAP, "--config", str(config)
    ) as run:
        try:
            broker = redis_py.Redis.from_url(deployment.redis.url)
            deadline = time.monotonic() + 120
            while not any(broker.llen(k) for k in broker.keys("dagster*")):  # raw_interactions waits there
                assert time.monotonic() < deadline and run.poll() is None, "no message reached the queue"
                time.sleep(0.2)
            broker.close()
            deployment.redis.stop()
            time.sleep(3)
            deployment.redis.start()  # the message is gone
        finally:
            deployment.default.start()
            deployment.default.wait_ready()
        out, _ = run.communicate(timeout=300)
    assert_succeeded(deployment, run, out, key)
    assert "step raw_interactions: its Celery message" in out and "submitted it again" in out, out
    assert out.count("submitted it again") == 1, out


def test_a_run_started_while_the_broker_is_down_waits_for_it(deployment: Deployment, tmp_path):
    """Submitting a step while the broker restarts used to fail the run within a second (Celery's own retries)."""
    key = "ml-100k-hide05"
    config = training_config(tmp_path, epochs=2)
    lines: list[str] = []
    deployment.redis.stop()
    with running_llmhni(
        deployment.env, "materialize", key, "--select", CHEAP, "--config", str(config)
    ) as run:
        try:
            reader = threading.Thread(target=lambda: lines.extend(run.stdout), daemon=True)
            reader.start()
            deadline = time.monotonic() + 180
            while not any(
                "the Celery broker does not answer" in line for line in lines
            ):  # it tries to submit
                assert time.monotonic() < deadline and run.poll() is None, "".join(lines)[-4000:]
                time.sleep(0.5)
        finally:
            deployment.redis.start()
        run.wait(timeout=300)
        reader.join(timeout=30)
    out = "".join(lines)
    assert_succeeded(deployment, run, out, key)
    assert "waiting up to 180 s for it to submit the step" in out, out


def test_a_run_launched_from_the_ui_runs_on_the_workers(deployment: Deployment):
    """The UI's launch button (the same GraphQL call): the queued run goes through the daemon to a run process
    that orchestrates on Celery, and its steps run on the queue's worker."""
    from dagster_graphql import DagsterGraphQLClient

    from llmhni_pipeline.partitions import register_datasets
    from llmhni_pipeline_tests.support.services import free_port, group_alive, stop_group, wait_port

    key = "ml-100k"
    port = free_port()
    ui = subprocess.Popen(
        [sys.executable, "-m", "llmhni_pipeline.cli", "ui", "-h", "127.0.0.1", "-p", str(port)],
        env=deployment.env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        wait_port(port, 180, "llmhni ui", ui)
        instance = deployment.instance()
        register_datasets(instance, [key])
        client = DagsterGraphQLClient("127.0.0.1", port_number=port)
        deadline = time.monotonic() + 120
        while True:  # the code location may still be loading
            try:
                run_id = client.submit_job_execution(
                    "__ASSET_JOB", repository_location_name="llmhni_pipeline",
                    tags={"dagster/partition": key}, op_selection=["raw_interactions", "text_profiles"],
                )  # fmt: skip
                break
            except Exception:
                assert time.monotonic() < deadline, "the UI did not accept the run within 120 s"
                time.sleep(2)
        deadline = time.monotonic() + 240
        while (status := client.get_run_status(run_id)) not in (
            dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED,
        ):  # fmt: skip
            assert time.monotonic() < deadline, status
            time.sleep(1)
        assert status == dg.DagsterRunStatus.SUCCESS
        steps = step_timeline(instance, run_id)
        assert {steps[s]["worker"] for s in ("raw_interactions", "text_profiles")} == {
            deployment.default.hostname
        }
    finally:
        stop_group(ui)
    assert not group_alive(ui.pid)


def test_a_run_waiting_for_a_pool_slot_on_the_workers_says_which_run_holds_it(
    deployment: Deployment, tmp_path
):
    import signal
    import threading

    first, second = "ml-100k-noise05", "ml-100k-noise10"
    quick = llmhni(deployment.env, "materialize", second, "--select", "raw_interactions,text_profiles")
    assert quick.returncode == 0, quick.stdout[-3000:]
    # earlier tests trained on this worker too: only this run's first epoch counts
    mark = log_mark(deployment)
    with contextlib.ExitStack() as running:
        holder = running.enter_context(
            running_llmhni(
                deployment.env,
                "materialize",
                first,
                "--select",
                CHEAP,
                "--config",
                str(training_config(tmp_path, 400, 400)),
            )
        )
        wait_for_training(deployment, 400, holder, mark)
        waiter = running.enter_context(
            running_llmhni(
                deployment.env,
                "materialize",
                second,
                "--select",
                "pretrained_recommender",
                "--config",
                str(training_config(tmp_path, 2)),
            )
        )
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(waiter.stdout), daemon=True)
        reader.start()
        deadline = time.monotonic() + 90
        while not any("waiting: pool gpu is held by run(s)" in line for line in lines):
            assert time.monotonic() < deadline and waiter.poll() is None, "".join(lines)[-3000:]
            time.sleep(0.5)
        # the holder stops. Its training ends on its own first (400 epochs, not UNENDING): dagster-celery's revoke
        # leaves a running step to finish, and one terminated on its worker keeps its pool slot (notebook 12-07)
        holder.send_signal(signal.SIGINT)
        holder.communicate(timeout=120)
        assert waiter.wait(timeout=240) == 0, "".join(lines)[-3000:]
        reader.join(timeout=10)
        assert f"SUCCESS ({second})" in lines[-1]
