"""Stage 6: ``llm_logical_scores`` — user- and item-centric High/Mid/Low judgments of every candidate pair.

Paid once through the gateway's cache, within its budget caps: pairs the budget did not reach are labelled
``unjudged`` (neither removed nor added) and the next materialization continues where this one stopped.
"""

import dataclasses

import dagster as dg
import numpy as np
import polars as pl
from pydantic import Field, field_validator

from llmhni_pipeline.denoise.augment import hard_or_noisy
from llmhni_pipeline.denoise.judge_quality import judge_quality
from llmhni_pipeline.denoise.judge_worth import (
    DEFAULT_BUDGET,
    TRIAL_PAIRS,
    TRIAL_SEED,
    BreakEven,
    break_even_for,
)
from llmhni_pipeline.denoise.judging import (
    PairJudgments,
    judge_pairs,
    ordered_pairs,
    remaining,
    round_prompts,
)
from llmhni_pipeline.denoise.pair_judges import PAIR_BACKENDS, NoGroundTruth, bound_judge
from llmhni_pipeline.denoise.prompts import PROMPT_VERSIONS, build_prompts, prompt_templates_markdown
from llmhni_pipeline.denoise.trial import COVERAGES, decide, run_trial
from llmhni_pipeline.denoise.truth import with_probes
from llmhni_pipeline.deploy.queues import pool_tags
from llmhni_pipeline.llm.accounting import Budget, CallStats, call_cost, require_price
from llmhni_pipeline.llm.batch import BACKEND, BATCH_DISCOUNT
from llmhni_pipeline.llm.batch_jobs import Waiting
from llmhni_pipeline.llm.gateway import judge_key, prompt_tokens
from llmhni_pipeline.llm.labels import LabelThresholds
from llmhni_pipeline.llm.model_store import JUDGE_MODELS
from llmhni_pipeline.partitions import dataset_partitions
from llmhni_pipeline.resources.llm import LLMResource


class JudgeConfig(dg.Config):
    threshold_mode: str = "fixed"  # fixed: on P(High) − P(Low); quantile: shares of the judged pairs
    high: float = 0.5  # a perspective says High when P(High) − P(Low) is at least this (fixed mode)
    low: float = -0.5  # and Low when it is at most this
    # prompts newly sent per materialization (null = no cap, 0 = none): enough for every first-view prompt of
    # ml-100k (3,764) in one run, about 25 minutes of the embedded judge on 2 cores (docs/benchmarks.md); each
    # further run continues where the last stopped, everything judged so far stays cached. The simulated and
    # semantic judges cost nothing and are not capped
    max_calls_per_run: int | None = Field(default=4000, ge=0)
    # auto: judge the trial's stratified sample first, and the rest only if the judge's AUC interval reaches
    # break_even_auc (else G′ = G, and the rest is neither sent nor paid); full: every pair; trial: the sample only
    coverage: str = "auto"
    trial_pairs: int = Field(default=TRIAL_PAIRS, ge=10)  # pairs in the trial's stratified sample
    trial_seed: int = TRIAL_SEED  # which pairs the trial samples
    # the judge AUC below which G′ was not measured to beat G; null: read from the dataset's own judge-worth curve
    # at its candidate budget, else the nearest measured (docs/results.md, "What a judge is worth")
    break_even_auc: float | None = Field(default=None, gt=0, le=1)
    # send the item-centric prompt only where the user-centric one said High: the only pairs whose label it can
    # change under the both-High rule (exact with fixed thresholds; quantile labels always send both)
    skip_undecided: bool = True
    # the order users are judged in: "id", or "shuffled" (seeded) so a capped run covers a random subset of
    # users completely, and further runs extend that subset
    user_order: str = "id"
    user_order_seed: int = 2026  # the shuffled order's seed

    @field_validator("coverage")
    @classmethod
    def _known_coverage(cls, value: str) -> str:
        if value not in COVERAGES:
            raise ValueError(f"coverage must be one of {', '.join(COVERAGES)}, not {value!r}")
        return value


GATE_CHECK = "judge_worth_its_cost"  # the coverage gate's decision, per partition in the UI


