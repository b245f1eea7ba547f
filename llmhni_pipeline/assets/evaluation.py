"""Stage 10: ``evaluation`` — full-ranking test metrics of every trained model beside reference baselines."""

import dagster as dg
import polars as pl

from llmhni_pipeline.lake import StaleTableError, read_table, table_path
from llmhni_pipeline.partitions import dataset_partitions
from llmhni_pipeline.recsys.baselines import DenseMatrixRefused, ease_scorer, most_popular_scorer
from llmhni_pipeline.recsys.data import SplitData
from llmhni_pipeline.recsys.evaluate import KS, METRICS, Scorer, embedding_scorer, evaluate_ranking
from llmhni_pipeline.resources.device import DeviceResource
from llmhni_pipeline.resources.lake import LakeResource

PRETRAINED, JOINT, BASELINES = "pretrained_recommender", "joint_model", "baselines"  # upstream assets read
PROTOCOL = "held-out validation"


class EvaluationConfig(dg.Config):
    ease_l2: float = 100.0  # method_spec §13.3: 100 for amazon, 200 for yelp
    include_ease: bool = True  # an EASE row (SANSA above the dense bound) beside the trained models
    batch_users: int = 4096  # users scored per block (fewer over a large catalogue: LLMHNI_BLOCK_GB)


def metrics_rows(
    model: str, metrics: dict[str, float], method: str, backbone: str | None = None, seed: int | None = None
) -> list[dict[str, object]]:
    return [
        {
            "model": model,
            "method": method,
            "backbone": backbone,
            "seed": seed,
            "protocol": PROTOCOL if backbone else "closed form",
            "split": "test",
            "metric": m,
            "k": k,
            "value": metrics[f"{m}@{k}"],
            "users": int(metrics["users"]),
        }
        for m in METRICS
        for k in KS
    ]


def metrics_markdown(table: pl.DataFrame) -> str:
    cols = [("recall", 10), ("recall", 20), ("ndcg", 10), ("ndcg", 20)]
    lines = [
        "| model | " + " | ".join(f"{m[0].upper()}@{k}" for m, k in cols) + " |",
        "|---|" + "---|" * len(cols),
    ]
    for model in table["model"].unique(maintain_order=True):
        rows = table.filter(pl.col("model") == model)
        vals = [rows.filter((pl.col("metric") == m) & (pl.col("k") == k))["value"][0] for m, k in cols]
        lines.append(f"| {model} | " + " | ".join(f"{v:.4f}" for v in vals) + " |")
    return "\n".join(lines)


@dg.asset(
    partitions_def=dataset_partitions,
    group_name="eval",
    kinds={"pytorch", "parquet"},
    code_version="3",
    deps=[PRETRAINED, JOINT, BASELINES],
)
def evaluation(
    context: dg.AssetExecutionContext,
    config: EvaluationConfig,
    raw_interactions: pl.DataFrame,
    lake: LakeResource,
    device: DeviceResource,
) -> dg.Output[pl.DataFrame]:
    """Recall/NDCG/Precision/HitRate@{5,10,20,50} on test (train ∪ valid masked), one row per metric.

    Every model of the partition in one table: the LLMHNI joint model and the pretrained backbone (from the model
    store), each trained method of ``baselines`` (its rows as that asset measured them), MostPop and EASE — all on
    the same split and masks, with method, backbone, seed and selection protocol as columns.
    """
    data = SplitData.from_frame(raw_interactions)
    dev = device.torch_device()
    key, store = context.partition_key, lake.models()
    scorers: dict[str, tuple[Scorer, str, str | None, int | None]] = {}
    if store.exists(JOINT, key):
        payload = store.payload(JOINT, key)
        scorers[f"LLMHNI ({payload['backbone']})"] = (
            embedding_scorer(payload["z_user"].to(dev), payload["z_item"].to(dev)),
            "llmhni",
            payload["backbone"],
            None,
        )
    else:
        context.log.warning(f"no joint model for {key}: LLMHNI is not in this table")
    z_u, z_i, payload = store.embeddings(PRETRAINED, key, data.train, dev)
    scorers[f"{payload['backbone']} (pretrained)"] = (
        embedding_scorer(z_u, z_i),
        "lightgcn",
        payload["backbone"],
        None,
    )
    scorers["MostPop"] = (most_popular_scorer(data.train, dev), "mostpop", None, None)
    if config.include_ease:
        try:
            ease = ease_scorer(data.train, config.ease_l2, dev)
            if ease.method != "EASE":
                context.log.warning(
                    f"EASE over the dense bound: its sparse approximation {ease.method} instead"
                )
            scorers[f"{ease.method} (λ={config.ease_l2:g})"] = (ease, ease.method.lower(), None, None)
        except DenseMatrixRefused as refused:  # a large catalogue: the table goes on without the EASE row
            context.log.warning(f"EASE left out: {refused}")
    rows = []
    for name, (scorer, method, backbone, seed) in scorers.items():
        metrics = evaluate_ranking(
            scorer, data.test, data.train_valid_sets, batch_users=config.batch_users, device=dev
        )
        context.log.info(f"{name}: recall@20 {metrics['recall@20']:.4f}, ndcg@10 {metrics['ndcg@10']:.4f}")
        rows.extend(metrics_rows(name, metrics, method, backbone, seed))
    users = int(rows[0]["users"])
    baseline_path = table_path(lake.lake_path, BASELINES, key)
    trained = None
    if baseline_path.is_file():
        try:  # the same lineage check as every input: a table of another version of the data is not merged
            trained = read_table(lake.lake_path, BASELINES, key).filter(pl.col("status") == "ok")
        except StaleTableError as exc:
            context.log.warning(f"baselines left out of this table: {exc}")
    if trained is not None:
        for r in trained.iter_rows(named=True):
            rows.append(
                {
                    "model": f"{r['method']} ({r['backbone']}, seed {r['seed']})",
                    "method": r["method"],
                    "backbone": r["backbone"],
                    "seed": r["seed"],
                    "protocol": r["protocol"],
                    "split": "test",
                    "metric": r["metric"],
                    "k": r["k"],
                    "value": r["value"],
                    "users": users,
                }
            )
    elif not baseline_path.is_file():
        # the main job does not build baselines: a normal run is told, not warned
        context.log.info(
            f"no baselines table for {key}: only the models above are in this table (materialize baselines "
            "to add them)"
        )
    table = pl.DataFrame(
        rows,
        schema={
            "model": pl.String,
            "method": pl.String,
            "backbone": pl.String,
            "seed": pl.Int64,
            "protocol": pl.String,
            "split": pl.String,
            "metric": pl.String,
            "k": pl.Int16,
            "value": pl.Float64,
            "users": pl.Int32,
        },
    )
    return dg.Output(
        table,
        metadata={
            "test_metrics": dg.MetadataValue.md(metrics_markdown(table)),
            "test_users": users,
            "models": table["model"].n_unique(),
        },
    )
