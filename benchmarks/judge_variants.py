"""Judge quality per second: one perspective of a seeded subset of users, several judge models, one table.

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/judge_variants.py ml-100k --users 150 \
        --models qwen2.5-coder-1.5b qwen2.5-coder-0.5b --perspective user --out benchmarks/results/x.jsonl

Reads the partition's ``candidate_pairs``, ``text_profiles`` and ``raw_interactions`` from the lake (materialize
them first), judges the chosen perspective's prompts of every candidate pair of ``--users`` users (seeded)
with each model in turn through the gateway, into a **temporary** cache (the lake's cache, and so the main job's
timing, is left alone), and reports per model: prompts/s, tokens evaluated per prompt, and — among the
high-scored negatives — the AUC of P(High) − P(Low) for picking the user's held-out *validation* positives,
beside the recommender's own AUC on the same pairs and the base rate (``denoise/judge_quality.py``).
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

from llmhni_pipeline.denoise.judge_quality import auc
from llmhni_pipeline.denoise.prompts import build_prompts
from llmhni_pipeline.lake import default_lake_dir, raw_dir, table_path
from llmhni_pipeline.llm.cache import CallCache
from llmhni_pipeline.llm.gateway import RunOptions, judge_prompts
from llmhni_pipeline.llm.local_backends import LlamaCppJudge
from llmhni_pipeline.llm.model_store import JUDGE_MODELS, installed_gguf


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dataset")
    ap.add_argument("--users", type=int, default=150)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--models", nargs="+", default=["qwen2.5-coder-1.5b", "qwen2.5-coder-0.5b"])
    ap.add_argument("--perspective", choices=["user", "item"], default="user")
    ap.add_argument("--out", type=Path, help="append one JSON line per model")
    args = ap.parse_args()

    lake = default_lake_dir()
    pairs = pl.read_parquet(table_path(lake, "candidate_pairs", args.dataset))
    profiles = pl.read_parquet(table_path(lake, "text_profiles", args.dataset))
    raw = pl.read_parquet(table_path(lake, "raw_interactions", args.dataset))
    users = np.unique(pairs["user_id"].to_numpy())
    chosen = np.random.default_rng(args.seed).choice(users, size=min(args.users, len(users)), replace=False)
    pairs = pairs.filter(pl.col("user_id").is_in(chosen.tolist())).sort("user_id", "kind", "rank_within_user")
    user_prompts, item_prompts = build_prompts(pairs, profiles)
    prompts = user_prompts if args.perspective == "user" else item_prompts
    valid = raw.filter(pl.col("split") == "valid").select(
        "user_id", "item_id", pl.lit(True).alias("in_valid")
    )
    truth = pairs.join(valid, on=["user_id", "item_id"], how="left")["in_valid"].fill_null(False).to_numpy()
    neg = (pairs["kind"] == "neg_high").to_numpy()

    for name in args.models:
        model = JUDGE_MODELS[name]
        judge = LlamaCppJudge(installed_gguf(model, raw_dir(lake) / "models"), model.name)
        with tempfile.TemporaryDirectory() as tmp:
            options = RunOptions(batch_size=2, report=lambda message: print(message, flush=True))
            start = time.perf_counter()
            answers, stats = judge_prompts(judge, prompts, CallCache(Path(tmp), "judgments"), options)
            seconds = time.perf_counter() - start
        margin = np.array([a.p_high - a.p_low if a else np.nan for a in answers])
        tokens = np.array([a.tokens_in if a else 0 for a in answers])
        ok = neg & np.isfinite(margin)
        record = {
            "dataset": args.dataset,
            "model": name,
            "perspective": args.perspective,
            "users": int(len(chosen)),
            "seed": args.seed,
            "prompts": len(prompts),
            "seconds": round(seconds, 1),
            "prompts_per_s": round(len(prompts) / seconds, 3),
            "tokens_per_prompt": round(float(tokens.mean()), 1),
            "neg_high_pairs": int(ok.sum()),
            "valid_base_rate": round(float(truth[ok].mean()), 4),
            "judge_auc_valid": round(auc(margin[ok], truth[ok]), 4),
            "recommender_auc_valid": round(auc(pairs["model_score"].to_numpy()[ok], truth[ok]), 4),
            "share_high_fixed_0.5": round(float((margin[np.isfinite(margin)] >= 0.5).mean()), 4),
            "machine": platform.node(),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        }
        print(json.dumps(record), flush=True)
        if args.out:
            with args.out.open("a") as out:
                out.write(json.dumps(record) + "\n")
        del judge


if __name__ == "__main__":
    main()
