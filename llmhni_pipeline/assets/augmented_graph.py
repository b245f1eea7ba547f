"""Stage 7: ``augmented_graph`` G′ = G − noisy low-scored positives + hard high-scored negatives,
and ``removed_edges`` with their reason."""

import dagster as dg
import polars as pl

from llmhni_pipeline.denoise.augment import denoising_report
from llmhni_pipeline.denoise.graph_selection import GraphRule, apply_rule, check_of, choose_rule, judged_users
from llmhni_pipeline.partitions import dataset_partitions
from llmhni_pipeline.recsys.baselines import DenseMatrixRefused, ease_graph_check
from llmhni_pipeline.recsys.data import SplitData
from llmhni_pipeline.recsys.graph import InteractionGraph


class AugmentedGraphConfig(dg.Config):
    # "auto": the rule and High threshold whose G′ scores best with EASE on validation, G′ = G included
    # (each candidate is one EASE fit: seconds on ml-100k, about a minute on amazon-book); or one of
    # remove_and_add (the paper), remove_only, add_only, none, at the threshold ``high``
    rule: str = "auto"
    high: float = 0.5  # the High threshold of a rule named in `rule` (not auto)
    high_grid: list[float] = [0.5, 0.8]  # the High thresholds `auto` tries with every rule
    ease_check: bool = True  # EASE on G and on G′, scored on validation (always on under "auto")
    ease_l2: float = 100.0  # λ of the EASE fits that check G′ on validation
    # under "auto", a G′ replaces G only if its per-user validation recall@20 beats G's by at least this many
    # standard errors (a paired test over validation users), so a chance judge's edits do not pass as a gain
    min_z: float = 2.0


@dg.multi_asset(
    outs={
        "augmented_graph": dg.AssetOut(
            group_name="denoise",
            kinds={"polars", "parquet"},
            code_version="1",
            description="training edges of G′ with origin ∈ {orig, added_hard}",
        ),
        "removed_edges": dg.AssetOut(
            group_name="denoise",
            kinds={"polars", "parquet"},
            code_version="1",
            description="edges of G removed from G′, with reason",
        ),
    },
    partitions_def=dataset_partitions,
)
def augmented_graph(
    context: dg.AssetExecutionContext,
    config: AugmentedGraphConfig,
    raw_interactions: pl.DataFrame,
    llm_logical_scores: pl.DataFrame,
):
    train = raw_interactions.filter(pl.col("split") == "train").select("user_id", "item_id", "is_injected")
    data = SplitData.from_frame(raw_interactions)
    refused = None
    scores, gated = trusted_judgments(llm_logical_scores)
    if gated:  # the coverage gate judged only its trial sample: the judge is not worth acting on
        context.log.info(f"G′ = G: {gated}")
        chosen, candidates = GraphRule("none", config.high), None
    elif config.rule == "auto":
        try:
            chosen, candidates = choose_rule(
                data, train, scores, config.high_grid, l2=config.ease_l2, min_z=config.min_z
            )
            context.log.info(f"G′ rule chosen on validation (EASE recall@20): {chosen.name}")
        except (
            DenseMatrixRefused
        ) as exc:  # no check possible at this size: the judge's edits stay unvalidated
            refused = str(exc)
            chosen, candidates = GraphRule("none", config.high), None
            context.log.warning(f"G′ = G: the judgments cannot be checked on validation here. {exc}")
    else:
        chosen, candidates = GraphRule(config.rule, config.high), None
    edges, removed = apply_rule(train, scores, chosen)
    added = edges.filter(pl.col("origin") == "added_hard")
    report = denoising_report(removed, added, raw_interactions)
    context.log.info(f"G′: {report['removed_edges']} edges removed, {report['added_edges']} added")
    check = {}
    if candidates is not None:  # G and the chosen G′ are both among the candidates already fit
        check = check_of(candidates, chosen)
    elif config.ease_check and refused is None:
        try:
            check = ease_graph_check(
                data, InteractionGraph.from_frame(edges, data.n_users, data.n_items), config.ease_l2
            )
        except DenseMatrixRefused as exc:
            refused = str(exc)
            context.log.warning(f"no EASE check of G′: {exc}")
    if check:
        context.log.info(
            f"EASE validation recall@20: G {check['ease_valid_recall@20_G']:.4f}, "
            f"G′ {check['ease_valid_recall@20_G_prime']:.4f}"
        )
    choice: dict[str, object] = {"rule": chosen.name}
    if gated:
        choice["judge_not_used"] = gated
    if refused:
        choice["ease_check_refused"] = refused
    if candidates is not None:
        choice["rule_candidates"] = dg.MetadataValue.md(_markdown(candidates, chosen))
    yield dg.Output(
        edges.select("user_id", "item_id", "origin"),
        output_name="augmented_graph",
        metadata={
            **{k: (round(v, 4) if isinstance(v, float) else v) for k, v in report.items()},
            "edges": edges.height,
            "judged_users": judged_users(scores).len(),
            "original_edges": train.height,
            **choice,
            **check,
        },
    )
    yield dg.Output(
        removed.select("user_id", "item_id", "reason", "is_injected"), output_name="removed_edges"
    )


def trusted_judgments(scores: pl.DataFrame) -> tuple[pl.DataFrame, str | None]:
    """The judgments G′ may act on, and why none may (``None``: they may): where ``llm_logical_scores``' coverage
    gate judged only its trial sample, its rows are kept for inspection but marked untrusted."""
    if "trusted" not in scores.columns or scores["trusted"].all():
        return scores, None
    return scores.filter(pl.col("trusted")), (
        "llm_logical_scores judged only its coverage trial (see its coverage_reason); set coverage: full there "
        "to act on every judgment"
    )


def _markdown(candidates: pl.DataFrame, chosen: GraphRule) -> str:
    subset = "z_judged_users" in candidates.columns  # the judge covered some users: their columns too
    head = "| rule | High ≥ | removed | added | EASE valid R@20 | N@20 | z vs G |"
    head += " R@20, judged users | z, judged users |\n" if subset else "\n"
    head += "|---|---|---|---|---|---|---|" + ("---|---|\n" if subset else "\n")
    rows = []
    for r in candidates.iter_rows(named=True):
        mark = (
            " **(chosen)**"
            if (r["rule"], r["high"]) == (chosen.rule, None if chosen.rule == "none" else chosen.high)
            else ""
        )
        high = "" if r["high"] is None else f"{r['high']:g}"
        rows.append(
            f"| {r['rule']}{mark} | {high} | {r['removed']} | {r['added']} | "
            f"{r['ease_valid_recall@20']:.4f} | {r['ease_valid_ndcg@20']:.4f} | {r['z_vs_G']:+.2f} |"
            + (
                f" {r['ease_valid_recall@20_judged_users']:.4f} | {r['z_judged_users']:+.2f} |"
                if subset
                else ""
            )
        )
    return head + "\n".join(rows)
