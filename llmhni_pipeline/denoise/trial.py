"""A judge trial before the bill: judge a few hundred candidate pairs, measure the judge's signal with confidence
intervals beside the recommender's, and project what full coverage would cost.

The sample is seeded and stratified so that the things the judge is measured on are present (``truth``): among
the high-scored negatives, the held-back edges of a ``-hideNN`` partition; among the low-scored positives, the
injected edges of a ``-noiseNN`` partition, else random pairs planted for the trial (``truth.noise_probes``): the
truth the judge-worth curve's x-axis is measured on, so the gate compares like with like.
AUC does not depend on the classes' proportions, so over-sampling the rare class changes the interval's width,
not what it estimates. The pairs are judged exactly as
``llm_logical_scores`` judges them (``judging.judge_pairs``, the same cache): nothing a trial pays for is paid
again by the stage.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from llmhni_pipeline.denoise.judge_quality import auc, pair_margin
from llmhni_pipeline.denoise.judging import PairJudgments, sent_prompts
from llmhni_pipeline.denoise.truth import (
    PROBE,
    PROBE_Q,
    Question,
    gate_questions,
    questions,
    reach,
    with_truth,
)
from llmhni_pipeline.llm.accounting import DEFAULT_PRICES, call_cost
from llmhni_pipeline.llm.batch import BATCH_DISCOUNT, batch_lines, estimated_tokens
from llmhni_pipeline.llm.interfaces import JudgePrompt
from llmhni_pipeline.llm.labels import LabelThresholds


def sampled_questions(interactions: pl.DataFrame, candidates: pl.DataFrame | None = None) -> list[Question]:
    """One question per candidate kind that has one: held-back edges among the high-scored negatives of a
    ``-hideNN`` partition; injected edges (else the probes among ``candidates``) against the low-scored
    positives."""
    asked = {q.kind: q for q in questions(interactions, candidates)}
    return [asked[kind] for kind in ("neg_high", "pos_low") if kind in asked]


def trial_sample(
    candidates: pl.DataFrame, interactions: pl.DataFrame, n_pairs: int, seed: int = 2026
) -> pl.DataFrame:
    """``n_pairs`` candidate pairs (seeded), split evenly between the ``sampled_questions``' kinds, each half at
    most half true cases (all of them when rarer: held-back, validation or injected edges) and the rest drawn
    from the others; with a ``truth`` column marking those cases."""
    asked = sampled_questions(interactions, candidates)
    rng = np.random.default_rng(seed)
    parts = []
    for i, question in enumerate(asked):
        side = n_pairs // len(asked) + (n_pairs % len(asked) if i == 0 else 0)
        block = with_truth(candidates.with_row_index("_row"), interactions, question)
        if question.name == "noise":  # the case of interest is the injected edge
            block = block.with_columns(truth=~pl.col("truth"))
        true_rows = block.filter(pl.col("truth"))["_row"].to_numpy()
        other_rows = block.filter(~pl.col("truth"))["_row"].to_numpy()
        n_true = min(len(true_rows), side // 2)
        n_other = min(len(other_rows), side - n_true)
        picked = rng.choice(true_rows, n_true, replace=False).tolist()
        picked += rng.choice(other_rows, n_other, replace=False).tolist()
        parts.append(block.filter(pl.col("_row").is_in(picked)))
    if not parts:  # nothing to measure on (no planted edge, no probe): an empty sample, and the gate says so
        return candidates.head(0).with_columns(truth=pl.lit(False))
    return pl.concat(parts).sort("_row").drop("_row")


def bootstrap_auc(
    scores: np.ndarray, labels: np.ndarray, resamples: int = 1000, seed: int = 0
) -> tuple[float, float, float]:
    """AUC and its 95% percentile-bootstrap interval (pairs resampled with replacement, seeded)."""
    point, low, high = bootstrap_mean_auc([(scores, labels)], resamples, seed)
    return point, low, high


def bootstrap_mean_auc(
    blocks: list[tuple[np.ndarray, np.ndarray]], resamples: int = 1000, seed: int = 0
) -> tuple[float, float, float]:
    """The mean AUC over ``blocks`` (scores, labels) and its 95% percentile-bootstrap interval, each block's pairs
    resampled with replacement within the block (seeded)."""
    blocks = [(np.asarray(s, dtype=float), np.asarray(y, dtype=bool)) for s, y in blocks]
    points = [auc(s, y) for s, y in blocks]
    if not blocks or any(np.isnan(p) for p in points):
        return float("nan"), float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(resamples):
        values = []
        for s, y in blocks:
            index = rng.integers(0, len(s), len(s))
            values.append(auc(s[index], y[index]))
        if not any(np.isnan(v) for v in values):
            draws.append(float(np.mean(values)))
    low, high = np.percentile(draws, [2.5, 97.5]) if draws else (float("nan"), float("nan"))
    return float(np.mean(points)), float(low), float(high)


@dataclass
class TrialBlock:
    question: Question
    pairs: int
    true_cases: int  # the cases of interest: held-back or injected edges, probes
    sample_base_rate: float
    partition_base_rate: float
    judge_auc: tuple[float, float, float]
    recommender_auc: tuple[float, float, float]


def _ci(v: tuple[float, float, float]) -> str:
    return f"{v[0]:.3f} [{v[1]:.3f}, {v[2]:.3f}]"


@dataclass
class TrialReport:
    blocks: list[TrialBlock] = field(default_factory=list)
    # the judge's worth: mean AUC over the gate's questions (planted where there are some), with its interval
    judge_auc: tuple[float, float, float] = (float("nan"), float("nan"), float("nan"))
    gate_questions: list[str] = field(default_factory=list)
    prompts: int = 0  # judge prompts the sample needed (cached ones included)
    judged_pairs: int = 0
    pairs_in_partition: int = 0
    tokens_in_per_prompt: float = 0.0
    projected_prompts: int = 0
    projected_tokens_in: int = 0
    costs: dict[str, tuple[float, float]] = field(default_factory=dict)  # model: (synchronous, batch) USD
    # on a planted partition, the share of the planted edges the candidates hold (``truth.reach``): a perfect
    # judge of these candidates can fix at most that
    reach: dict[str, float | int] = field(default_factory=dict)

    def lines(self) -> list[str]:
        out = [
            "question | pairs (cases) | case rate, sample / partition | judge AUC [95% CI] | recommender AUC [95% CI]",
        ]
        for b in self.blocks:
            out.append(
                f"{b.question.name}: {b.question.description} | {b.pairs} ({b.true_cases}) | "
                f"{b.sample_base_rate:.3f} / {b.partition_base_rate:.3f} | {_ci(b.judge_auc)} | {_ci(b.recommender_auc)}"
            )
        out.append(
            f"the judge's worth, AUC over {' and '.join(self.gate_questions)} [95% CI]: {_ci(self.judge_auc)}"
        )
        for name, verb in (("injected", "remove"), ("hidden", "add back")):
            if f"reach_{name}" in self.reach:
                what = "injected" if name == "injected" else "held-back"
                out.append(
                    f"reach: the candidates hold {self.reach[f'reach_{name}']:.0%} of the {what} edges "
                    f"({self.reach[f'reach_{name}_candidates']:,} of {self.reach[f'reach_{name}_planted']:,}): a "
                    f"perfect judge can {verb} at most those (raise candidate_pairs' k_pos/k_neg to reach more)"
                )
        out.append(
            f"{self.judged_pairs} pairs judged with {self.prompts} prompts; full coverage of "
            f"{self.pairs_in_partition:,} pairs: about {self.projected_prompts:,} prompts, "
            f"{self.projected_tokens_in:,} input tokens ({self.tokens_in_per_prompt:.0f} per prompt)"
        )
        for model, (sync, batch) in self.costs.items():
            out.append(f"  {model}: about ${sync:.2f} synchronous, ${batch:.2f} with the Batch API")
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
    row_prompts: np.ndarray | None = None,
) -> TrialReport:
    """The trial's measurements. ``scores``: the sample's judgments in ``llm_logical_scores``' columns (user and
    item P(High)/P(Low), NaN where not judged); ``partition``: every candidate pair (probes too), for the base
    rates and the projection: of the candidates alone (probes are judged by the trial only), kind by kind at the
    prompts per pair the sample's pairs of that kind needed (``row_prompts``, one count per sample row; a kind the
    sample did not hold at the rate of those it did)."""
    judged = (
        sample.drop("truth", strict=False)
        .join(
            scores.select(
                "user_id", "item_id", "kind", "user_p_high", "user_p_low", "item_p_high", "item_p_low"
            ),
            on=["user_id", "item_id", "kind"],
        )
        .with_columns(margin=pair_margin(scores))
    )
    judged = judged.filter(pl.col("margin").is_not_null())
    candidates = partition.filter(pl.col("kind") != PROBE)
    report = TrialReport(
        prompts=prompts,
        judged_pairs=judged.height,
        pairs_in_partition=candidates.height,
        reach=reach(candidates, interactions),
    )
    gate = {q.name for q in gate_questions(interactions, sample)}
    gate_blocks = []
    nan3 = (float("nan"),) * 3
    for question in questions(interactions, sample):
        block = with_truth(judged, interactions, question)
        if not block.height:
            continue
        y = block["truth"].to_numpy()
        case = ~y if question.name == "noise" else y
        whole = with_truth(candidates, interactions, question)["truth"].to_numpy()
        partition_rate = (
            float((~whole if question.name == "noise" else whole).mean()) if len(whole) else float("nan")
        )
        probed = (
            question is PROBE_Q
        )  # planted for the trial: no base rate in the partition, no recommender score
        report.blocks.append(
            TrialBlock(
                question,
                block.height,
                int(case.sum()),
                float(case.mean()),
                float("nan") if probed else partition_rate,
                bootstrap_auc(block["margin"].to_numpy(), y),
                nan3 if probed else bootstrap_auc(block["model_score"].to_numpy(), y),
            )
        )
        if question.name in gate:
            gate_blocks.append((block["margin"].to_numpy(), y))
            report.gate_questions.append(question.name)
    report.judge_auc = bootstrap_mean_auc(gate_blocks)
    kinds = sample["kind"].to_numpy()
    if row_prompts is None:
        row_prompts = np.full(sample.height, prompts / max(sample.height, 1))
    sampled = kinds != PROBE
    overall = float(row_prompts[sampled].mean()) if sampled.any() else 0.0
    projected = sum(
        n * (float(row_prompts[kinds == kind].mean()) if (kinds == kind).any() else overall)
        for kind, n in candidates.group_by("kind").len().iter_rows()
    )
    report.tokens_in_per_prompt = tokens_in / max(prompts, 1)
    report.projected_prompts = round(projected)
    report.projected_tokens_in = round(report.projected_prompts * report.tokens_in_per_prompt)
    for model in models:
        if model in prices:
            sync = call_cost(model, report.projected_tokens_in, report.projected_prompts, prices)
            report.costs[model] = (sync, BATCH_DISCOUNT * sync)
    return report


COVERAGES = ("auto", "full", "trial")


@dataclass(frozen=True)
class GateDecision:
    """Whether ``llm_logical_scores`` judges every candidate pair, after judging the trial's sample (``auto``)."""

    coverage: str  # auto | full | trial
    judge_rest: bool
    judge_auc: tuple[float, float, float]  # point and 95% interval over the questions below (NaN: no trial)
    questions: tuple[str, ...]
    break_even_auc: float | None  # None: on the curve read, no judge (a perfect one included) made G′ beat G
    reason: str
    break_even_source: str = ""  # which curve (partition, rule, budget) the break-even was read from

    def metadata(self, unjudged: int = 0, pairs: int = 0) -> dict[str, object]:
        """The decision as stage metadata; ``unjudged`` of ``pairs`` were left without an answer (a cap, failures)
        where the gate chose to judge every pair, and the decision says so."""
        decision = "judged the trial sample only"
        if self.judge_rest:
            decision = (
                f"chose to judge every pair; {pairs - unjudged:,} of {pairs:,} are judged, {unjudged:,} not yet "
                "(materialize again to continue)"
                if unjudged
                else "judged every pair"
            )
        out: dict[str, object] = {
            "coverage": self.coverage,
            "coverage_decision": decision,
            "coverage_reason": self.reason,
            "break_even_auc": "none: no judge pays" if self.break_even_auc is None else self.break_even_auc,
            "break_even_source": self.break_even_source,
        }
        if not np.isnan(self.judge_auc[0]):
            out |= {
                "trial_judge_auc": round(self.judge_auc[0], 4),
                "trial_judge_auc_low": round(self.judge_auc[1], 4),
                "trial_judge_auc_high": round(self.judge_auc[2], 4),
                "trial_questions": ", ".join(self.questions),
            }
        return out


