"""Stage 4: ``pretrained_recommender`` — the backbone trained with plain BPR on the (possibly noisy) graph.

The table is the training history (one row per epoch); the checkpoint ``model.pt`` sits beside it and
feeds candidate selection and evaluation.
"""

import dagster as dg
import polars as pl
import torch

from llmhni_pipeline.assets.training import (
    BackboneTrainingConfig,
    epoch_logger,
    training_metadata,
    warn_cold_entities,
)
from llmhni_pipeline.partitions import dataset_partitions
from llmhni_pipeline.recsys.checkpoint import load_checkpoint, save_checkpoint
from llmhni_pipeline.recsys.data import SplitData
from llmhni_pipeline.recsys.device import seed_everything
from llmhni_pipeline.recsys.graph import InteractionGraph
from llmhni_pipeline.recsys.models import build_backbone
from llmhni_pipeline.recsys.train import BPRObjective, fit
from llmhni_pipeline.resources.device import DeviceResource
from llmhni_pipeline.resources.lake import LakeResource

CHECKPOINT = "model.pt"


@dg.asset(
    partitions_def=dataset_partitions,
    group_name="train",
    kinds={"pytorch", "parquet"},
    code_version="1",
    pool="gpu",
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
    torch_device = device.torch_device()
    seed_everything(config.seed)  # initial embeddings too: same config, same model, same candidates
    model = build_backbone(config.backbone, data.n_users, data.n_items, **config.hyper())
    objective = BPRObjective(model, data.train, config.reg_weight, torch_device)
    result = fit(
        objective, data, config.settings(str(torch_device)), on_epoch=epoch_logger(context, config.epochs)
    )
    for warning in result.warnings:
        context.log.warning(warning)
    path = lake.artifacts("pretrained_recommender", context.partition_key) / CHECKPOINT
    save_checkpoint(path, model, config.backbone, config.hyper(), {"best_epoch": result.best_epoch})
    return dg.Output(
        pl.DataFrame(result.history),
        metadata={
            "backbone": config.backbone,
            **cold,
            **training_metadata(result, f"{config.backbone} pretraining"),
            "checkpoint": dg.MetadataValue.path(str(path)),
        },
    )


def pretrained_embeddings(
    lake: LakeResource, dataset: str, graph: InteractionGraph, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """(z_U, z_I, checkpoint payload) of the pretrained backbone on its training graph."""
    model, payload = load_checkpoint(lake.artifacts("pretrained_recommender", dataset) / CHECKPOINT, device)
    with torch.no_grad():
        z_u, z_i = model.embed(graph.norm_adj(device))
    return z_u, z_i, payload


def pretrained_state(
    lake: LakeResource, dataset: str, backbone: str, hyper: dict[str, int]
) -> dict[str, torch.Tensor]:
    """Weights of the pretrained backbone, to warm-start a model of the same backbone and sizes."""
    path = lake.artifacts("pretrained_recommender", dataset) / CHECKPOINT
    model, payload = load_checkpoint(path)
    if payload["backbone"] != backbone or dict(payload["hyper"]) != hyper:
        raise ValueError(
            f"{path}: pretrained {payload['backbone']} {dict(payload['hyper'])} cannot initialise "
            f"{backbone} {hyper}; re-materialize pretrained_recommender with the same backbone, or set "
            "init_from_pretrained: false"
        )
    return model.state_dict()