def gate_check(gate, unjudged: int, pairs: int) -> dg.AssetCheckResult:
    """The coverage gate's decision as an asset check: passed where the judge was used (or every pair judged by
    choice), a warning where its trial said it is not worth the rest (G′ = G), with the AUC and the break-even."""
    if gate is None:
        return dg.AssetCheckResult(
            check_name=GATE_CHECK, passed=True, description="coverage: full (no trial, every pair judged)"
        )
    return dg.AssetCheckResult(
        check_name=GATE_CHECK,
        passed=gate.judge_rest,
        severity=dg.AssetCheckSeverity.WARN,
        description=gate.reason,
        metadata={
            k: v for k, v in gate.metadata(unjudged, pairs).items() if isinstance(v, int | float | str)
        },
    )


def candidate_budget(pairs: pl.DataFrame) -> int:
    """The k_pos = k_neg the candidates were picked with (their deepest rank), the budget a curve is read at."""
    ranks = pairs["rank_within_user"]
    return int(ranks.max()) if ranks.len() else DEFAULT_BUDGET


def break_even(config: JudgeConfig, partition: str, pairs: pl.DataFrame, hidden: bool) -> BreakEven:
    """The stage's break-even: the config's where set, else the curve's (``judge_worth.break_even_for``)."""
    if config.break_even_auc is not None:
        return BreakEven(config.break_even_auc, "set in llm_logical_scores' config")
    return break_even_for(partition, candidate_budget(pairs), hidden)


def full_judging_rate(llm: LLMResource) -> float | None:
    """The embedded judge's measured prompts/s when it judges every pair (``model_store``); None for others."""
    if llm.judge_backend != "local":
        return None
    return JUDGE_MODELS[llm.local_judge_model].prompts_per_second


def batch_metadata(llm, key: str) -> dict[str, object]:
    """The batches that judged this partition, and what they cost at the batch price."""
    records = llm.batch_jobs().records().filter(pl.col("dataset") == key)
    return {
        "batches": ", ".join(records["batch_id"].drop_nulls().to_list()),
        "batch_answers_cached": int(records["added"].fill_null(0).sum()),
        "batch_cost_usd": round(float(records["cost_usd"].fill_null(0.0).sum()), 6),
    }


def batch_round(todo: list, model: str, options) -> tuple[list, str]:
    """The prompts of a batch round that the run's caps allow (a batch is calls: ``max_calls``, the stage's
    ``max_calls_per_run`` and ``max_cost_usd`` bound what a file holds), and what the caps left out ("" if none).
    The cost is estimated before anything is sent, at the batch price."""
    room = options.budget.room(CallStats())
    kept = todo[:room]
    why = f"the per-run cap of {options.budget.max_calls} calls" if len(kept) < len(todo) else ""
    if options.budget.max_cost_usd is not None and kept:
        require_price(model, options.prices, "the judge")
        spend = np.cumsum(
            [BATCH_DISCOUNT * call_cost(model, *prompt_tokens(p), options.prices) for p in kept]
        )
        fit = int(np.searchsorted(spend, options.budget.max_cost_usd, side="right"))
        if fit < len(kept):
            kept = kept[:fit]
            why = f"max_cost_usd ${options.budget.max_cost_usd:g} (about ${spend[-1]:.4f} at the batch price)"
    return kept, why


def submit_or_wait(
    context, llm, model, cache, thresholds, skip_undecided, pairs, user_prompts, item_prompts, options
) -> int:
    """Batch mode: fail with "waiting for batch …" while a batch of this partition is open, or after submitting
    this round's uncached prompts that the caps allow; return when there is nothing (more) this run may submit,
    with the number of prompts the caps left out (the stage then reads the cache, makes no call, and leaves those
    pairs unjudged)."""
    key = context.partition_key
    jobs = llm.batch_jobs(context.log.info)
    waiting = jobs.open_for(key)
    left_out = 0
    if not waiting.height:
        needed = round_prompts(
            user_prompts,
            item_prompts,
            pairs["user_id"].to_numpy(),
            cache,
            "openai",
            model,
            thresholds,
            both_views=not skip_undecided,
        )
        keys = [judge_key(BACKEND, model, p) for p in needed]
        cached = cache.load(keys)
        have = set(cached["key"].to_list()) if cached.height else set()
        todo = list({k: p for p, k in zip(needed, keys, strict=True) if k not in have}.values())
        if not todo:
            return 0
        allowed, why = batch_round(todo, model, options)
        left_out = len(todo) - len(allowed)
        if left_out:
            context.log.warning(
                f"{key}: {why} leaves {left_out:,} of this round's {len(todo):,} prompts out of the batch"
                + (f"; {len(allowed):,} are submitted" if allowed else "; nothing is submitted")
                + ": their pairs stay unjudged (materialize again to submit more)"
            )
        if not allowed:
            return left_out
        jobs.submit(allowed, model, cache, key)
        waiting = jobs.open_for(key)
    message = Waiting(waiting["batch_id"].drop_nulls().to_list(), int(waiting["requests"].sum())).message(key)
    raise dg.Failure(
        description=message, metadata={"batches": ", ".join(waiting["batch_id"].drop_nulls().to_list())}
    )