def decide(
    coverage: str,
    judge_auc: tuple[float, float, float],
    questions_asked: list[str],
    break_even_auc: float | None,
    source: str = "",
) -> GateDecision:
    """``full`` judges everything; ``trial`` stops after the sample; ``auto`` judges the rest only when the upper
    end of the judge's 95% interval reaches the break-even AUC (below it, no judge of that quality is measured to
    make G′ beat G; ``None``: on the curve read, none at all did), and stops when the sample held no case to
    measure it on. ``source``: where the break-even comes from, named in the reason."""
    if coverage not in COVERAGES:
        raise ValueError(f"coverage must be one of {', '.join(COVERAGES)}, not {coverage!r}")
    asked = tuple(questions_asked)
    interval = f"{judge_auc[0]:.3f} [{judge_auc[1]:.3f}, {judge_auc[2]:.3f}]"
    what = " and ".join(asked) or "no question"
    where = f" ({source})" if source else ""

    def decision(judge_rest: bool, reason: str) -> GateDecision:
        return GateDecision(coverage, judge_rest, judge_auc, asked, break_even_auc, reason, source)

    if coverage == "full":
        return decision(True, "coverage: full")
    if coverage == "trial":
        return decision(False, f"coverage: trial; judge AUC ({what}) {interval}")
    if np.isnan(judge_auc[2]):
        return decision(
            False,
            "the trial sample held no case to measure the judge on (no held-back, injected or planted pair among "
            "its pairs), so its worth is unknown; set coverage: full to judge every pair anyway",
        )
    if break_even_auc is None:
        return decision(
            False,
            f"judge AUC ({what}) {interval}, but no judge, a perfect one included, was measured to make G′ beat G "
            f'by 2 SE{where}; G′ = G (a larger candidate budget may pay: docs/results.md, "What a judge is '
            'worth"; coverage: full judges every pair anyway)',
        )
    if judge_auc[2] >= break_even_auc:
        return decision(
            True, f"judge AUC ({what}) {interval} reaches the break-even AUC {break_even_auc:.2f}{where}"
        )
    return decision(
        False,
        f"judge AUC ({what}) {interval}: even its upper end is below the break-even AUC {break_even_auc:.2f}{where}, "
        "under which G′ was not measured to beat G; G′ = G",
    )


