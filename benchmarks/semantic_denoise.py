"""Is semantic relevance a denoising signal? Measured before anything is built on it (issues 11 and 12).

For every training edge (u, i) of a lake partition: the cosine of the aligned (projected) LLM vectors of u's and
i's profiles, the same on the raw LLM vectors, and EASE's score of i from u's other items (the recommender's view;
in-sample, since EASE is fit on the same edges, noisy ones included). Then

1. on partitions with injected edges: the AUC of each score (low = suspicious) for picking the injected edges,
   against their base rate;
2. G′ = G minus the lowest-q share of edges by each score (a global quantile), fit with EASE and scored on the
   **validation** split with G's training items masked, paired over users against G (the same quick loop as
   ``augmented_graph``); with the precision and recall of the removals against ``is_injected``.

    .venv/bin/python benchmarks/semantic_denoise.py amazon-book-llard-noise10 --q 0.02 0.05 0.1 0.2

Needs ``raw_interactions``, ``llm_embeddings`` and ``aligned_projector`` of the partition. The test split is never
read. One JSON line per (score, q) is appended to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from llmhni_pipeline.denoise.graph_selection import paired_z  # noqa: E402
from llmhni_pipeline.denoise.judge_quality import auc  # noqa: E402
from llmhni_pipeline.recsys.baselines import ease_scorer, ease_valid_per_user  # noqa: E402
from llmhni_pipeline.recsys.data import SplitData  # noqa: E402
from llmhni_pipeline.recsys.graph import InteractionGraph  # noqa: E402
from llmhni_pipeline.semantic.projector import edge_cosines  # noqa: E402


def ease_edge_scores(train: InteractionGraph, l2: float, block: int = 2048) -> np.ndarray:
    """EASE's score x_u B at each training edge (u, i), read from ``ease_scorer`` a block of users at a time.
    diag(B) = 0, but B is fit on these very edges, so the score is in-sample, not leave-one-out."""
    score = ease_scorer(train, l2)
    out = np.empty(train.n_edges, dtype=np.float32)
    order = torch.argsort(train.users, stable=True)
    users, items = train.users[order], train.items[order]
    bounds = torch.searchsorted(users, torch.arange(0, train.n_users + block, block))
    for k, start in enumerate(range(0, train.n_users, block)):
        s = score(torch.arange(start, min(start + block, train.n_users)))
        lo, hi = int(bounds[k]), int(bounds[k + 1])
        out[order[lo:hi].numpy()] = s[users[lo:hi] - start, items[lo:hi]].numpy()
    return out


def main() -> None:
    import polars as pl

    from llmhni_pipeline.lake import default_lake_dir, table_path
    from llmhni_pipeline.semantic.vectors import user_item_matrices

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dataset")
    ap.add_argument("--q", type=float, nargs="+", default=[0.02, 0.05, 0.1, 0.2])
    ap.add_argument("--scores", nargs="+", default=["projected", "raw", "ease"])
    ap.add_argument("--l2", type=float, default=100.0)
    ap.add_argument("--out", default=str(Path(__file__).parent / "out" / "semantic_denoise.jsonl"))
    args = ap.parse_args()
    torch.set_num_threads(1)

    lake = default_lake_dir()
    raw = pl.read_parquet(table_path(lake, "raw_interactions", args.dataset))
    data = SplitData.from_frame(raw)
    train = data.train
    frame = raw.filter(pl.col("split") == "train")
    if frame.height != train.n_edges:
        raise SystemExit("train edges of raw_interactions and SplitData disagree")
    injected_by_key = dict(
        zip(
            (frame["user_id"].cast(pl.Int64) * data.n_items + frame["item_id"].cast(pl.Int64)).to_list(),
            frame["is_injected"].to_list(),
            strict=True,
        )
    )
    keys = (train.users * data.n_items + train.items).tolist()
    injected = np.array([injected_by_key[k] for k in keys], dtype=bool)

    scores: dict[str, np.ndarray] = {}
    t0 = time.perf_counter()
    for name, source in (("projected", "aligned_projector"), ("raw", "llm_embeddings")):
        if name in args.scores:
            u_vec, i_vec = user_item_matrices(
                pl.read_parquet(table_path(lake, source, args.dataset)), data.n_users, data.n_items
            )
            scores[name] = edge_cosines(u_vec, i_vec, train.users, train.items).numpy()
    if "ease" in args.scores:
        scores["ease"] = ease_edge_scores(train, args.l2)
    print(f"edge scores in {time.perf_counter() - t0:.0f} s", flush=True)

    base = ease_valid_per_user(data, train, args.l2)
    head = {
        "dataset": args.dataset,
        "train_edges": train.n_edges,
        "injected": int(injected.sum()),
        "base_rate": round(float(injected.mean()), 4),
        "ease_valid_recall@20_G": round(float(base["recall@20"].mean()), 5),
    }
    print(json.dumps(head), flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    for name, s in scores.items():
        row_auc = auc(-s, injected) if injected.any() else float("nan")
        for q in args.q:
            cut = np.quantile(s, q)
            drop = s <= cut
            keep = torch.from_numpy(~drop)
            g_prime = InteractionGraph(train.users[keep], train.items[keep], data.n_users, data.n_items)
            per_user = ease_valid_per_user(data, g_prime, args.l2)
            row = {
                **head,
                "score": name,
                "auc_injected": round(row_auc, 4),
                "q": q,
                "removed": int(drop.sum()),
                "precision": round(float(injected[drop].mean()), 4) if drop.any() else None,
                "recall": round(float(injected[drop].sum() / max(injected.sum(), 1)), 4),
                "ease_valid_recall@20_G_prime": round(float(per_user["recall@20"].mean()), 5),
                "z_vs_G": round(paired_z(per_user["recall@20"], base["recall@20"]), 2),
                "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            }
            print(json.dumps(row), flush=True)
            with out.open("a") as f:
                f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