def judged_probes(trial, asked: pl.DataFrame, n_pairs: int, thresholds: LabelThresholds) -> pl.DataFrame:
    """The trial's probes it judged (rows of ``asked`` past the ``n_pairs`` candidates), in the table's columns."""
    if trial is None or asked.height == n_pairs:
        return pl.DataFrame()
    columns = trial.judged.scattered(trial.rows, asked.height).columns(thresholds)
    probes = asked.select("user_id", "item_id", "kind", "model_score").with_columns(
        **{k: pl.Series(v) for k, v in columns.items()}
    )[n_pairs:]
    return probes.with_columns(label=hard_or_noisy(pl.col("user_view"), pl.col("item_view"))).filter(
        pl.col("label") != "unjudged"
    )


@dg.asset(
    partitions_def=dataset_partitions,
    group_name="denoise",
    kinds={"parquet"},
    code_version="2",  # 2: the trial probes, the curve's break-even, per-pair answers
    pool="llm",
    op_tags=pool_tags("llm"),
    check_specs=[dg.AssetCheckSpec(GATE_CHECK, asset="llm_logical_scores")],
)
def llm_logical_scores(
    context: dg.AssetExecutionContext,
    config: JudgeConfig,
    candidate_pairs: pl.DataFrame,
    text_profiles: pl.DataFrame,
    raw_interactions: pl.DataFrame,
    aligned_projector: pl.DataFrame,
    llm: LLMResource,
):
    pairs = ordered_pairs(candidate_pairs, config.user_order, config.user_order_seed)
    # the trial's probes after the candidates (random pairs planted as noise where nothing was injected: the truth
    # the curve's x-axis is measured on); judged by the trial alone, never in the table or G′
    asked = (
        pairs
        if config.coverage == "full"
        else with_probes(pairs, raw_interactions, config.trial_pairs // 2, config.trial_seed)
    )
    user_prompts, item_prompts = build_prompts(asked, text_profiles)
    try:
        judge, user_prompts, item_prompts = bound_judge(
            llm.judge(),
            context.partition_key,
            asked,
            user_prompts,
            item_prompts,
            raw_interactions,
            aligned_projector,
        )
    except NoGroundTruth as exc:  # a simulated judge on a partition that planted nothing
        raise dg.Failure(str(exc)) from None
    cache = llm.cache("judgments")
    thresholds = LabelThresholds(config.threshold_mode, config.high, config.low)
    users = asked["user_id"].to_numpy()
    options = llm.run_options(context.log, "judge")
    if config.max_calls_per_run is not None and judge.backend not in PAIR_BACKENDS:  # those cost nothing
        cap = options.budget.max_calls
        options.budget.max_calls = (
            config.max_calls_per_run if cap is None else min(cap, config.max_calls_per_run)
        )

    def judge_rows(rows: np.ndarray, run_options) -> PairJudgments:
        """Judge pairs ``rows`` (in judging order); in batch mode first submit them, or wait for their batch."""
        sub_user, sub_item = [user_prompts[i] for i in rows], [item_prompts[i] for i in rows]
        if llm.batch_mode:  # raises while a batch of this partition is open or a new round was just submitted
            submit_or_wait(
                context,
                llm,
                judge.model,
                cache,
                thresholds,
                config.skip_undecided,
                asked[rows],
                sub_user,
                sub_item,
                run_options,
            )
            # batch mode sends nothing synchronously: what no batch answered (the caps left it out) stays unjudged
            run_options = dataclasses.replace(run_options, budget=Budget(0, run_options.budget.max_cost_usd))
        return judge_pairs(
            judge, sub_user, sub_item, users[rows], cache, run_options, thresholds, config.skip_undecided
        )

    everything = np.arange(pairs.height)
    gate, trial = None, None
    if config.coverage != "full":  # the trial's stratified sample first: is this judge worth the rest?
        trial = run_trial(
            asked,
            raw_interactions,
            user_prompts,
            item_prompts,
            lambda rows: judge_rows(rows, options),
            thresholds,
            config.trial_pairs,
            config.trial_seed,
        )
        even = break_even(config, context.partition_key, pairs, "hidden" in trial.report.gate_questions)
        gate = decide(
            config.coverage, trial.report.judge_auc, trial.report.gate_questions, even.auc, even.source
        )
        context.log.info(f"coverage {config.coverage}: {gate.reason}")
    if gate is None or gate.judge_rest:
        judged = judge_rows(everything, options if trial is None else remaining(options, trial.judged.stats))
        if trial is not None:
            judged.stats = trial.judged.stats + judged.stats
    else:
        judged = trial.judged.scattered(trial.rows, pairs.height)
    stats = judged.stats
    table = pairs.select("user_id", "item_id", "kind", "model_score").with_columns(
        **{k: pl.Series(v) for k, v in judged.columns(thresholds).items()}
    )
    # answers without log-probabilities (the endpoint, or a batch runner, did not send them), synchronous or
    # imported: counted from the table, so every source of them is seen
    from_text = int(sum((table[f"{v}_status"] == "text").sum() for v in ("user", "item")))
    if from_text:
        context.log.warning(
            f"{from_text} answers came without log-probabilities: their labels are read from the answer word with "
            "probability 1, so P(High) − P(Low) is ±1 or 0 and cannot rank; import or ask for answers with "
            "log-probabilities (they replace these)"
        )
    table = table.with_columns(
        label=hard_or_noisy(pl.col("user_view"), pl.col("item_view")),
        model=pl.lit(judge.model),
        prompt_version=pl.lit(f"{PROMPT_VERSIONS['user']}+{PROMPT_VERSIONS['item']}"),
        # whether G′ may act on these judgments: not where the gate judged only its sample
        trusted=pl.lit(gate is None or gate.judge_rest),
    ).sort("user_id", "kind", maintain_order=True)  # stored by user whatever order they were judged in
    labels = dict(
        table.group_by("kind", "label")
        .len()
        .select(pl.concat_str("kind", "label", separator="_"), "len")
        .iter_rows()
    )
    unjudged = table.filter(pl.col("label") == "unjudged").height
    saved: dict[str, object] = {}
    if gate is not None and not gate.judge_rest:
        saved = trial.not_spent(judge.model, options.prices, full_judging_rate(llm))
        context.log.info(
            f"{unjudged} of {table.height} pairs left unjudged by choice ({gate.reason}): about "
            f"{saved['prompts_not_sent']:,} prompts not sent"
            + (
                f", about {saved['judging_seconds_not_spent'] / 60:.0f} min of judging"
                if "judging_seconds_not_spent" in saved
                else ""
            )
            + (f", about ${saved['cost_usd_not_spent']:.2f}" if saved.get("cost_usd_not_spent") else "")
        )
    elif unjudged:
        causes = []
        if stats.stopped_by_budget:
            causes.append(f"the per-run cap of {options.budget.max_calls} calls was reached")
        if stats.failed:
            causes.append(f"{stats.failed} prompts failed ({stats.last_error})")
        if stats.malformed:
            causes.append(f"{stats.malformed} answers were unreadable")
        context.log.warning(
            f"{unjudged} of {table.height} pairs are not judged yet ({'; '.join(causes) or 'no answer'}); "
            "they stay unchanged in G′: materialize again to continue, every valid answer so far is cached"
        )
    # against the planted truth: held-back or injected edges, or the trial's judged probes
    quality = judge_quality(
        pl.concat([table, judged_probes(trial, asked, pairs.height, thresholds)], how="diagonal_relaxed"),
        raw_interactions,
    )
    if quality:
        context.log.info(
            "judge quality: "
            + ", ".join(
                f"{k} {v}" for k, v in quality.items() if k.endswith(("auc", "base_rate")) and v == v
            )  # NaN: not measurable
        )
    yield dg.Output(
        table,
        metadata={
            **{k: int(v) for k, v in labels.items()},
            **{f"quality_{k}": v for k, v in quality.items()},
            **(gate.metadata(unjudged, table.height) if gate is not None else {"coverage": "full"}),
            **saved,
            **stats.as_metadata(),
            "unjudged_pairs": unjudged,
            "answers_read_from_text": from_text,
            **(batch_metadata(llm, context.partition_key) if llm.batch_mode else {}),
            "second_view_prompts_skipped": judged.skipped_second,
            "judge": f"{judge.backend}:{judge.model}",
            "prompts": dg.MetadataValue.md(prompt_templates_markdown()),
        },
    )
    yield gate_check(gate, unjudged, table.height)
