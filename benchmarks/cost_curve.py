"""How each stage's cost grows with the data (issue 28): synthetic datasets of amazon-book's shape at several
sizes, each stage materialized in its own process under ``/usr/bin/time -v`` (wall time, peak resident memory),
and the log-log slope between sizes. Training runs a fixed epoch budget (time per epoch is what grows); EASE and
anything dense obey ``LLMHNI_MAX_DENSE_GB`` (refused before allocating above it: the row says so).

    .venv/bin/python benchmarks/cost_curve.py --sizes 100000 300000 1000000 --out benchmarks/results/<date>-cpu/cost_curve.jsonl

Uses its own lake (``benchmarks/out/cost_lake``) and Dagster home; the project's lake is not touched. The
synthetic data's metrics mean nothing; only time and memory are recorded.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
STAGES = ("raw_interactions", "pretrained_recommender", "candidate_pairs", "evaluation")
CONFIG = """ops:
  pretrained_recommender:
    config: {epochs: %(epochs)d, min_epochs: 0, patience: 1000}
"""


def run_stage(llmhni: str, key: str, stage: str, env: dict[str, str], cwd: Path) -> dict[str, object]:
    command = ["/usr/bin/time", "-v", llmhni, "materialize", key, "--select", stage, "--config", "cost.yaml"]
    started = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - started
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    refused = "EASE left out" in done.stderr
    epoch = re.findall(r"epoch \d+/\d+: .*?; ([\d.]+)s/epoch", done.stderr)
    return {
        "stage": stage,
        "ok": done.returncode == 0,
        "wall_s": round(wall, 2),
        "peak_rss_gb": round(int(rss.group(1)) / 2**20, 3) if rss else None,
        "s_per_epoch": float(epoch[-1]) if epoch else None,
        "ease_refused": refused if stage == "evaluation" else None,
        "tail": "" if done.returncode == 0 else done.stdout.strip().splitlines()[-1][-300:],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 300_000, 1_000_000])
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--stages", nargs="+", default=list(STAGES))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--png", type=Path, help="only draw: time and memory against size from --out, to PNG+"
    )
    args = parser.parse_args()
    if args.png:
        return draw(args.out, args.png)
    lake, home = HERE / "out" / "cost_lake", HERE / "out" / "cost_home"
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    (HERE / "out" / "cost.yaml").write_text(CONFIG % {"epochs": args.epochs})
    env = {
        **os.environ,
        "LLMHNI_LAKE_DIR": str(lake),
        "DAGSTER_HOME": str(home),
        "OMP_WAIT_POLICY": "PASSIVE",
    }
    llmhni = str(Path(sys.executable).with_name("llmhni"))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    rows = []
    for n in args.sizes:
        key = f"synth-{n}"
        shutil.rmtree(lake / "incoming" / key, ignore_errors=True)
        synth = subprocess.run(
            [llmhni, "datasets", "synth", key, "--interactions", str(n)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        print(synth.stdout.strip(), flush=True)
        for stage in args.stages:
            row = {"interactions": n, **run_stage(llmhni, key, stage, env, HERE / "out")}
            row["date"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
            rows.append(row)
            print(json.dumps(row), flush=True)
            with args.out.open("a") as handle:
                handle.write(json.dumps(row) + "\n")
    print("\nlog-log slopes of wall time (and peak RSS) between consecutive sizes:")
    for stage in args.stages:
        points = [r for r in rows if r["stage"] == stage and r["ok"]]
        for a, b in zip(points, points[1:], strict=False):
            ratio = math.log(b["interactions"] / a["interactions"])
            time_key = "s_per_epoch" if a.get("s_per_epoch") else "wall_s"
            slope = math.log(b[time_key] / a[time_key]) / ratio
            mem = math.log(b["peak_rss_gb"] / a["peak_rss_gb"]) / ratio
            print(
                f"  {stage:24s} {a['interactions']:>9,} → {b['interactions']:>9,}: time {slope:+.2f} ({time_key}), memory {mem:+.2f}"
            )


def draw(records: Path, png: Path) -> None:
    """Two log-log figures from the records: time (s per epoch for training, wall otherwise) and peak memory."""
    from llmhni_pipeline.plots import lines_png

    rows = [json.loads(line) for line in records.read_text().splitlines() if line.strip()]
    sizes = sorted({r["interactions"] for r in rows})
    for what, key, label in (
        ("time", None, "seconds (training: per epoch)"),
        ("memory", "peak_rss_gb", "peak RSS, GB"),
    ):
        series = {}
        for stage in dict.fromkeys(r["stage"] for r in rows):
            by_size = {r["interactions"]: r for r in rows if r["stage"] == stage and r["ok"]}
            values = []
            for n in sizes:
                r = by_size.get(n)
                value = None if r is None else (r[key] if key else (r["s_per_epoch"] or r["wall_s"]))
                values.append(float("nan") if value is None else value)
            series[stage] = values
        out = png.with_name(f"{png.stem}_{what}{png.suffix}")
        out.write_bytes(
            lines_png(sizes, series, f"cost against interactions: {what}", "interactions", label, log=True)
        )
        print(out)


if __name__ == "__main__":
    main()
