"""Issue 27 item 4: the same stages on a lake folder and on object-store lakes, side by side in one run.

Starts moto's S3 server (a protocol double) and, where Debian's Ceph is installed, a RADOS Gateway on a one-node
Ceph cluster (a real S3 implementation), both on loopback with objects in memory: this measures the lake layer's
own cost (s3fs and polars' object-store reader, HTTP, one upload per write, listings instead of directory reads,
and RGW's request path), not a networked store's latency or bandwidth.
Writes a synthetic incoming dataset of ``--interactions`` pairs into each lake, then runs ``llmhni materialize``
of the stages up to a short pretraining, alternating folder and store ``--repeats`` times, and reads each
step's time from the run's event log. One JSON line per run.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_object_lake.py --out benchmarks/results/2026-12-04-cpu/object_lake.jsonl
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from llmhni_pipeline_tests.support.ceph_rgw import CephRGW, missing_binaries  # noqa: E402
from llmhni_pipeline_tests.support.s3_server import S3Server  # noqa: E402

SELECT = "raw_interactions,text_profiles,llm_embeddings,aligned_projector,pretrained_recommender"
STEP = re.compile(r' - (\w+) - STEP_SUCCESS - Finished execution of step "\w+" in ([\dmhs.]+)')
DURATION = re.compile(r"([\d.]+)(ms|h|m|s)")


def run(env: dict[str, str], *argv: str) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "llmhni_pipeline.cli", *argv], env=env, cwd=REPO,
                          capture_output=True, text=True)  # fmt: skip
    if done.returncode:
        raise SystemExit(f"llmhni {' '.join(argv)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return time.perf_counter() - started, done.stdout + done.stderr


def step_seconds(log: str) -> dict[str, float]:
    """Each step's time as Dagster's event log says it (``397ms``, ``48.29s``, ``1m13s``)."""
    scale = {"ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
    return {
        m[1]: round(sum(float(n) * scale[unit] for n, unit in DURATION.findall(m[2])), 3)
        for m in STEP.finditer(log)
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--interactions", type=int, default=20_000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-object-lake-"))
    config = root / "config.yaml"
    config.write_text(
        f"ops:\n  pretrained_recommender:\n    config:\n      epochs: {args.epochs}\n      min_epochs: {args.epochs}\n"
    )
    meta = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "machine": platform.processor() or platform.machine(),
        "cores": os.cpu_count(), "interactions": args.interactions, "select": SELECT, "epochs": args.epochs,
    }  # fmt: skip
    records = []
    with contextlib.ExitStack() as stack:
        servers = {"moto": stack.enter_context(S3Server(root / "moto.log"))}
        if (
            not missing_binaries()
        ):  # Debian's Ceph: a real S3 implementation (RADOS Gateway, objects in memory)
            servers["ceph-rgw"] = stack.enter_context(CephRGW())
        base = {
            **os.environ,
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
            "OMP_WAIT_POLICY": "PASSIVE",
        }
        base.pop("LLMHNI_EXECUTOR", None)
        for repeat in range(args.repeats):
            for where in ("folder", *servers):
                if where == "folder":
                    env = {**base, "LLMHNI_LAKE_DIR": str(root / f"lake-{repeat}")}
                else:
                    server = servers[where]
                    env = {**base, **server.env, "LLMHNI_LAKE_DIR": f"s3://{server.new_bucket()}/lake"}
                home = root / f"home-{where}-{repeat}"
                home.mkdir()
                shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
                env["DAGSTER_HOME"] = str(home)
                run(env, "datasets", "synth", "shop", "--interactions", str(args.interactions))
                wall, log = run(env, "materialize", "shop", "--select", SELECT, "--config", str(config))
                record = {
                    **meta,
                    "lake": where,
                    "repeat": repeat,
                    "wall_s": round(wall, 2),
                    "steps_s": step_seconds(log),
                }
                records.append(record)
                print(json.dumps(record), flush=True)
    folder = [r for r in records if r["lake"] == "folder"]
    for where in servers:
        store = [r for r in records if r["lake"] == where]
        summary = {**meta, "lake": f"{where}/folder",
                   "wall_ratio": round(sum(r["wall_s"] for r in store) / sum(r["wall_s"] for r in folder), 3),
                   "step_ratio": {k: round(sum(r["steps_s"][k] for r in store) / sum(r["steps_s"][k] for r in folder), 3)
                                  for k in folder[0]["steps_s"]}}  # fmt: skip
        records.append(summary)
        print(json.dumps(summary), flush=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with args.out.open("a") as handle:
            for record in records:
                handle.write(json.dumps(record) + "\n")
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
