"""A judge trial before the bill: judge a few hundred candidate pairs, measure the judge's signal with confidence
intervals beside the recommender's, and project what full coverage would cost (issue 26).

The sample is seeded and stratified so that the things the judge is measured on are present: among the
high-scored negatives, held-out *validation* positives (true hard samples); among the low-scored positives of a
``-noiseNN`` partition, the injected edges (true noise). AUC does not depend on the classes' proportions, so
over-sampling the rare class changes the interval's width, not what it estimates. The pairs are judged exactly as
``llm_logical_scores`` judges them (``judging.judge_pairs``, the same cache): nothing a trial pays for is paid
again by the stage.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

from llmhni_pipeline.denoise.judge_quality import auc, pair_margin
from llmhni_pipeline.llm.accounting import call_cost
from llmhni_pipeline.llm.batch import BATCH_DISCOUNT


def _truth(candidates: pl.DataFrame, interactions: pl.DataFrame) -> pl.DataFrame:
    """Each candidate pair with ``truth``: a validation positive (neg_high) or an injected edge (pos_low)."""
    valid = interactions.filter(pl.col("split") == "valid").select(
        "user_id", "item_id", pl.lit(True).alias("v")
    )
    injected = interactions.filter(pl.col("is_injected")).select(
        "user_id", "item_id", pl.lit(True).alias("n")
    )
    return (
        candidates.join(valid, on=["user_id", "item_id"], how="left")
        .join(injected, on=["user_id", "item_id"], how="left")
        .with_columns(
            truth=pl.when(pl.col("kind") == "neg_high")
            .then(pl.col("v").fill_null(False))
            .otherwise(pl.col("n").fill_null(False))
        )
        .drop("v", "n")
    )


def trial_sample(
    candidates: pl.DataFrame, interactions: pl.DataFrame, n_pairs: int, seed: int = 2026
) -> pl.DataFrame:
    """``n_pairs`` candidate pairs (seeded): half high-scored negatives and half low-scored positives on a noisy
    partition (all negatives on a clean one, where the noise question has no answer), each half at most half
    true cases (all of them when rarer) and the rest drawn from the others; with a ``truth`` column."""
    table = _truth(candidates, interactions).with_row_index("_row")
    noisy = bool(interactions["is_injected"].any())
    kinds = ["neg_high", "pos_low"] if noisy else ["neg_high"]
    rng = np.random.default_rng(seed)
    picked: list[int] = []
    for i, kind in enumerate(kinds):
        side = n_pairs // len(kinds) + (n_pairs % len(kinds) if i == 0 else 0)
        block = table.filter(pl.col("kind") == kind)
        true_rows = block.filter(pl.col("truth"))["_row"].to_numpy()
        other_rows = block.filter(~pl.col("truth"))["_row"].to_numpy()
        n_true = min(len(true_rows), side // 2)
        n_other = min(len(other_rows), side - n_true)
        picked += rng.choice(true_rows, n_true, replace=False).tolist()
        picked += rng.choice(other_rows, n_other, replace=False).tolist()
    return table.filter(pl.col("_row").is_in(picked)).drop("_row")


def bootstrap_auc(
    scores: np.ndarray, labels: np.ndarray, resamples: int = 1000, seed: int = 0
) -> tuple[float, float, float]:
    """AUC and its 95% percentile-bootstrap interval (pairs resampled with replacement, seeded)."""
    scores, labels = np.asarray(scores, dtype=float), np.asarray(labels, dtype=bool)
    point = auc(scores, labels)
    if np.isnan(point):
        return point, float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(resamples):
        index = rng.integers(0, len(scores), len(scores))
        value = auc(scores[index], labels[index])
        if not np.isnan(value):
            draws.append(value)
    low, high = np.percentile(draws, [2.5, 97.5]) if draws else (float("nan"), float("nan"))
    return point, float(low), float(high)


@dataclass
class TrialBlock:
    question: str  # "hard" (validation positives among high-scored negatives) or "noise"
    pairs: int
    true_cases: int
    sample_base_rate: float
    partition_base_rate: float
    judge_auc: tuple[float, float, float]
    recommender_auc: tuple[float, float, float]


@dataclass
class TrialReport:
    blocks: list[TrialBlock] = field(default_factory=list)
    prompts: int = 0  # judge prompts the sample needed (cached ones included)
    judged_pairs: int = 0
    pairs_in_partition: int = 0
    tokens_in_per_prompt: float = 0.0
    projected_prompts: int = 0
    projected_tokens_in: int = 0
    costs: dict[str, tuple[float, float]] = field(default_factory=dict)  # model: (synchronous, batch) USD

    def lines(self) -> list[str]:
        def ci(v: tuple[float, float, float]) -> str:
            return f"{v[0]:.3f} [{v[1]:.3f}, {v[2]:.3f}]"

        out = [
            "question | pairs (true) | base rate, sample / partition | judge AUC [95% CI] | recommender AUC [95% CI]",
        ]
        for b in self.blocks:
            what = (
                "hard: validation positives among high-scored negatives"
                if b.question == "hard"
                else "noise: injected edges among low-scored positives (low score = noisy)"
            )
            out.append(
                f"{what} | {b.pairs} ({b.true_cases}) | {b.sample_base_rate:.3f} / {b.partition_base_rate:.3f} | "
                f"{ci(b.judge_auc)} | {ci(b.recommender_auc)}"
            )
        out.append(
            f"{self.judged_pairs} pairs judged with {self.prompts} prompts; full coverage of "
            f"{self.pairs_in_partition:,} pairs: about {self.projected_prompts:,} prompts, "
            f"{self.projected_tokens_in:,} input tokens ({self.tokens_in_per_prompt:.0f} per prompt)"
        )
        for model, (sync, batch) in self.costs.items():
            out.append(f"  {model}: about ${sync:.2f} synchronous, ${batch:.2f} with the Batch API")
        out.append("a judge is worth its price only where its AUC's interval lies above the recommender's")
        return out


def trial_report(
    sample: pl.DataFrame,
    scores: pl.DataFrame,
    partition: pl.DataFrame,
    interactions: pl.DataFrame,
    prompts: int,
    tokens_in: int,
    prices: dict[str, tuple[float, float]],
    models: list[str],
) -> TrialReport:
    """The trial's measurements. ``scores``: the sample's judgments in ``llm_logical_scores``' columns (user and
    item P(High)/P(Low), NaN where not judged); ``partition``: every candidate pair, for the base rates and the
    projection."""
    judged = sample.join(
        scores.select("user_id", "item_id", "kind", "user_p_high", "user_p_low", "item_p_high", "item_p_low"),
        on=["user_id", "item_id", "kind"],
    ).with_columns(margin=pair_margin(scores))
    judged = judged.filter(pl.col("margin").is_not_null())
    everything = _truth(partition, interactions)
    report = TrialReport(prompts=prompts, judged_pairs=judged.height, pairs_in_partition=partition.height)
    for question, kind, sign in (("hard", "neg_high", 1.0), ("noise", "pos_low", -1.0)):
        block = judged.filter(pl.col("kind") == kind)
        if question == "noise" and not interactions["is_injected"].any():
            continue
        if not block.height:
            continue
        y = block["truth"].to_numpy()
        report.blocks.append(
            TrialBlock(
                question,
                block.height,
                int(y.sum()),
                float(y.mean()),
                float(everything.filter(pl.col("kind") == kind)["truth"].mean()),
                bootstrap_auc(sign * block["margin"].to_numpy(), y),
                bootstrap_auc(sign * block["model_score"].to_numpy(), y),
            )
        )
    per_pair = prompts / max(sample.height, 1)
    report.tokens_in_per_prompt = tokens_in / max(prompts, 1)
    report.projected_prompts = round(per_pair * partition.height)
    report.projected_tokens_in = round(report.projected_prompts * report.tokens_in_per_prompt)
    for model in models:
        if model in prices:
            sync = call_cost(model, report.projected_tokens_in, report.projected_prompts, prices)
            report.costs[model] = (sync, BATCH_DISCOUNT * sync)
    return report
