"""Stage 1: ``text_profiles`` — one text per user and item (provided, or templated from training data)."""

import dagster as dg
import polars as pl

from llmhni_pipeline.partitions import dataset_partitions
from llmhni_pipeline.resources.lake import LakeResource
from llmhni_pipeline.semantic.profiles import build_text_profiles, coverage, without_text


@dg.asset(
    partitions_def=dataset_partitions,
    group_name="llm",
    kinds={"polars", "parquet"},
    code_version="2",
    check_specs=[dg.AssetCheckSpec("every_entity_has_text", asset="text_profiles")],
)
def text_profiles(
    context: dg.AssetExecutionContext,
    raw_interactions: pl.DataFrame,
    id_mappings: pl.DataFrame,
    lake: LakeResource,
):
    """``entity, id, text, source``. A dataset without any text fails here; its text stages are skipped."""
    spec = lake.spec(context.partition_key)
    notes: list[str] = []
    table = build_text_profiles(spec, raw_interactions, id_mappings, lake.lake_path, lake.shared_path, notes)
    for note in notes:
        context.log.warning(note)
    n_users = int(raw_interactions["user_id"].max()) + 1
    n_items = int(raw_interactions["item_id"].max()) + 1
    missing = coverage(table, n_users, n_items)
    for entity in ("user", "item"):
        without = without_text(table, id_mappings, entity, n_users if entity == "user" else n_items)
        if without:
            context.log.warning(
                f"{len(without):,} {entity}(s) have no text, e.g. {', '.join(map(repr, without[:5]))}: the judge "
                f"and the semantic stages see them without one"
            )
    sources = {
        f"{e}_source": s for e, s in table.group_by("entity").agg(pl.col("source").first()).iter_rows()
    }
    lengths = table["text"].str.len_chars()
    example = table.filter(pl.col("entity") == "user").head(1)["text"].to_list()
    yield dg.Output(
        table,
        metadata={
            **missing,
            **sources,
            "median_chars": int(lengths.median()),
            "example_user_profile": dg.MetadataValue.text(example[0] if example else "-"),
        },
    )
    total_missing = sum(missing.values())
    yield dg.AssetCheckResult(
        passed=total_missing == 0,
        check_name="every_entity_has_text",
        severity=dg.AssetCheckSeverity.WARN,
        metadata=missing,
        description=f"{total_missing} user(s)/item(s) have no text",
    )
