"""Training cost at 10⁶ and 10⁷ interactions on a GPU (issue 28, item 4): torch and numpy only, so it runs on the
device machine (no polars, no Dagster), with the data drawn there (the device's working tree is 64 MiB).

For each size: amazon-book-shaped synthetic interactions (``datasets/synth.draw_interactions``, the generator of
``llmhni datasets synth``), a seeded 8:1:1 split of the edges, then each method through the one recipe for a fixed
number of epochs; prints one JSON line per run (seconds per epoch, evaluation seconds, peak GPU memory). With
``--batch-scale`` the batch grows with the graph (2,048 × interactions / 200,000), one of the options for an epoch
whose full-graph propagations would otherwise grow as E²/B. With ``--steps K`` each method times K optimisation
steps at the batch (after 3 warm-up steps; the same objective, sampler and Adam step as the recipe's loop) instead
of training whole epochs, and reports the epoch they imply (steps per epoch × seconds per step): at 10⁷ edges and
batch 2,048 an epoch is about 3,900 full-graph steps, which K steps measure at a fraction of the device time.

    PYTHONPATH=. python3 benchmarks/gpu_scale.py --sizes 1000000 10000000 --epochs 2 --methods lightgcn sgl
    PYTHONPATH=. python3 benchmarks/gpu_scale.py --sizes 1000000 10000000 --steps 40 --methods lightgcn sgl xsimgcl
    .venv/bin/python benchmarks/gpu_scale.py --sizes 20000 --epochs 1 --device cpu        # the CPU check
"""

from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np
import torch

from llmhni_pipeline.datasets.synth import draw_interactions
from llmhni_pipeline.methods import MethodInputs
from llmhni_pipeline.recipe import RunSpec, prepare, train_and_test
from llmhni_pipeline.recsys.data import SplitData
from llmhni_pipeline.recsys.device import resolve_device

WARM_UP_STEPS = 3


def split(users: np.ndarray, items: np.ndarray, n_users: int, n_items: int, seed: int) -> SplitData:
    side = np.random.default_rng(seed).random(len(users))
    parts = {"train": side < 0.8, "valid": (side >= 0.8) & (side < 0.9), "test": side >= 0.9}
    return SplitData.from_splits({k: (users[m], items[m]) for k, m in parts.items()}, n_users, n_items)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_steps(spec: RunSpec, data: SplitData, steps: int, device: str) -> dict[str, float]:
    """Seconds per optimisation step of ``spec``'s method at its batch size, over ``steps`` steps after the
    warm-up: the recipe's own preparation (``recipe.prepare``) and Adam, without the epoch around them."""
    dev = resolve_device(device)
    model, plan, generator = prepare(spec, MethodInputs(data), dev)
    optimizer = torch.optim.Adam(plan.objective.parameters(), lr=spec.lr)
    plan.objective.start_epoch(1, generator)
    model.train()
    total = steps + WARM_UP_STEPS
    order = torch.randperm(plan.positives.n_edges, generator=generator)[: total * spec.batch_size]
    users, items = plan.positives.users[order], plan.positives.items[order]
    negatives = plan.sampler.sample(users, generator)
    started = 0.0
    for i in range(total):
        if i == WARM_UP_STEPS:
            sync(dev)
            started = time.perf_counter()
        lo, hi = i * spec.batch_size, (i + 1) * spec.batch_size
        loss, _ = plan.objective.loss(users[lo:hi].to(dev), items[lo:hi].to(dev), negatives[lo:hi].to(dev))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    sync(dev)
    per_step = (time.perf_counter() - started) / steps
    steps_per_epoch = math.ceil(plan.positives.n_edges / spec.batch_size)
    return {
        "seconds_per_step": round(per_step, 5),
        "steps_timed": steps,
        "steps_per_epoch": steps_per_epoch,
        "seconds_per_epoch": round(per_step * steps_per_epoch, 2),
        "device": str(dev),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--methods", nargs="+", default=["lightgcn", "sgl", "xsimgcl"])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-scale", action="store_true")
    parser.add_argument("--steps", type=int, default=0, help="time this many steps instead of whole epochs")
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
            if args.steps:
                timing = time_steps(spec, data, args.steps, args.device)
            else:
                record = train_and_test(spec, MethodInputs(data), args.device)
                timing = {
                    "epochs": args.epochs,
                    "seconds_per_epoch": round(record["seconds_per_epoch"], 3),
                    "eval_seconds": round(record["eval_seconds"], 3),
                    "device": record["device"],
                }
            peak = torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else None
            row = {
                "interactions": n,
                "users": n_users,
                "items": n_items,
                "method": method,
                "batch_size": batch,
                **timing,
                "peak_gpu_gb": None if peak is None else round(peak, 2),
                "data_seconds": round(drawn, 1),
            }
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
