"""Stage 7: ``augmented_graph`` G′ = G − noisy low-scored positives + hard high-scored negatives,
and ``removed_edges`` with their reason."""

import dagster as dg
import polars as pl

from llmhni_pipeline.denoise.augment import augmented_edges, denoising_report
from llmhni_pipeline.partitions import dataset_partitions
from llmhni_pipeline.recsys.baselines import ease_graph_check
from llmhni_pipeline.recsys.data import SplitData
from llmhni_pipeline.recsys.graph import InteractionGraph


class AugmentedGraphConfig(dg.Config):
    ease_check: bool = True  # EASE on G and on G′, scored on validation (seconds on ml-100k, ~2 min on amazon)
    ease_l2: float = 100.0


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
    judged = llm_logical_scores.filter(pl.col("label") != "unjudged")
    edges, removed = augmented_edges(train, judged.select("user_id", "item_id", "kind", "label"))
    added = edges.filter(pl.col("origin") == "added_hard")
    report = denoising_report(removed, added, raw_interactions)
    context.log.info(f"G′: {report['removed_edges']} edges removed, {report['added_edges']} added")
    check = {}
    if config.ease_check:
        data = SplitData.from_frame(raw_interactions)
        check = ease_graph_check(data, InteractionGraph.from_frame(edges, data.n_users, data.n_items), config.ease_l2)
        context.log.info(
            f"EASE validation recall@20: G {check['ease_valid_recall@20_G']:.4f}, "
            f"G′ {check['ease_valid_recall@20_G_prime']:.4f}"
        )
    yield dg.Output(
        edges.select("user_id", "item_id", "origin"),
        output_name="augmented_graph",
        metadata={
            **{k: (round(v, 4) if isinstance(v, float) else v) for k, v in report.items()},
            "edges": edges.height,
            "original_edges": train.height,
            **check,
        },
    )
    yield dg.Output(
        removed.select("user_id", "item_id", "reason", "is_injected"), output_name="removed_edges"
    )
