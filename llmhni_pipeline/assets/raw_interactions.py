"""Stage 0: ``raw_interactions`` (and its ``id_mappings``), one Parquet partition per dataset."""

import dagster as dg

from llmhni_pipeline.datasets.interactions import SplitSettings, build_raw_interactions, summarize
from llmhni_pipeline.datasets.validation import raw_interactions_checks
from llmhni_pipeline.partitions import dataset_partitions
from llmhni_pipeline.resources.lake import LakeResource

CHECK_NAMES = ("splits_disjoint", "no_duplicate_pairs", "ids_contiguous", "test_users_have_train")


class RawInteractionsConfig(dg.Config):
    seed: int = 2026  # the per-user split's and the injected noise's seed
    valid_fraction: float = (
        0.1  # per user: the validation share (random protocol, and the slice llard carves)
    )
    test_fraction: float = 0.1  # per user: the test share (random protocol only)
    min_rating: float = 4.0  # MovieLens: ratings at least this are positives


def _split_table_md(summary: dict[str, object]) -> str:
    rows = "\n".join(f"| {s} | {summary[f'{s}_interactions']:,} |" for s in ("train", "valid", "test"))
    return f"| split | interactions |\n|---|---|\n{rows}"


@dg.multi_asset(
    outs={
        "raw_interactions": dg.AssetOut(
            description="user_id, item_id (contiguous int32), split, is_injected, noise_ratio",
            group_name="ingest",
            kinds={"polars", "parquet"},
            code_version="1",
        ),
        "id_mappings": dg.AssetOut(
            description="entity (user|item), id, raw_id: the dataset's original ids",
            group_name="ingest",
            kinds={"polars", "parquet"},
            code_version="1",
        ),
    },
    partitions_def=dataset_partitions,
    check_specs=[dg.AssetCheckSpec(name, asset="raw_interactions") for name in CHECK_NAMES],
)
def raw_interactions(context: dg.AssetExecutionContext, config: RawInteractionsConfig, lake: LakeResource):
    """Load, validate and split one dataset; bad input fails here, before anything is written."""
    spec = lake.spec(context.partition_key)
    settings = SplitSettings(config.seed, config.valid_fraction, config.test_fraction, config.min_rating)
    result = build_raw_interactions(spec, lake.lake_path, lake.shared_path, settings)
    summary = summarize(result, spec)
    for note in result.notes:
        context.log.info(note)
    for entity in ("users", "items"):
        if summary[f"{entity}_without_train"]:
            context.log.warning(f"{summary[f'{entity}_without_train']} {entity} have no training interaction")
    yield dg.Output(
        result.interactions,
        output_name="raw_interactions",
        metadata={
            **summary,
            "splits": dg.MetadataValue.md(_split_table_md(summary)),
            "source": spec.source.description,
            "notes": "; ".join(result.notes) or "-",
        },
    )
    yield dg.Output(result.id_mappings, output_name="id_mappings")
    for outcome in raw_interactions_checks(result.interactions, result.n_users, result.n_items):
        yield dg.AssetCheckResult(
            asset_key="raw_interactions",
            check_name=outcome.name,
            passed=outcome.passed,
            description=outcome.description,
            metadata={"failures": outcome.failures},
        )
