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
    table = candidates_by(selector, z_u, z_i, data.graph_sets(), projected, k, k, held_out=data.valid)
    return {
        "dataset": dataset,
        "selector": selector,
        "k": k,
        "candidate_pairs": table.height,
        "prompts_first_view": table.height,
        **reach(table, raw),
        "validation_excluded": True,  # validation pairs are never candidates (issue 44; earlier records lack this)
        "seconds": round(time.perf_counter() - started, 2),
        "date": time.strftime("%Y-%m-%d"),
    }


def plot(records: list[dict], path: Path) -> None:
    """Reach against k, one panel per partition, one line per selector; the prompts on a second axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = list(dict.fromkeys(r["dataset"] for r in records))
    fig, axes = plt.subplots(1, len(datasets), figsize=(4.3 * len(datasets), 3.6), squeeze=False)
    for ax, dataset in zip(axes[0], datasets, strict=True):
        rows = [r for r in records if r["dataset"] == dataset]
        key = "reach_injected" if "reach_injected" in rows[0] else "reach_hidden"
        for selector in dict.fromkeys(r["selector"] for r in rows):
            line = sorted((r for r in rows if r["selector"] == selector), key=lambda r: r["k"])
            ax.plot([r["k"] for r in line], [100 * r[key] for r in line], marker="o", label=selector)
        ax.set_xscale("log")
        ax.set_xticks([2, 5, 10, 20, 50], ["2", "5", "10", "20", "50"])
        ax.minorticks_off()
        ax.set_ylim(0, 100)
        ax.set_xlabel("candidates per user and kind (k)")
        what = "injected edges" if key == "reach_injected" else "held-back edges"
        ax.set_ylabel(f"% of the {rows[0][key + '_planted']:,} {what} reached")
        ax.set_title(dataset)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("What a perfect judge could fix at most: reach against the candidate budget")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"{path}: written")


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
    parser.add_argument(
        "--png", help="also plot every record of --out and of --with (more record files) here"
    )
    parser.add_argument("--with", dest="more", nargs="*", default=[], help="more record files for --png")
    args = parser.parse_args()
    out = Path(args.out)
    done = set()
    if out.is_file():
        for line in out.read_text().splitlines():
            try:
                r = json.loads(line)
            except json.JSONDecodeError:
                continue
            if r.get(
                "validation_excluded"
            ):  # earlier records let validation pairs be candidates: measured anew
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
    if args.png:
        records = [
            json.loads(line)
            for p in [out, *map(Path, args.more)]
            for line in p.read_text().splitlines()
            if line
        ]
        newer = {
            (r["dataset"], r.get("selector", "recommender"), r["k"])
            for r in records
            if r.get("validation_excluded")
        }
        records = [  # where a budget was measured anew without validation pairs, that measurement
            r
            for r in records
            if r.get("validation_excluded")
            or (r["dataset"], r.get("selector", "recommender"), r["k"]) not in newer
        ]
        plot(records, Path(args.png))


if __name__ == "__main__":
    main()
