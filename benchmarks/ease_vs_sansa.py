"""Issue 28: exact EASE against SANSA (Spišák et al., RecSys 2023; PyPI ``sansa``), its sparse approximate inverse.

Each method runs in a child process of its own, so its peak RSS is its own. Fit on the partition's training
split, then recall@20 and ndcg@20 on validation and on test (training items masked) through the project's own
evaluator. SANSA's weight density is chosen on validation; EASE's λ is the pipeline's (100, method_spec §13.3),
and SANSA gets the same λ.

    .venv/bin/python benchmarks/ease_vs_sansa.py amazon-book --densities 1e-3 5e-3 2e-2 --out benchmarks/results/2026-12-04-cpu/ease_vs_sansa.jsonl
    .venv/bin/python benchmarks/ease_vs_sansa.py s1e6 --lake /tmp/lake28 --methods sansa --densities 5e-3

Needs ``pip install sansa`` (it builds scikit-sparse against Debian's libsuitesparse-dev).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from llmhni_pipeline.lake import default_lake_dir, table_path
from llmhni_pipeline.recsys.baselines import ease_scorer, sansa_scorer
from llmhni_pipeline.recsys.data import SplitData
from llmhni_pipeline.recsys.evaluate import evaluate_per_user


def child(args: argparse.Namespace) -> None:
    lake = Path(args.lake) if args.lake else default_lake_dir()
    data = SplitData.from_frame(pl.read_parquet(table_path(lake, "raw_interactions", args.dataset)))
    started = time.perf_counter()
    if args.method == "ease":
        scorer = ease_scorer(data.train, args.l2)
    else:
        # the pipeline's scorer, at the density asked for (weights per item = density × items)
        scorer = sansa_scorer(data.train, args.l2, args.density * data.n_items, factorizer=args.factorizer)
    fit_s = time.perf_counter() - started
    out = {}
    for split in ("valid", "test"):
        per_user = evaluate_per_user(scorer, getattr(data, split), data.train_sets, ks=(20,))
        out.update({f"{split}_{k}": round(float(per_user[k].mean()), 5) for k in ("recall@20", "ndcg@20")})
    print(json.dumps({
        "dataset": args.dataset, "method": args.method, "l2": args.l2,
        "density": args.density if args.method == "sansa" else None,
        "factorizer": args.factorizer if args.method == "sansa" else None,
        "items": data.train.n_items, "edges": data.train.n_edges, "fit_s": round(fit_s, 2),
        "total_s": round(time.perf_counter() - started, 2),
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2), **out,
    }))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("dataset")
    parser.add_argument("--lake")
    parser.add_argument("--l2", type=float, default=100.0)
    parser.add_argument("--methods", nargs="+", default=["ease", "sansa"])
    parser.add_argument("--densities", nargs="+", type=float, default=[5e-3])
    parser.add_argument("--factorizer", choices=["icf", "cholmod"], default="icf")
    parser.add_argument("--method", help=argparse.SUPPRESS)
    parser.add_argument("--density", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.method:
        return child(args)
    runs = [("ease", None)] if "ease" in args.methods else []
    runs += [("sansa", d) for d in args.densities] if "sansa" in args.methods else []
    date = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    for method, density in runs:
        argv = [sys.executable, __file__, args.dataset, "--method", method, "--l2", str(args.l2)]
        argv += ["--factorizer", args.factorizer]
        argv += (["--lake", args.lake] if args.lake else []) + (
            ["--density", str(density)] if density else []
        )
        done = subprocess.run(argv, capture_output=True, text=True)
        if done.returncode:
            print(f"{method} {density}: failed\n{done.stderr[-2000:]}", flush=True)
            continue
        record = {**json.loads(done.stdout.strip().splitlines()[-1]), "date": date}
        print(json.dumps(record), flush=True)
        if args.out:
            with args.out.open("a") as out:
                out.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
