"""Stage 6: ``llm_logical_scores`` — user- and item-centric High/Mid/Low judgments of every candidate pair.

Paid once through the gateway's cache, within its budget caps: pairs the budget did not reach are labelled
``unjudged`` (neither removed nor added) and the next materialization continues where this one stopped.
"""

import dagster as dg
import numpy as np
import polars as pl

from llmhni_pipeline.denoise.augment import hard_or_noisy
from llmhni_pipeline.denoise.judge_quality import judge_quality
from llmhni_pipeline.denoise.judging import judge_pairs, ordered_pairs, round_prompts
from llmhni_pipeline.denoise.prompts import PROMPT_VERSIONS, build_prompts, prompt_templates_markdown
from llmhni_pipeline.deploy.queues import pool_tags
from llmhni_pipeline.llm.accounting import DEFAULT_PRICES, call_cost
from llmhni_pipeline.llm.batch import BACKEND, BATCH_DISCOUNT, batch_lines, estimated_tokens
from llmhni_pipeline.llm.batch_jobs import Waiting
from llmhni_pipeline.llm.gateway import judge_key
from llmhni_pipeline.llm.labels import LabelThresholds
from llmhni_pipeline.partitions import dataset_partitions
from llmhni_pipeline.resources.llm import LLMResource


class JudgeConfig(dg.Config):
    threshold_mode: str = "fixed"  # fixed: on P(High) − P(Low); quantile: shares of the judged pairs
    high: float = 0.5
    low: float = -0.5
    # prompts newly sent per materialization (0 = no cap): enough for every first-view prompt of ml-100k (3,764)
    # in one run of the main job, about 42 minutes of the embedded judge on 2 cores (docs/benchmarks.md §16);
    # each further run continues where the last stopped, everything judged so far stays cached
    max_calls_per_run: int = 4000
    # send the item-centric prompt only where the user-centric one said High: the only pairs whose label it can
    # change under the both-High rule (exact with fixed thresholds; quantile labels always send both)
    skip_undecided: bool = True
    # the order users are judged in: "id", or "shuffled" (seeded) so a capped run covers a random subset of
    # users completely, and further runs extend that subset
    user_order: str = "id"
    user_order_seed: int = 2026


def batch_metadata(llm, key: str) -> dict[str, object]:
    """The batches that judged this partition, and what they cost at the batch price."""
    records = llm.batch_jobs().records().filter(pl.col("dataset") == key)
    return {
        "batches": ", ".join(records["batch_id"].drop_nulls().to_list()),
        "batch_answers_cached": int(records["added"].fill_null(0).sum()),
        "batch_cost_usd": round(float(records["cost_usd"].fill_null(0.0).sum()), 6),
    }


def submit_or_wait(context, llm, model, cache, thresholds, skip_undecided, pairs, user_prompts, item_prompts):
    """Batch mode: fail with "waiting for batch …" while a batch of this partition is open, or after submitting
    this round's uncached prompts; return (and let the stage read the cache, making no call) when none is left."""
    key = context.partition_key
    jobs = llm.batch_jobs(context.log.info)
    waiting = jobs.open_for(key)
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
        todo = [p for p, k in zip(needed, keys, strict=True) if k not in have]
        if not todo:
            return
        cost = BATCH_DISCOUNT * call_cost(
            model, estimated_tokens(batch_lines(todo, model)), len(todo), DEFAULT_PRICES
        )
        if llm.max_cost_usd is not None and cost > llm.max_cost_usd:
            raise dg.Failure(
                f"{key}: this round's {len(todo):,} prompts would cost about ${cost:.2f} at the batch "
                f"price, over max_cost_usd ${llm.max_cost_usd:.2f}; nothing was submitted"
            )
        jobs.submit(todo, model, cache, key)
        waiting = jobs.open_for(key)
    message = Waiting(waiting["batch_id"].drop_nulls().to_list(), int(waiting["requests"].sum())).message(key)
    raise dg.Failure(
        description=message, metadata={"batches": ", ".join(waiting["batch_id"].drop_nulls().to_list())}
    )


