"""Judge quality per second: one perspective of a seeded subset of users, several judge models, one table.

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/judge_variants.py ml-100k --users 150 \
        --models qwen2.5-coder-1.5b qwen2.5-coder-0.5b --perspective user --out benchmarks/results/x.jsonl

Reads the partition's ``candidate_pairs`` (or, with ``--candidates ease``, each user's top unseen items under
EASE), ``text_profiles`` and ``raw_interactions`` from the lake (materialize them first), judges the chosen perspective's prompts of every candidate pair of ``--users`` users (seeded)
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
from llmhni_pipeline.denoise.prompts import ITEM_CHARS, build_prompts
from llmhni_pipeline.lake import default_lake_dir, raw_dir, table_path
from llmhni_pipeline.llm.cache import CallCache
from llmhni_pipeline.llm.gateway import RunOptions, judge_prompts
from llmhni_pipeline.llm.local_backends import LlamaCppJudge
from llmhni_pipeline.llm.model_store import JUDGE_MODELS, installed_gguf
from llmhni_pipeline.semantic.vectors import user_item_matrices


def ease_candidates(raw: pl.DataFrame, users: np.ndarray, k: int) -> pl.DataFrame:
    """Top-``k`` unseen items under EASE (λ 100, training items masked) for each user in ``users``, as
    ``neg_high`` pairs."""
    import torch

    from llmhni_pipeline.recsys.baselines import ease_scorer
    from llmhni_pipeline.recsys.data import SplitData

    data = SplitData.from_frame(raw)
    score = ease_scorer(data.train, 100.0)
    values, indices = [], []
    for lo in range(0, data.n_users, 1024):  # the scorer takes contiguous blocks of users
        block = torch.arange(lo, min(lo + 1024, data.n_users))
        scores = score(block)
        rows, cols = data.train_sets.block(lo, int(block[-1]) + 1)
        scores[rows, cols] = -float("inf")
        top = scores.topk(k, dim=1)
        values.append(top.values)
        indices.append(top.indices)
    wanted = torch.from_numpy(np.asarray(users, dtype=np.int64))
    return pl.DataFrame(
        {
            "user_id": np.repeat(users, k).astype(np.int32),
            "item_id": torch.cat(indices)[wanted].flatten().numpy().astype(np.int32),
            "kind": ["neg_high"] * (len(users) * k),
            "model_score": torch.cat(values)[wanted].flatten().numpy(),
            "rank_within_user": np.tile(np.arange(1, k + 1), len(users)).astype(np.int16),
            "evidence_items": [[] for _ in range(len(users) * k)],
        },
        schema_overrides={"evidence_items": pl.List(pl.Int32)},
    )


def text_cosine(lake: Path, dataset: str, pairs: pl.DataFrame, raw: pl.DataFrame) -> np.ndarray | None:
    """Cosine of the user's and the item's profile embeddings (``llm_embeddings``, unprojected), when present:
    the text signal a judge should at least match."""
    path = table_path(lake, "llm_embeddings", dataset)
    if not path.is_file():
        return None
    n_users, n_items = int(raw["user_id"].max()) + 1, int(raw["item_id"].max()) + 1
    users, items = user_item_matrices(pl.read_parquet(path), n_users, n_items)
    u = users.numpy()[pairs["user_id"].to_numpy()]
    i = items.numpy()[pairs["item_id"].to_numpy()]
    return (u * i).sum(1) / (np.linalg.norm(u, axis=1) * np.linalg.norm(i, axis=1) + 1e-12)


def agreement(reference: np.ndarray | None, margin: np.ndarray, name: str) -> dict[str, object]:
    """How closely a judge's margins follow the first judge's on the same prompts (none for the first)."""
    if reference is None:
        return {}
    both = np.isfinite(reference) & np.isfinite(margin)
    return {
        "agreement_with": name,
        "margin_pearson": round(float(np.corrcoef(reference[both], margin[both])[0, 1]), 4),
        "margin_mean_abs_diff": round(float(np.abs(reference[both] - margin[both]).mean()), 4),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dataset")
    ap.add_argument("--users", type=int, default=150)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--models", nargs="+", default=["qwen2.5-coder-1.5b", "qwen2.5-coder-0.5b"])
    ap.add_argument("--perspective", choices=["user", "item"], default="user")
    ap.add_argument("--out", type=Path, help="append one JSON line per model")
    ap.add_argument(
        "--candidates",
        choices=["lake", "ease"],
        default="lake",
        help="lake: the partition's candidate_pairs; ease: each chosen user's top --k-neg unseen items under EASE "
        "(λ 100) as high-scored negatives, for a partition whose recommender is not trained yet",
    )
    ap.add_argument("--k-neg", type=int, default=2)
    ap.add_argument(
        "--users-with-positive",
        action="store_true",
        help="draw users among those with at least one validation positive among their candidates: more "
        "positives per prompt paid, an inflated base rate, the same pairs for every judge",
    )
    ap.add_argument(
        "--item-chars", type=int, default=ITEM_CHARS, help="characters of each item text in a prompt"
    )
    ap.add_argument(
        "--profiles",
        type=Path,
        nargs="+",
        help="text_profiles tables (Parquet) to compare, each with every model: an older profile template "
        "beside the lake's, say (default: the lake's table alone)",
    )
    args = ap.parse_args()

    lake = default_lake_dir()
    lake_profiles = table_path(lake, "text_profiles", args.dataset)
    profile_files = args.profiles or [lake_profiles]
    raw = pl.read_parquet(table_path(lake, "raw_interactions", args.dataset))
    rng = np.random.default_rng(args.seed)
    if args.candidates == "lake":
        pairs = pl.read_parquet(table_path(lake, "candidate_pairs", args.dataset))
    else:
        pairs = ease_candidates(
            raw, np.unique(raw.filter(pl.col("split") == "valid")["user_id"].to_numpy()), args.k_neg
        )
    valid = raw.filter(pl.col("split") == "valid").select(
        "user_id", "item_id", pl.lit(True).alias("in_valid")
    )
    pool = pairs
    if args.users_with_positive:
        pool = pairs.filter(pl.col("kind") == "neg_high").join(valid, on=["user_id", "item_id"])
    users = np.unique(pool["user_id"].to_numpy())
    chosen = np.sort(rng.choice(users, size=min(args.users, len(users)), replace=False))
    pairs = pairs.filter(pl.col("user_id").is_in(chosen.tolist())).sort("user_id", "kind", "rank_within_user")
    valid = raw.filter(pl.col("split") == "valid").select(
        "user_id", "item_id", pl.lit(True).alias("in_valid")
    )
    truth = pairs.join(valid, on=["user_id", "item_id"], how="left")["in_valid"].fill_null(False).to_numpy()
    neg = (pairs["kind"] == "neg_high").to_numpy()
    cosine = text_cosine(lake, args.dataset, pairs, raw)

    first_margin = None  # the first variant's margins: the others' agreement with it, prompt by prompt
    first_name = None
    for profile_file in profile_files:
        user_prompts, item_prompts = build_prompts(pairs, pl.read_parquet(profile_file), args.item_chars)
        prompts = user_prompts if args.perspective == "user" else item_prompts
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
                "profiles": "lake" if profile_file == lake_profiles else str(profile_file),
                "perspective": args.perspective,
                "candidates": args.candidates,
                "item_chars": args.item_chars,
                "users": int(len(chosen)),
                "users_with_positive_only": args.users_with_positive,
                "seed": args.seed,
                "prompts": len(prompts),
                "seconds": round(seconds, 1),
                "prompts_per_s": round(len(prompts) / seconds, 3),
                "tokens_per_prompt": round(float(tokens.mean()), 1),
                "neg_high_pairs": int(ok.sum()),
                "valid_base_rate": round(float(truth[ok].mean()), 4),
                "judge_auc_valid": round(auc(margin[ok], truth[ok]), 4),
                "recommender_auc_valid": round(auc(pairs["model_score"].to_numpy()[ok], truth[ok]), 4),
                "text_cosine_auc_valid": round(auc(cosine[ok], truth[ok]), 4) if cosine is not None else None,
                "share_high_fixed_0.5": round(float((margin[np.isfinite(margin)] >= 0.5).mean()), 4),
                **agreement(first_margin, margin, first_name or ""),
                "machine": platform.node(),
                "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            }
            print(json.dumps(record), flush=True)
            if args.out:
                with args.out.open("a") as out:
                    out.write(json.dumps(record) + "\n")
            del judge
            if first_margin is None:
                first_margin, first_name = margin, f"{name} on {profile_file.name}"


if __name__ == "__main__":
    main()
