"""Reach against the candidate budget: what share of the planted truth the candidates hold, and the prompts they
cost, for k_pos = k_neg = k (no training, no judge: minutes).

A perfect judge can fix at most what the candidates hold: the injected edges among the low-scored positives of a
``-noiseNN`` partition, the held-back edges among the high-scored unseen items of a ``-hideNN`` one. Reads the
lake's ``raw_interactions`` and ``pretrained_recommender`` of each partition (materialize them first) and scores
candidates exactly as ``candidate_pairs`` does (``denoise.candidates.select_candidates``):

    .venv/bin/python benchmarks/reach_curves.py ml-100k-noise10 ml-100k-hide10 --k 2 5 10 20 50 \\
        --selectors recommender semantic union --out benchmarks/results/reach.jsonl

Each (partition, k) appends one JSON record to ``--out``; a record already there is not computed again. Prompts:
one user-centric prompt a pair plus the item-centric one for a share of them; the first view alone is what the
table's ``prompts_first_view`` counts.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))


def reach_record(dataset: str, k: int, selector: str = "recommender") -> dict[str, object]:
    import polars as pl

    from llmhni_pipeline.denoise.candidates import candidates_by
    from llmhni_pipeline.denoise.truth import reach
    from llmhni_pipeline.lake import default_lake_dir, read_table, table_path
    from llmhni_pipeline.recsys.checkpoint import ModelStore
    from llmhni_pipeline.recsys.data import SplitData
    from llmhni_pipeline.semantic.vectors import user_item_matrices

    lake = default_lake_dir()
    raw = pl.read_parquet(table_path(lake, "raw_interactions", dataset))
    data = SplitData.from_frame(raw)
    z_u, z_i, _ = ModelStore(lake).embeddings("pretrained_recommender", dataset, data.train)
    projected = None
    if selector != "recommender":
        projected = user_item_matrices(
            read_table(lake, "aligned_projector", dataset), data.n_users, data.n_items
        )
    started = time.perf_counter()
    table = candidates_by(selector, z_u, z_i, data.graph_sets(), projected, k, k)
    return {
        "dataset": dataset,
        "selector": selector,
        "k": k,
        "candidate_pairs": table.height,
        "prompts_first_view": table.height,
        **reach(table, raw),
        "seconds": round(time.perf_counter() - started, 2),
        "date": time.strftime("%Y-%m-%d"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("datasets", nargs="+")
    parser.add_argument("--k", type=int, nargs="+", default=[2, 5, 10, 20, 50])
    parser.add_argument(
        "--selectors", nargs="+", default=["recommender"], help="recommender, semantic, union"
    )
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    out = Path(args.out)
    done = set()
    if out.is_file():
        for line in out.read_text().splitlines():
            try:
                r = json.loads(line)
            except json.JSONDecodeError:
                continue
            done.add((r["dataset"], r.get("selector", "recommender"), r["k"]))
    out.parent.mkdir(parents=True, exist_ok=True)
    from benchmarks.llmhni_experiments import end_cut_line

    end_cut_line(out)
    for dataset in args.datasets:
        for selector in args.selectors:
            for k in args.k:
                if (dataset, selector, k) in done:
                    print(f"{dataset} {selector} k={k}: recorded", flush=True)
                    continue
                record = reach_record(dataset, k, selector)
                with out.open("a") as f:
                    f.write(json.dumps(record) + "\n")
                print(json.dumps(record), flush=True)


if __name__ == "__main__":
    main()
