"""Stage 10: ``evaluation`` — full-ranking test metrics of every trained model beside reference baselines."""

import dagster as dg
import polars as pl
import torch

from llmhni_pipeline.assets.joint_model import JOINT_CHECKPOINT
from llmhni_pipeline.assets.pretrained_recommender import pretrained_embeddings
from llmhni_pipeline.partitions import dataset_partitions
from llmhni_pipeline.recsys.baselines import ease_scorer, most_popular_scorer
from llmhni_pipeline.recsys.data import SplitData
from llmhni_pipeline.recsys.evaluate import KS, METRICS, Scorer, embedding_scorer, evaluate_ranking
from llmhni_pipeline.resources.device import DeviceResource
from llmhni_pipeline.resources.lake import LakeResource


class EvaluationConfig(dg.Config):
    ease_l2: float = 100.0  # method_spec §13.3: 100 for amazon, 200 for yelp
    include_ease: bool = True
    batch_users: int = 4096


def metrics_rows(model: str, metrics: dict[str, float]) -> list[dict[str, object]]:
    return [
        {
            "model": model,
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
    code_version="2",
    deps=["pretrained_recommender", "joint_model"],
)
def evaluation(
    context: dg.AssetExecutionContext,
    config: EvaluationConfig,
    raw_interactions: pl.DataFrame,
    lake: LakeResource,
    device: DeviceResource,
) -> dg.Output[pl.DataFrame]:
    """Recall/NDCG/Precision/HitRate@{5,10,20,50} on test (train ∪ valid masked), one row per metric.

    Models: the LLMHNI joint model (when materialized for this dataset), the pretrained backbone, MostPop,
    EASE — all on the same split and masks.
    """
    data = SplitData.from_frame(raw_interactions)
    dev = device.torch_device()
    scorers: dict[str, Scorer] = {}
    joint = lake.artifacts("joint_model", context.partition_key) / JOINT_CHECKPOINT
    if joint.is_file():
        payload = torch.load(joint, map_location=dev, weights_only=True)
        scorers[f"LLMHNI ({payload['backbone']})"] = embedding_scorer(payload["z_user"], payload["z_item"])
    else:
        context.log.warning(f"no joint model for {context.partition_key}: evaluating the baselines only")
    z_u, z_i, payload = pretrained_embeddings(lake, context.partition_key, data.train, dev)
    scorers[f"{payload['backbone']} (pretrained)"] = embedding_scorer(z_u, z_i)
    scorers["MostPop"] = most_popular_scorer(data.train, dev)
    if config.include_ease:
        scorers[f"EASE (λ={config.ease_l2:g})"] = ease_scorer(data.train, config.ease_l2, dev)
    rows = []
    for name, scorer in scorers.items():
        metrics = evaluate_ranking(
            scorer, data.test, data.train_valid_sets, batch_users=config.batch_users, device=dev
        )
        context.log.info(f"{name}: recall@20 {metrics['recall@20']:.4f}, ndcg@10 {metrics['ndcg@10']:.4f}")
        rows.extend(metrics_rows(name, metrics))
    table = pl.DataFrame(
        rows,
        schema={
            "model": pl.String,
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
            "test_users": int(rows[0]["users"]),
            "models": len(scorers),
        },
    )
