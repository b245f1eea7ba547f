"""Issue 27: a backfill of 4 partitions on 2 Celery workers against the in-process executor, same machine.

Starts a real redis-server, a Postgres cluster and two workers (default queue; gpu + llm queues, one step at a
time each), then times ``llmhni materialize`` of the cheap stages plus a short pretraining for 4 partitions:
once in process (one after the other, one process, SQLite instance, its own lake) and once on the workers (one
orchestrating process per partition, all at once). From the Postgres event log it splits each step on the
workers into launch (submitted by the orchestrator → the step starts on a worker) and the step itself, and
reports whether steps of different partitions overlapped. Writes one JSON line per measurement.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_workers.py --out benchmarks/results/2026-12-04-cpu/workers.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from llmhni_pipeline.lake import default_lake_dir, raw_dir  # noqa: E402
from llmhni_pipeline_tests.support.services import Postgres, Redis, Worker, step_timeline  # noqa: E402

PARTITIONS = ["ml-100k", "ml-100k-noise05", "ml-100k-noise10", "ml-100k-noise15"]
SELECT = "raw_interactions,text_profiles,pretrained_recommender"


def lake_at(root: Path) -> Path:
    lake = root / "data_lake"
    (lake / "raw").mkdir(parents=True)
    (lake / "raw" / "ml-100k").symlink_to(raw_dir(default_lake_dir()) / "ml-100k", target_is_directory=True)
    return lake


def timed(env: dict[str, str], *argv: str) -> float:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "llmhni_pipeline.cli", *argv], env=env, cwd=REPO,
                          capture_output=True, text=True)  # fmt: skip
    if done.returncode:
        raise SystemExit(f"llmhni {' '.join(argv)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-workers-"))
    config = root / "config.yaml"
    config.write_text(
        f"ops:\n  pretrained_recommender:\n    config:\n      epochs: {args.epochs}\n      min_epochs: {args.epochs}\n"
    )
    base = {
        **os.environ,
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
        "OMP_WAIT_POLICY": "PASSIVE",
    }
    base.pop("LLMHNI_EXECUTOR", None)
    records: list[dict] = []
    meta = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "machine": platform.processor() or platform.machine(),
        "cores": os.cpu_count(), "partitions": PARTITIONS, "select": SELECT, "epochs": args.epochs,
    }  # fmt: skip

    # in process: one after the other, one process
    home = root / "home_local"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    env = {**base, "DAGSTER_HOME": str(home), "LLMHNI_LAKE_DIR": str(lake_at(root / "local"))}
    local_s = timed(env, "materialize", *PARTITIONS, "--select", SELECT, "--config", str(config))
    records.append({**meta, "what": "in_process", "wall_s": round(local_s, 2)})
    print(f"in process, 4 partitions one after the other: {local_s:.1f} s", flush=True)

    redis, postgres = Redis(root / "redis").start(), Postgres().start()
    workers: list[Worker] = []
    try:
        home = root / "home_workers"
        home.mkdir()
        shutil.copy(REPO / "deploy" / "workers" / "dagster.yaml", home / "dagster.yaml")
        env = {**base, "DAGSTER_HOME": str(home), "LLMHNI_LAKE_DIR": str(lake_at(root / "workers")),
               "LLMHNI_POSTGRES_URL": postgres.url, "LLMHNI_CELERY_BROKER": redis.url, "LLMHNI_EXECUTOR": "celery"}  # fmt: skip
        started = time.perf_counter()
        workers = [
            Worker(["dagster"], "default", env, root / "default.log").start(),
            Worker(["gpu", "llm"], "gpu", env, root / "gpu.log").start(),
        ]
        for worker in workers:
            worker.wait_ready()
        ready_s = time.perf_counter() - started
        records.append({**meta, "what": "workers_ready", "wall_s": round(ready_s, 2)})
        print(f"two workers ready in {ready_s:.1f} s (imports included)", flush=True)
        celery_s = timed(env, "materialize", *PARTITIONS, "--select", SELECT, "--config", str(config))
        records.append({**meta, "what": "celery_2_workers", "wall_s": round(celery_s, 2),
                        "ratio_in_process_over_celery": round(local_s / celery_s, 3)})  # fmt: skip
        print(
            f"on 2 workers, 4 orchestrators at once: {celery_s:.1f} s (in process / workers = {local_s / celery_s:.2f})"
        )

        import dagster as dg

        os.environ["LLMHNI_POSTGRES_URL"] = postgres.url
        instance = dg.DagsterInstance.from_config(str(home))
        runs = instance.get_runs()
        timelines = {
            run.tags["dagster/partition"]: (run, step_timeline(instance, run.run_id)) for run in runs
        }
        launches, durations = [], {}
        first = min(s["submitted"] for _, t in timelines.values() for s in t.values() if "submitted" in s)
        for key, (run, steps) in sorted(timelines.items()):
            stats = instance.get_run_stats(run.run_id)
            print(f"{key}: run {stats.end_time - stats.start_time:.1f} s")
            for name, s in sorted(steps.items(), key=lambda kv: kv[1].get("start", 0)):
                launch, took = s["start"] - s["submitted"], s["end"] - s["start"]
                launches.append(launch)
                durations.setdefault(name, []).append(took)
                print(f"   {name:24s} on {s['worker']:28s} submitted +{s['submitted'] - first:5.1f} s, "
                      f"launch {launch:4.1f} s, step {took:5.1f} s")  # fmt: skip
        intervals = [(s["start"], s["end"], k) for k, (_, t) in timelines.items() for s in t.values()]
        overlapping = sum(
            1 for a in intervals for b in intervals if a[2] < b[2] and a[0] < b[1] and b[0] < a[1]
        )
        records.append({
            **meta, "what": "celery_steps", "launch_s_median": round(statistics.median(launches), 2),
            "launch_s_max": round(max(launches), 2),
            "step_s_median": {k: round(statistics.median(v), 2) for k, v in durations.items()},
            "overlapping_step_pairs_across_partitions": overlapping,
        })  # fmt: skip
        print(f"launch per step: median {statistics.median(launches):.2f} s, max {max(launches):.2f} s; "
              f"{overlapping} pairs of steps of different partitions overlapped")  # fmt: skip
    finally:
        for worker in workers:
            worker.stop()
        redis.stop()
        postgres.stop()
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with args.out.open("a") as out:
            for record in records:
                out.write(json.dumps({**record, "host": socket.gethostname()}) + "\n")
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