@dataclass
class TrialRun:
    """A trial judged: the sample's positions among the pairs, its judgments, the report, and how long it took."""

    rows: np.ndarray
    judged: PairJudgments
    report: TrialReport
    seconds: float

    def not_spent(
        self,
        model: str,
        prices: dict[str, tuple[float, float]] = DEFAULT_PRICES,
        full_rate: float | None = None,
    ) -> dict[str, object]:
        """What stopping after the trial saved: the prompts full coverage would have added, their judging time, and
        their price where the model has one. The time is at the judge's measured rate when judging every pair
        (``full_rate``, prompts/s: user by user, so a local judge reuses each user's prompt prefix), else at the
        trial's own rate (its pairs scattered over users: slower per prompt; the stage once said 37 min for 25)."""
        stats = self.judged.stats
        prompts = max(0, self.report.projected_prompts - self.report.prompts)
        out: dict[str, object] = {"prompts_not_sent": prompts}
        if full_rate:
            out["judging_seconds_not_spent"] = round(prompts / full_rate)
            out["judging_rate"] = f"{full_rate:g} prompts/s, measured judging every pair"
        elif stats.calls:
            out["judging_seconds_not_spent"] = round(prompts * self.seconds / stats.calls)
            out["judging_rate"] = f"{stats.calls / max(self.seconds, 1e-9):.2f} prompts/s, the trial's own"
        if model in prices:
            tokens_per_prompt = stats.tokens_in / max(stats.calls, 1)
            out["cost_usd_not_spent"] = round(
                call_cost(model, round(prompts * tokens_per_prompt), prompts, prices), 4
            )
        return out


