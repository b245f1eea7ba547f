"""Training cost at 10⁶ and 10⁷ interactions on a GPU (issue 28, item 4): torch and numpy only, so it runs on the
device machine (no polars, no Dagster), with the data drawn there (the device's working tree is 64 MiB).

For each size: amazon-book-shaped synthetic interactions (``datasets/synth.draw_interactions``, the generator of
``llmhni datasets synth``), a seeded 8:1:1 split of the edges, then each method through the one recipe for a fixed
number of epochs; prints one JSON line per run (seconds per epoch, evaluation seconds, peak GPU memory). With
``--batch-scale`` the batch grows with the graph (2,048 × interactions / 200,000), one of the options for an epoch
whose full-graph propagations would otherwise grow as E²/B.

    PYTHONPATH=. python3 benchmarks/gpu_scale.py --sizes 1000000 10000000 --epochs 2 --methods lightgcn sgl
    .venv/bin/python benchmarks/gpu_scale.py --sizes 20000 --epochs 1 --device cpu        # the CPU check
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from llmhni_pipeline.datasets.synth import draw_interactions
from llmhni_pipeline.methods import MethodInputs
from llmhni_pipeline.recipe import RunSpec, train_and_test
from llmhni_pipeline.recsys.data import SplitData


def split(users: np.ndarray, items: np.ndarray, n_users: int, n_items: int, seed: int) -> SplitData:
    side = np.random.default_rng(seed).random(len(users))
    parts = {"train": side < 0.8, "valid": (side >= 0.8) & (side < 0.9), "test": side >= 0.9}
    return SplitData.from_splits({k: (users[m], items[m]) for k, m in parts.items()}, n_users, n_items)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--methods", nargs="+", default=["lightgcn", "sgl", "xsimgcl"])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-scale", action="store_true")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    for n in args.sizes:
        started = time.perf_counter()
        users, items, n_users, n_items = draw_interactions(n, seed=2026)
        data = split(users, items, n_users, n_items, seed=2026)
        drawn = time.perf_counter() - started
        batch = max(2048, round(2048 * n / 200_000)) if args.batch_scale else 2048
        for method in args.methods:
            if torch.cuda.is_available():
                torch.cuda.reset_peak_memory_stats()
            spec = RunSpec(
                method=method,
                epochs=args.epochs,
                min_epochs=0,
                patience=args.epochs + 1,
                lr=5e-3,
                batch_size=batch,
            )
            record = train_and_test(spec, MethodInputs(data), args.device)
            peak = torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else None
            print(
                json.dumps(
                    {
                        "interactions": n,
                        "users": n_users,
                        "items": n_items,
                        "method": method,
                        "batch_size": batch,
                        "epochs": args.epochs,
                        "seconds_per_epoch": round(record["seconds_per_epoch"], 3),
                        "eval_seconds": round(record["eval_seconds"], 3),
                        "device": record["device"],
                        "peak_gpu_gb": None if peak is None else round(peak, 2),
                        "data_seconds": round(drawn, 1),
                    }
                ),
                flush=True,
            )


if __name__ == "__main__":
    main()
