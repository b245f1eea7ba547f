"""Workers that share no folder: two real Celery workers (default queue; gpu + llm queues) whose lake is a bucket
on a local S3 server (moto's), with a Postgres instance and a Redis broker. Each step reads what another
process wrote to the bucket; the tables equal an in-process run on a folder. Marked ``workers`` and ``s3``:
``.ci/run`` runs it in its ``-m s3`` step, after the workers extra and redis-server are installed."""

from __future__ import annotations

import os
import shutil

import dagster as dg
import polars as pl
import pytest

from llmhni_pipeline_tests.conftest import S3_SETUP, WORKERS_SETUP  # noqa: E402

pytestmark = [pytest.mark.workers, pytest.mark.s3]
pytest.importorskip("dagster_celery", reason=WORKERS_SETUP)
pytest.importorskip("moto", reason=S3_SETUP)

from llmhni_pipeline.lake import lake_location, source, table_path  # noqa: E402
from llmhni_pipeline_tests.deploy.test_workers import CHEAP, TABLES, llmhni, training_config  # noqa: E402
from llmhni_pipeline_tests.support.s3_server import S3Server  # noqa: E402
from llmhni_pipeline_tests.support.services import (  # noqa: E402
    REPO,
    Postgres,
    Redis,
    Worker,
    step_timeline,
    stop_deployment,
)


def test_workers_sharing_only_a_bucket_run_a_partition_equal_to_the_in_process_run(tmp_path, monkeypatch):
    config = training_config(tmp_path, epochs=2)
    with S3Server(tmp_path / "moto.log") as s3:
        lake = f"s3://{s3.new_bucket()}/lake"
        redis, postgres = Redis(tmp_path / "redis").start(), Postgres().start()
        home = tmp_path / "dagster_home"
        home.mkdir()
        shutil.copy(REPO / "deploy" / "workers" / "dagster.yaml", home / "dagster.yaml")
        env = {
            **os.environ, **s3.env, "DAGSTER_HOME": str(home), "LLMHNI_POSTGRES_URL": postgres.url,
            "LLMHNI_CELERY_BROKER": redis.url, "LLMHNI_EXECUTOR": "celery", "LLMHNI_LAKE_DIR": lake,
            "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE",
        }  # fmt: skip
        workers = [
            Worker(["dagster"], "default", env, tmp_path / "logs" / "default.log").start(),
            Worker(["gpu", "llm"], "gpu", env, tmp_path / "logs" / "gpu.log").start(),
        ]
        try:
            for worker in workers:
                worker.wait_ready()
            made = llmhni(env, "datasets", "synth", "shop", "--interactions", "3000")
            assert made.returncode == 0, made.stderr[-2000:]
            done = llmhni(env, "materialize", "shop", "--select", CHEAP, "--config", str(config))
            assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]

            monkeypatch.setenv("LLMHNI_POSTGRES_URL", postgres.url)
            instance = dg.DagsterInstance.from_config(str(home))
            (run,) = instance.get_runs()
            steps = step_timeline(instance, run.run_id)
            assert run.status == dg.DagsterRunStatus.SUCCESS
            assert steps["pretrained_recommender"]["worker"] == workers[1].hostname, steps
            assert steps["raw_interactions"]["worker"] == workers[0].hostname, steps
            instance.dispose()

            # the same partition in process, on a folder: the same tables
            local_home = tmp_path / "home_local"
            local_home.mkdir()
            shutil.copy(REPO / "dagster.yaml", local_home / "dagster.yaml")
            local_env = {k: v for k, v in env.items() if k not in ("LLMHNI_EXECUTOR", "LLMHNI_POSTGRES_URL")}
            local_env.update(DAGSTER_HOME=str(local_home), LLMHNI_LAKE_DIR=str(tmp_path / "local_lake"))
            assert llmhni(local_env, "datasets", "synth", "shop", "--interactions", "3000").returncode == 0
            local = llmhni(local_env, "materialize", "shop", "--select", CHEAP, "--config", str(config))
            assert local.returncode == 0, local.stdout[-4000:] + local.stderr[-2000:]
            for name, value in s3.env.items():
                monkeypatch.setenv(name, value)
            bucket = lake_location(lake)
            assert (bucket / "pretrained_recommender" / "dataset=shop" / "model.pt").is_file()
            for table in TABLES:
                ours = pl.read_parquet(source(table_path(bucket, table, "shop")))
                theirs = pl.read_parquet(table_path(tmp_path / "local_lake", table, "shop"))
                timings = [c for c in ours.columns if "seconds" in c]  # wall-clock columns differ
                assert ours.drop(timings).equals(theirs.drop(timings)), table
        finally:
            stop_deployment(workers, redis, postgres)
