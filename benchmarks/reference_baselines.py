"""MostPop and EASE test metrics on dataset partitions: the anchors every quality claim is read against.

    .venv/bin/python benchmarks/reference_baselines.py amazon-book amazon-book-llard --ease-l2 100

EASE is fit on the training split the models see (under ``llard`` that excludes the carved validation slice).
"""

from __future__ import annotations

import argparse
import time
import warnings

from llmhni_pipeline.datasets.interactions import build_raw_interactions
from llmhni_pipeline.datasets.registry import parse_dataset_key
from llmhni_pipeline.lake import default_lake_dir, default_shared_data_dir
from llmhni_pipeline.recsys.baselines import ease_scorer, most_popular_scorer
from llmhni_pipeline.recsys.data import SplitData
from llmhni_pipeline.recsys.evaluate import evaluate_ranking

warnings.filterwarnings("ignore")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("datasets", nargs="+")
    parser.add_argument("--ease-l2", type=float, default=100.0)
    args = parser.parse_args()
    print("| dataset | model | R@10 | R@20 | N@10 | N@20 | seconds |\n|---|---|---|---|---|---|---|")
    for key in args.datasets:
        stage0 = build_raw_interactions(
            parse_dataset_key(key, default_lake_dir()), default_lake_dir(), default_shared_data_dir()
        )
        data = SplitData.from_frame(stage0.interactions, stage0.n_users, stage0.n_items)
        for name in ("MostPop", f"EASE λ={args.ease_l2:g}"):
            t = time.perf_counter()
            scorer = (
                most_popular_scorer(data.train)
                if name == "MostPop"
                else ease_scorer(data.train, args.ease_l2)
            )
            m = evaluate_ranking(scorer, data.test, data.train_valid_sets)
            print(
                f"| {key} | {name} | {m['recall@10']:.4f} | {m['recall@20']:.4f} | {m['ndcg@10']:.4f} | "
                f"{m['ndcg@20']:.4f} | {time.perf_counter() - t:.1f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
