"""A whole worker deployment for the ``workers`` tests: redis-server, a Postgres cluster, the deployment's
dagster.yaml, a lake, and two real Celery workers (default queue; gpu + llm queues)."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from llmhni_pipeline_tests.conftest import WORKERS_SETUP  # noqa: E402
from llmhni_pipeline_tests.support.services import REPO, Postgres, Redis, Worker, stop_deployment


@dataclass
class Deployment:
    root: Path
    lake: Path
    home: Path
    env: dict[str, str]
    redis: Redis
    postgres: Postgres
    default: Worker
    gpu: Worker

    def instance(self):
        import dagster as dg

        os.environ["LLMHNI_POSTGRES_URL"] = self.postgres.url
        return dg.DagsterInstance.from_config(str(self.home))


def make_lake(root: Path, ml100k_raw: Path) -> Path:
    lake = root / "data_lake"
    (lake / "raw").mkdir(parents=True)
    (lake / "raw" / "ml-100k").symlink_to(ml100k_raw, target_is_directory=True)
    return lake


@pytest.fixture(scope="module")
def deployment(tmp_path_factory, ml100k_raw: Path):
    pytest.importorskip("dagster_celery", reason=WORKERS_SETUP)
    root = tmp_path_factory.mktemp("deployment")
    redis = Redis(root / "redis").start()
    postgres = Postgres().start()
    home = root / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "deploy" / "workers" / "dagster.yaml", home / "dagster.yaml")
    lake = make_lake(root, ml100k_raw)
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "LLMHNI_POSTGRES_URL": postgres.url,
        "LLMHNI_CELERY_BROKER": redis.url,
        "LLMHNI_EXECUTOR": "celery",
        "LLMHNI_LAKE_DIR": str(lake),
        "OMP_NUM_THREADS": "1",
        "OMP_WAIT_POLICY": "PASSIVE",
    }
    # the gpu worker takes two steps at a time, so only the gpu pool (1 slot) keeps trainings apart
    default = Worker(["dagster"], "default", env, root / "logs" / "default.log", concurrency=2).start()
    gpu = Worker(["gpu", "llm"], "gpu", env, root / "logs" / "gpu.log", concurrency=2).start()
    started = [default, gpu]
    try:
        default.wait_ready()
        gpu.wait_ready()
        yield Deployment(root, lake, home, env, redis, postgres, default, gpu)
    finally:
        stop_deployment(started, redis, postgres)
