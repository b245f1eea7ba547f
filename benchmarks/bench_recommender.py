"""LightGCN: this engine vs RecBole 1.2.1, same split and settings, one process after the other.

    .venv/bin/python benchmarks/bench_recommender.py --dataset amazon-book --epochs 5          # speed only
    .venv/bin/python benchmarks/bench_recommender.py --dataset amazon-book-llard --seeds 1 2 3  # to convergence

RecBole is installed into ``benchmarks/.venv-recbole`` (created on first use; never a project dependency).
Prints seconds per epoch of both, their ratio, full-ranking evaluation time of all users, and test
Recall@20 / NDCG@10 at convergence (mean ± std over seeds for this engine).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import warnings
from pathlib import Path

import polars as pl
import torch

from llmhni_pipeline.datasets.interactions import build_raw_interactions
from llmhni_pipeline.datasets.registry import parse_dataset_key
from llmhni_pipeline.lake import default_lake_dir, default_shared_data_dir
from llmhni_pipeline.methods import MethodInputs
from llmhni_pipeline.recipe import RunSpec, mean_std, train_and_test
from llmhni_pipeline.recsys.data import SplitData
from llmhni_pipeline.recsys.device import resolve_device

HERE = Path(__file__).resolve().parent
RECBOLE_VENV = HERE / ".venv-recbole"
RECBOLE_PIP = ["torch==2.13.0", "recbole==1.2.1", "numpy<2", "scipy<1.12", "pandas<2.2"]

warnings.filterwarnings("ignore")


def ensure_recbole_venv() -> Path:
    python = RECBOLE_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(RECBOLE_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *RECBOLE_PIP], check=True)
    return python


def export_atomic(table: pl.DataFrame, folder: Path, name: str) -> None:
    """The same split as RecBole benchmark files ``<name>.{train,valid,test}.inter``."""
    folder.mkdir(parents=True, exist_ok=True)
    for split in ("train", "valid", "test"):
        part = table.filter(pl.col("split") == split).select(
            pl.col("user_id").alias("user_id:token"), pl.col("item_id").alias("item_id:token")
        )
        part.write_csv(folder / f"{name}.{split}.inter", separator="\t")


def run_ours(data: SplitData, epochs: int, seed: int, lr: float, device: str, reg: float) -> dict[str, float]:
    spec = RunSpec(epochs=epochs, lr=lr, seed=seed, reg_weight=reg)
    return {"engine": "llmhni", **train_and_test(spec, MethodInputs(data), device)}


def run_recbole(folder: Path, name: str, epochs: int, seed: int, lr: float, reg: float) -> dict[str, float]:
    python = ensure_recbole_venv()
    cmd = [
        str(python),
        str(HERE / "recbole_lightgcn.py"),
        "--data-path",
        str(folder.parent),
        "--dataset",
        name,
        "--epochs",
        str(epochs),
        "--seed",
        str(seed),
        "--lr",
        str(lr),
        "--reg",
        str(reg),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=folder.parent)
    if done.returncode != 0:
        raise RuntimeError(f"RecBole failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", default="amazon-book")
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--seeds", type=int, nargs="+", default=[2026])
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--reg", type=float, default=1e-5, help="L2 weight on the batch's ego embeddings")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--skip-recbole", action="store_true")
    parser.add_argument("--recbole-seeds", type=int, default=1, help="how many of --seeds RecBole also runs")
    args = parser.parse_args()

    spec = parse_dataset_key(args.dataset, default_lake_dir())
    stage0 = build_raw_interactions(spec, default_lake_dir(), default_shared_data_dir())
    data = SplitData.from_frame(stage0.interactions, stage0.n_users, stage0.n_items)
    print(
        f"# {args.dataset}: {data.n_users} users, {data.n_items} items, {data.train.n_edges} train edges; "
        f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
        f"device {resolve_device(args.device)}, torch {torch.__version__}",
        flush=True,
    )
    rows = []
    for seed in args.seeds:
        rows.append(run_ours(data, args.epochs, seed, args.lr, args.device, args.reg))
        print(json.dumps(rows[-1]), flush=True)
    if not args.skip_recbole:
        name = args.dataset.replace("-", "_")
        folder = HERE / "out" / "recbole" / name
        export_atomic(stage0.interactions, folder, name)
        for seed in args.seeds[: args.recbole_seeds]:
            rows.append({**run_recbole(folder, name, args.epochs, seed, args.lr, args.reg), "seed": seed})
            print(json.dumps(rows[-1]), flush=True)

    ours = [r for r in rows if r["engine"] == "llmhni"]
    theirs = [r for r in rows if r["engine"] == "recbole"]
    print("\n| engine | s/epoch | eval s | epochs | test R@20 | test N@10 |\n|---|---|---|---|---|---|")
    for label, group in (("llmhni_pipeline", ours), ("RecBole 1.2.1", theirs)):
        if group:
            print(
                f"| {label} ({len(group)} seed{'s' if len(group) > 1 else ''}) | "
                f"{statistics.mean(r['seconds_per_epoch'] for r in group):.2f} | "
                f"{statistics.mean(r['eval_seconds'] for r in group):.2f} | "
                f"{mean_std([r['epochs_run'] for r in group])} | {mean_std([r['test_recall@20'] for r in group])} | "
                f"{mean_std([r['test_ndcg@10'] for r in group])} |"
            )
    if ours and theirs:
        ratio = statistics.mean(r["seconds_per_epoch"] for r in ours) / statistics.mean(
            r["seconds_per_epoch"] for r in theirs
        )
        print(f"\nseconds/epoch ratio llmhni/RecBole = {ratio:.2f} (target ≤ 0.5)")
    print(
        f"full-ranking test evaluation of all users (this engine): "
        f"{statistics.mean(r['full_test_eval_seconds'] for r in ours):.2f} s (target ≤ 5 s)"
    )


if __name__ == "__main__":
    main()
