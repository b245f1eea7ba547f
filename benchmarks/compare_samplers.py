"""LightGCN with LLMHNI's semantic hard-negative sampler against its ablations, on one dataset partition.

    .venv/bin/python benchmarks/compare_samplers.py --dataset amazon-book-llard --samplers uniform semantic --seeds 1 2 3
    .venv/bin/python benchmarks/compare_samplers.py --dataset amazon-book-llard --timing-epochs 8   # overhead only

Needs the partition's ``aligned_projector`` and ``llm_embeddings`` tables in the lake (materialize module 1
first). Samplers: ``uniform``; ``semantic`` (projected vectors, the LLMHNI rule); ``dns`` (top-scored pool
members, no semantic filter: "w/o semantic sampling"); ``raw`` (semantic rule on raw LLM embeddings:
"w/o goal alignment"). Prints one JSON line per run and a mean ± std table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import warnings

import polars as pl
import torch

from llmhni_pipeline.datasets.interactions import build_raw_interactions
from llmhni_pipeline.datasets.registry import parse_dataset_key
from llmhni_pipeline.lake import default_lake_dir, default_shared_data_dir, table_path
from llmhni_pipeline.recsys.data import SplitData
from llmhni_pipeline.recsys.experiment import mean_std, train_and_test
from llmhni_pipeline.recsys.models import build_backbone
from llmhni_pipeline.recsys.sampling import build_negative_sampler
from llmhni_pipeline.recsys.train import BPRObjective, TrainSettings, fit
from llmhni_pipeline.semantic.vectors import user_item_matrices

warnings.filterwarnings("ignore")


def make_sampler(name: str, data: SplitData, vectors: dict[str, tuple[torch.Tensor, torch.Tensor]], args):
    return build_negative_sampler(
        name, data.train, vectors.get("projected"), vectors.get("raw"), args.pool, args.k_low, args.warmup
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", default="amazon-book-llard")
    parser.add_argument(
        "--samplers",
        nargs="+",
        default=["uniform", "semantic"],
        choices=["uniform", "semantic", "dns", "raw"],
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[1])
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--lr", type=float, default=5e-3)
    parser.add_argument("--pool", type=int, default=50)
    parser.add_argument("--k-low", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--timing-epochs", type=int, default=0, help="only time this many epochs per sampler")
    args = parser.parse_args()

    lake = default_lake_dir()
    stage0 = build_raw_interactions(parse_dataset_key(args.dataset, lake), lake, default_shared_data_dir())
    data = SplitData.from_frame(stage0.interactions, stage0.n_users, stage0.n_items)
    vectors = {}
    for kind, table in (("projected", "aligned_projector"), ("raw", "llm_embeddings")):
        path = table_path(lake, table, args.dataset)
        if path.is_file():
            vectors[kind] = user_item_matrices(pl.read_parquet(path), data.n_users, data.n_items)
    missing = {"semantic": "projected", "raw": "raw"}
    for name in args.samplers:
        if name in missing and missing[name] not in vectors:
            raise SystemExit(
                f"{args.dataset}: no {missing[name]} vectors in the lake; materialize module 1 first"
            )

    print(
        f"# {args.dataset}: {data.n_users} users, {data.n_items} items, {data.train.n_edges} train edges, "
        f"{torch.get_num_threads()} threads, {time.strftime('%Y-%m-%d')}",
        flush=True,
    )
    if args.timing_epochs:
        for name in args.samplers:
            torch.manual_seed(0)
            model = build_backbone("lightgcn", data.n_users, data.n_items)
            settings = TrainSettings(
                epochs=args.timing_epochs, lr=args.lr, device="cpu", patience=10**6, eval_every=10**6
            )
            sampler = make_sampler(name, data, vectors, argparse.Namespace(**{**vars(args), "warmup": 0}))
            result = fit(
                BPRObjective(model, data.train, settings.reg_weight, torch.device("cpu")),
                data,
                settings,
                sampler=sampler,
            )
            per_epoch = statistics.mean(r["train_seconds"] for r in result.history[1:])
            print(json.dumps({"sampler": name, "seconds_per_epoch_incl_refresh": per_epoch}), flush=True)
        return

    rows = []
    for seed in args.seeds:
        for name in args.samplers:
            settings = TrainSettings(epochs=args.epochs, lr=args.lr, seed=seed, device="cpu")
            rows.append(train_and_test(data, settings, sampler=make_sampler(name, data, vectors, args)))
            print(json.dumps(rows[-1]), flush=True)
    print(
        "\n| sampler | seeds | epochs (best) | test R@20 | test N@10 | s/epoch |\n|---|---|---|---|---|---|"
    )
    for name in args.samplers:
        group = [r for r in rows if r["sampler"] == name]
        print(
            f"| {name} | {len(group)} | {statistics.mean(r['best_epoch'] for r in group):.0f} | "
            f"{mean_std([r['test_recall@20'] for r in group])} | {mean_std([r['test_ndcg@10'] for r in group])} | "
            f"{statistics.mean(r['seconds_per_epoch'] for r in group):.2f} |"
        )


if __name__ == "__main__":
    main()