@dg.asset(
    partitions_def=dataset_partitions,
    group_name="denoise",
    kinds={"parquet"},
    code_version="1",
    pool="llm",
    op_tags=pool_tags("llm"),
)
def llm_logical_scores(
    context: dg.AssetExecutionContext,
    config: JudgeConfig,
    candidate_pairs: pl.DataFrame,
    text_profiles: pl.DataFrame,
    raw_interactions: pl.DataFrame,
    llm: LLMResource,
) -> dg.Output[pl.DataFrame]:
    pairs = ordered_pairs(candidate_pairs, config.user_order, config.user_order_seed)
    user_prompts, item_prompts = build_prompts(pairs, text_profiles)
    judge = llm.judge()
    cache = llm.cache("judgments")
    thresholds = LabelThresholds(config.threshold_mode, config.high, config.low)
    if llm.batch_mode:  # raises while a batch of this partition is open or a new round was just submitted
        submit_or_wait(
            context,
            llm,
            judge.model,
            cache,
            thresholds,
            config.skip_undecided,
            pairs,
            user_prompts,
            item_prompts,
        )
    options = llm.run_options(context.log, "judge")
    if config.max_calls_per_run:
        cap = options.budget.max_calls
        options.budget.max_calls = min(cap, config.max_calls_per_run) if cap else config.max_calls_per_run
    judged = judge_pairs(
        judge,
        user_prompts,
        item_prompts,
        pairs["user_id"].to_numpy(),
        cache,
        options,
        thresholds,
        config.skip_undecided,
    )
    stats = judged.stats
    from_text = getattr(judge, "read_from_text", 0)
    if from_text:
        context.log.warning(
            f"{from_text} answers came without log-probabilities (the endpoint does not send them): their labels "
            "are read from the answer word with probability 1, so P(High) − P(Low) is ±1 or 0 and cannot rank"
        )
    results = {"user": judged.user, "item": judged.item}
    skipped = {"user": [False] * len(judged.user), "item": judged.item_skipped}
    columns = {}
    for view, view_results in results.items():
        p = {
            k: np.array([getattr(r, k) if r else np.nan for r in view_results])
            for k in ("p_high", "p_mid", "p_low")
        }
        labels = thresholds.labels(p["p_high"] - p["p_low"])
        columns |= {
            f"{view}_view": [str(label) if label else None for label in labels],
            f"{view}_p_high": p["p_high"],
            f"{view}_p_mid": p["p_mid"],
            f"{view}_p_low": p["p_low"],
            f"{view}_status": [
                str(r.status) if r else "skipped" if skip else "unjudged"
                for r, skip in zip(view_results, skipped[view], strict=True)
            ],
        }
    table = pairs.select("user_id", "item_id", "kind", "model_score").with_columns(
        **{k: pl.Series(v) for k, v in columns.items()}
    )
    table = table.with_columns(
        label=hard_or_noisy(pl.col("user_view"), pl.col("item_view")),
        model=pl.lit(judge.model),
        prompt_version=pl.lit(f"{PROMPT_VERSIONS['user']}+{PROMPT_VERSIONS['item']}"),
    ).sort("user_id", "kind", maintain_order=True)  # stored by user whatever order they were judged in
    labels = dict(
        table.group_by("kind", "label")
        .len()
        .select(pl.concat_str("kind", "label", separator="_"), "len")
        .iter_rows()
    )
    unjudged = table.filter(pl.col("label") == "unjudged").height
    if unjudged:
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
    quality = judge_quality(table, raw_interactions)  # against validation positives and injected noise
    if quality:
        context.log.info(
            "judge quality: "
            + ", ".join(f"{k} {v}" for k, v in quality.items() if k.endswith(("auc", "base_rate")))
        )
    return dg.Output(
        table,
        metadata={
            **{k: int(v) for k, v in labels.items()},
            **{f"quality_{k}": v for k, v in quality.items()},
            **stats.as_metadata(),
            "unjudged_pairs": unjudged,
            "answers_read_from_text": from_text,
            **(batch_metadata(llm, context.partition_key) if llm.batch_mode else {}),
            "second_view_prompts_skipped": judged.skipped_second,
            "judge": f"{judge.backend}:{judge.model}",
            "prompts": dg.MetadataValue.md(prompt_templates_markdown()),
        },
    )