def run_trial(
    pairs: pl.DataFrame,
    interactions: pl.DataFrame,
    user_prompts: Sequence[JudgePrompt],
    item_prompts: Sequence[JudgePrompt],
    judge_rows: Callable[[np.ndarray], PairJudgments],
    thresholds: LabelThresholds,
    n_pairs: int,
    seed: int,
    token_model: str | None = None,
    models: Sequence[str] = (),
    prices: dict[str, tuple[float, float]] = DEFAULT_PRICES,
) -> TrialRun:
    """The trial as ``llm_logical_scores``' coverage gate and ``llmhni judgments trial`` both run it: the
    stratified sample of ``pairs`` (in judging order), judged by ``judge_rows(rows)`` (which may submit a batch
    first), measured, and the bill of full coverage projected (input tokens estimated for ``token_model``)."""
    sample = trial_sample(pairs.with_row_index("_pair"), interactions, n_pairs, seed)
    rows = sample["_pair"].to_numpy()
    started = time.perf_counter()
    judged = judge_rows(rows)
    seconds = time.perf_counter() - started
    sent = sent_prompts(judged, [user_prompts[i] for i in rows], [item_prompts[i] for i in rows])
    scores = pairs[rows].select("user_id", "item_id", "kind").with_columns(**judged.columns(thresholds))
    tokens = estimated_tokens(batch_lines(sent, token_model)) if token_model else 0
    report = trial_report(
        sample.drop("_pair"),
        scores,
        pairs,
        interactions,
        len(sent),
        tokens,
        prices,
        list(models),
        row_prompts=1 + np.array([r is not None for r in judged.item], dtype=float),
    )
    return TrialRun(rows, judged, report, seconds)
