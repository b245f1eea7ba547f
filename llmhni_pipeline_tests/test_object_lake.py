"""The lake on an object store, against a local S3 server (moto's): tables written, read and queried through
DuckDB, atomic overwrites (a failed write and a killed upload leave the old object), the LLM cache's leases and
compaction across processes, and the whole graph equal to a run on a local folder. Two processes paying each
prompt once on a bucket: ``llm/test_cache_claims.py``, run on a folder and on a bucket."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import dagster as dg
import polars as pl
import pytest

from llmhni_pipeline_tests.conftest import S3_SETUP  # noqa: E402

pytestmark = pytest.mark.s3  # needs the s3-test extra, installed by .ci/run's s3 step
pytest.importorskip("moto", reason=S3_SETUP)
pytest.importorskip("upath", reason=S3_SETUP)

from llmhni_pipeline.lake import atomic_write, source, table_path  # noqa: E402
from llmhni_pipeline.lake_catalog import connect, lake_tables  # noqa: E402
from llmhni_pipeline.llm.cache import CallCache  # noqa: E402
from llmhni_pipeline.object_lake import ObjectLease  # noqa: E402
from llmhni_pipeline.resources.io_managers import PolarsParquetIOManager  # noqa: E402
from llmhni_pipeline_tests.llm.test_cache_claims import reading  # noqa: E402
from llmhni_pipeline_tests.support.fake_openai import FakeOpenAI  # noqa: E402


def _keys(lake) -> list[str]:
    return sorted(p.removeprefix(lake.path + "/") for p in lake.fs.find(lake.path))


@dg.asset
def toy() -> pl.DataFrame:
    return pl.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})


@dg.asset
def toy_total(toy: pl.DataFrame) -> pl.DataFrame:
    return toy.select(pl.col("a").sum().alias("total"))


def test_tables_are_written_read_downstream_and_queried_in_duckdb(s3_lake):
    result = dg.materialize(
        [toy, toy_total], resources={"io_manager": PolarsParquetIOManager(lake_dir=str(s3_lake))}
    )
    assert result.success
    assert _keys(s3_lake) == ["toy/part-0.parquet", "toy_total/part-0.parquet"]  # no temporary object left
    assert pl.read_parquet(source(table_path(s3_lake, "toy_total", None)))["total"].to_list() == [6]
    assert set(lake_tables(s3_lake)) == {"toy", "toy_total"}
    con = connect(s3_lake)
    assert con.sql("select sum(a), max(b) from toy").fetchall() == [(6, "z")]
    assert con.sql("select total from toy_total").fetchall() == [(6,)]
    with pytest.raises(Exception, match="disabled by configuration"):  # still locked to the lake
        con.sql("select * from read_csv('/etc/passwd')").fetchall()


def test_an_overwrite_is_atomic_a_failed_write_and_a_killed_upload_leave_the_old_object(s3_lake, tmp_path):
    path = table_path(s3_lake, "t", "d")
    atomic_write(path, lambda tmp: pl.DataFrame({"v": [1]}).write_parquet(tmp))

    def fails(tmp):
        tmp.write_bytes(b"half a table")
        raise RuntimeError("stage crashed")

    with pytest.raises(RuntimeError, match="stage crashed"):
        atomic_write(path, fails)
    assert pl.read_parquet(source(path))["v"].to_list() == [1] and _keys(s3_lake) == [
        "t/dataset=d/part-0.parquet"
    ]

    # a writer killed during a multipart upload (s3fs uploads 100 MiB and more in 50 MiB parts)
    writer = subprocess.Popen(
        [sys.executable, "-c", "import os, sys\n"
         "from llmhni_pipeline.lake import atomic_write, lake_location\n"
         "atomic_write(lake_location(sys.argv[1]), lambda tmp: tmp.write_bytes(os.urandom(120 << 20)))\n"
         "print('finished', flush=True)\n", str(path)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    import boto3

    client = boto3.client("s3")
    bucket = s3_lake.path.split("/")[0]
    deadline = time.monotonic() + 60
    while not client.list_multipart_uploads(Bucket=bucket).get("Uploads"):
        assert writer.poll() is None, "the writer ended before its upload began"
        assert time.monotonic() < deadline, "no multipart upload seen"
        time.sleep(0.05)
    assert pl.read_parquet(source(path))["v"].to_list() == [1]  # readers see the old object meanwhile
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    assert pl.read_parquet(source(path))["v"].to_list() == [1]
    assert path.stat().st_size < 1 << 20


def test_a_lease_is_kept_while_its_holder_lives_and_taken_over_once_it_is_killed(s3_lake, monkeypatch):
    monkeypatch.setenv("LLMHNI_LEASE_TTL_S", "3")
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\n"
         "from llmhni_pipeline.lake import lake_location\n"
         "from llmhni_pipeline.llm.cache import CallCache\n"
         "with CallCache(lake_location(sys.argv[1]), 'judgments').claim(['a', 'b']):\n"
         "    print('held', flush=True); time.sleep(120)\n", str(s3_lake)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        (claim,) = [p for p in (s3_lake / "judgments" / "_claims").iterdir()]
        waiter = ObjectLease(claim)
        until = time.monotonic() + 2 * waiter.ttl_s  # two TTLs: the holder's refreshes keep it
        while time.monotonic() < until:
            assert not waiter.try_acquire()
            time.sleep(0.2)
        holder.kill()
        holder.wait()
        killed = time.monotonic()
        messages: list[str] = []
        with CallCache(s3_lake, "judgments").claim(["b", "a"], report=messages.append, label="test"):
            took = time.monotonic() - killed
        assert 2.5 < took < 12, took  # about one TTL after its last refresh, never forever
        assert messages and "waiting: process" in messages[0]
        assert not [k for k in _keys(s3_lake) if "_claims/" in k]
    finally:
        holder.kill()
        holder.wait()


def test_reading_while_another_process_compacts_on_the_store_never_fails(s3_lake):
    cache = CallCache(s3_lake, "judgments")
    rows = pl.DataFrame({"key": [f"k{i}" for i in range(60)], "value": [float(i) for i in range(60)]})
    for lo in range(0, 60, 10):
        cache.put(rows[lo : lo + 10])
    with reading(s3_lake, 60) as (errors, reads):
        compactor = subprocess.run(
            [sys.executable, "-c", "import sys\n"
             "from llmhni_pipeline.lake import lake_location\n"
             "from llmhni_pipeline.llm.cache import CallCache\n"
             "c = CallCache(lake_location(sys.argv[1]), 'judgments')\n"
             "for i in range(4):\n"
             "    c.put(c.load().head(1)); c.compact()\n", str(s3_lake)],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert compactor.returncode == 0, compactor.stderr[-2000:]
    assert not errors, errors[:3]
    assert reads[0] > 0 and len(cache.segments()) == 1 and cache.load().height == 60
    assert not [k for k in _keys(s3_lake) if k.endswith(".claim")]


def _shop(lake) -> None:
    from llmhni_pipeline_tests.test_end_to_end import GENRES

    folder = lake / "incoming" / "shop"
    folder.mkdir(parents=True, exist_ok=True)
    rows = [f"{u},{i}" for u in range(40) for i in range(32) if i % 4 == u % 4 and (u * 7 + i) % 3]
    (folder / "interactions.csv").write_text("user_id,item_id\n" + "\n".join(rows) + "\n")
    (folder / "items.csv").write_text(
        "item_id,text\n"
        + "".join(f"{i},A {GENRES[i % 4]} book [gold:{'High' if i % 2 else 'Low'}]\n" for i in range(32))
    )


def test_the_whole_graph_on_the_store_equals_the_run_on_a_folder_and_pays_once(
    s3_lake, lake, monkeypatch, datasets_instance
):
    from llmhni_pipeline_tests.test_end_to_end import _config, _job

    monkeypatch.setenv("OPENAI_API_KEY", "sk-e2e")
    for where in (s3_lake, lake):
        _shop(where)
    instance = datasets_instance("shop")
    with FakeOpenAI(dim=12) as server:
        on_store = _job(s3_lake, server).execute_in_process(
            partition_key="shop", instance=instance, run_config=_config(0.1)
        )
        assert on_store.success
        paid = sum(server.paid.values())
        again = _job(s3_lake, server).execute_in_process(
            partition_key="shop", instance=instance, run_config=_config(0.5)
        )
        assert (
            again.success and sum(server.paid.values()) == paid
        )  # the cache on the store: nothing paid twice
        folder_instance = datasets_instance("shop")
        for lambda_de in (0.1, 0.5):  # the same two runs on a folder
            on_folder = _job(lake, server).execute_in_process(
                partition_key="shop", instance=folder_instance, run_config=_config(lambda_de)
            )
            assert on_folder.success
    keys = _keys(s3_lake)
    for expected in (
        "pretrained_recommender/dataset=shop/model.pt",  # the model store
        "joint_model/dataset=shop/model.pt",
        "aligned_projector/dataset=shop/projector.pt",
        "report/dataset=shop/part-0.parquet",
    ):
        assert expected in keys, keys
    assert any(k.startswith("_llm_cache/judgments/seg-") for k in keys)
    tables = lake_tables(s3_lake)
    assert set(tables) == set(lake_tables(lake)) and len(tables) >= 12
    con = connect(s3_lake)
    for table in tables:
        ours = pl.read_parquet(source(table_path(s3_lake, table, "shop")))
        assert con.sql(f"select count(*) from {table}").fetchall() == [(ours.height,)], table
        theirs = pl.read_parquet(table_path(lake, table, "shop"))
        timings = [c for c in theirs.columns if "seconds" in c]  # wall-clock columns differ
        diff = [c for c in theirs.columns if c not in timings and not ours[c].equals(theirs[c])]
        assert not diff, (table, diff)


def test_a_compaction_lease_left_by_a_killed_compactor_expires(s3_lake, monkeypatch):
    monkeypatch.setenv("LLMHNI_LEASE_TTL_S", "1")
    cache = CallCache(s3_lake, "judgments")
    for i in range(3):
        cache.put(pl.DataFrame({"key": [f"k{i}"], "value": [float(i)]}))
    (s3_lake / "judgments" / "_compact.claim").write_text("process 1 on a-dead-host (x at 0)")
    cache.compact()
    assert len(cache.segments()) == 3  # held by someone: left to them
    time.sleep(1.5)  # one TTL without a refresh
    cache.compact()
    assert len(cache.segments()) == 1 and cache.load().height == 3
    assert not (s3_lake / "judgments" / "_compact.claim").exists()
