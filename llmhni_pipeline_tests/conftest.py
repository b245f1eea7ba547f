from __future__ import annotations

import gc
import os
from pathlib import Path

import dagster as dg
import pytest

os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")

from llmhni_pipeline.datasets.movielens import fetch_movielens_100k  # noqa: E402
from llmhni_pipeline.datasets.rlmrec_fetch import is_fetched  # noqa: E402
from llmhni_pipeline.lake import default_lake_dir, default_shared_data_dir, models_dir, raw_dir  # noqa: E402
from llmhni_pipeline.partitions import register_datasets  # noqa: E402

RLMREC_MISSING = (
    "RLMRec data not here, or only part of it: `.venv/bin/llmhni fetch rlmrec` downloads it (or set "
    "LLMHNI_SHARED_DATA_DIR)"
)
# what each optional group of tests needs, as the README installs it: every skip names its command
WORKERS_SETUP = "the worker deployment: apt-get install -y redis-server postgresql-15 && .venv/bin/pip install -e '.[workers]'"
S3_SETUP = (
    "the object-store tests: apt-get install -y --no-install-recommends ceph-mon ceph-osd radosgw && "
    ".venv/bin/pip install -e '.[s3-test]'"
)
SCALE_SETUP = "SANSA: apt-get install -y libsuitesparse-dev && .venv/bin/pip install -e '.[scale]'"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The RLMRec-format datasets (amazon-book, Yelp, Steam): tests that need them skip with one line on a machine
    that has not fetched them; `.ci/run` checks they are there, so on CI they run."""
    path = default_shared_data_dir()
    if not is_fetched(
        path
    ):  # every pinned file at its size: a partial fetch skips too, not FileNotFoundError
        pytest.skip(RLMREC_MISSING)
    return path


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """Where the stages look for RLMRec-format data, for tests of other datasets (ml-100k, incoming): it need
    not hold anything."""
    return default_shared_data_dir()


def pytest_collection_modifyitems(config, items):
    """Every test that reads the RLMRec data carries the ``rlmrec`` mark (``pytest -m rlmrec`` runs just those)."""
    for item in items:
        if "shared_data" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.rlmrec)


@pytest.fixture(scope="session")
def ml100k_raw() -> Path:
    """The project's fetched MovieLens files (the README set-up command fetches them; idempotent)."""
    folder = raw_dir(default_lake_dir()) / "ml-100k"
    fetch_movielens_100k(folder)
    return folder


@pytest.fixture
def lake(tmp_path: Path, ml100k_raw: Path) -> Path:
    """An empty lake whose raw area links the fetched MovieLens files."""
    root = tmp_path / "data_lake"
    (root / "raw").mkdir(parents=True)
    (root / "raw" / "ml-100k").symlink_to(ml100k_raw, target_is_directory=True)
    return root


def instance_with_datasets(*keys: str) -> dg.DagsterInstance:
    """An ephemeral Dagster instance that knows these dataset partitions."""
    instance = dg.DagsterInstance.ephemeral()
    register_datasets(instance, list(keys))
    return instance


@pytest.fixture
def datasets_instance():
    """``datasets_instance(*keys)``: ephemeral instances that know these dataset partitions, disposed in reverse
    order when the test ends, so none is left for the garbage collector to close during a later test."""
    made: list[dg.DagsterInstance] = []

    def make(*keys: str) -> dg.DagsterInstance:
        made.append(instance_with_datasets(*keys))
        return made[-1]

    yield make
    for instance in reversed(made):
        instance.dispose()


def write_incoming(lake: Path, name: str, text: str, filename: str = "interactions.csv") -> Path:
    folder = lake / "incoming" / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / filename).write_text(text)
    return folder


@pytest.fixture(scope="session")
def judge_model_path():
    """A fetched judge GGUF (the README set-up fetches them with `llmhni fetch embedded`)."""

    def get(name: str) -> Path:
        from llmhni_pipeline.llm.model_store import EMBEDDED_JUDGES, JUDGE_MODELS, installed_gguf

        try:
            return installed_gguf(JUDGE_MODELS[name], models_dir(default_lake_dir()))
        except FileNotFoundError as exc:
            if name in EMBEDDED_JUDGES:  # the README's set-up fetches these: missing is a broken set-up
                pytest.fail(str(exc))
            pytest.skip(f"judge {name} is fetched on demand: .venv/bin/llmhni fetch judge-{name}")

    return get


@pytest.fixture(autouse=True)
def _forget_closed_dagster_instances():
    """Every entered DagsterInstance points a module-level ContextVar at its state storage and resets it on exit.
    An instance or build_*_context left in a reference cycle is exited by the garbage collector whenever it runs,
    possibly during a later test, resetting the ContextVar to a storage whose instance is gone ("Attempted to
    resolve undefined DagsterInstance weakref"). So each test starts with the var cleared and ends with a
    collection (any such exit happens now, inside its own test) and the var cleared again."""
    from dagster._core.storage.defs_state.base import _current_storage

    _current_storage.set(None)
    yield
    gc.collect()
    _current_storage.set(None)


def materialize_backbone(cwd: Path, env: dict[str, str], run_config: str):
    """The real ``llmhni`` entry point, in a subprocess, materializing the incoming ``shop`` dataset's stage 0
    and its pretrained recommender with ``run_config`` (YAML, written to ``cwd/small.yaml``)."""
    import subprocess
    import sys

    (cwd / "small.yaml").write_text(run_config)
    return subprocess.run(
        [
            str(Path(sys.executable).with_name("llmhni")),
            "materialize",
            "shop",
            "--select",
            "raw_interactions,pretrained_recommender",  # id_mappings comes along (same step)
            "--config",
            "small.yaml",
        ],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="session", params=["moto", "ceph-rgw"])
def s3_server(request, tmp_path_factory):
    """An S3 server on a loopback port, for the ``s3`` tests: moto's (the s3-test extra), and Ceph's RADOS Gateway
    on a one-node cluster where Debian's ceph-mon, ceph-osd and radosgw are installed."""
    pytest.importorskip("moto", reason=S3_SETUP)
    pytest.importorskip("upath", reason=S3_SETUP)
    if request.param == "moto":
        from llmhni_pipeline_tests.support.s3_server import S3Server

        with S3Server(tmp_path_factory.mktemp("moto") / "moto.log") as server:
            yield server
        return
    from llmhni_pipeline_tests.support.ceph_rgw import CephRGW, missing_binaries

    if missing_binaries():
        pytest.skip(
            f"Ceph is not installed ({', '.join(missing_binaries())}): apt-get install -y ceph-mon ceph-osd radosgw"
        )
    with CephRGW() as server:
        yield server


@pytest.fixture
def s3_lake(s3_server, monkeypatch):
    """An empty lake in a bucket of its own; the credentials and endpoint in the environment, nowhere else."""
    from llmhni_pipeline.lake import is_remote, lake_location

    for name, value in s3_server.env.items():
        monkeypatch.setenv(name, value)
    lake = lake_location(f"s3://{s3_server.new_bucket()}/lake")
    assert is_remote(lake)
    return lake
