"""Stage 4: ``pretrained_recommender`` — the backbone trained with plain BPR on the (possibly noisy) graph.

The table is the training history (one row per epoch); the trained model goes to the lake's model store under
this asset's name and feeds candidate selection, the joint model's warm start and evaluation.
"""

import dagster as dg
import polars as pl

from llmhni_pipeline.assets.training import (
    BackboneTrainingConfig,
    epoch_logger,
    training_metadata,
    warn_cold_entities,
)
from llmhni_pipeline.deploy.queues import pool_tags
from llmhni_pipeline.methods import MethodInputs
from llmhni_pipeline.partitions import dataset_partitions
from llmhni_pipeline.recipe import train
from llmhni_pipeline.recsys.data import SplitData
from llmhni_pipeline.resources.device import DeviceResource
from llmhni_pipeline.resources.lake import LakeResource


@dg.asset(
    partitions_def=dataset_partitions,
    group_name="train",
    kinds={"pytorch", "parquet"},
    code_version="1",
    pool="gpu",
    op_tags=pool_tags("gpu"),
)
def pretrained_recommender(
    context: dg.AssetExecutionContext,
    config: BackboneTrainingConfig,
    raw_interactions: pl.DataFrame,
    lake: LakeResource,
    device: DeviceResource,
) -> dg.Output[pl.DataFrame]:
    """Backbone + BPR with uniform negatives, early-stopped on validation Recall@20 (best epoch restored)."""
    data = SplitData.from_frame(raw_interactions)
    cold = warn_cold_entities(context, data)
    spec = config.spec(method="lightgcn")  # the method named lightgcn is BPR on whichever backbone
    run = train(
        spec, MethodInputs(data), device.torch_device(), on_epoch=epoch_logger(context, config.epochs)
    )
    for warning in run.result.warnings:
        context.log.warning(warning)
    path = lake.models(context).save(
        context.asset_key.path[-1],
        context.partition_key,
        run.model,
        spec.backbone,
        spec.hyper(),
        {"best_epoch": run.result.best_epoch},
    )
    return dg.Output(
        pl.DataFrame(run.result.history),
        metadata={
            "backbone": spec.backbone,
            **cold,
            **training_metadata(run.result, f"{spec.backbone} pretraining"),
            "checkpoint": dg.MetadataValue.path(str(path)),
        },
    )
