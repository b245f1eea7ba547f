"""Stage 9: ``joint_model`` — LLMHNI (``methods/llmhni.py``) trained through the one recipe: L_rec on G′ with the
semantic hard-negative sampler + λ1·L_de + λ2·L_hal. Every term is switchable, which gives the paper's ablations
(``methods.llmhni.ABLATIONS``):

- w/o semantic negative sampling: ``sampler: dns`` (or ``uniform``)
- w/o goal alignment: ``sampler: raw`` (semantic rule on raw LLM embeddings)
- w/o interaction denoising: ``use_augmented_graph: false, lambda_de: 0``
- w/o hallucination robustness: ``lambda_hal: 0``
"""

import dataclasses

import dagster as dg
import polars as pl

from llmhni_pipeline.assets.training import BackboneTrainingConfig, epoch_logger, training_metadata
from llmhni_pipeline.methods import MethodInputs
from llmhni_pipeline.methods.llmhni import LLMHNIParams
from llmhni_pipeline.partitions import dataset_partitions
from llmhni_pipeline.recipe import train
from llmhni_pipeline.recsys.data import SplitData
from llmhni_pipeline.recsys.graph import InteractionGraph
from llmhni_pipeline.resources.device import DeviceResource
from llmhni_pipeline.resources.lake import LakeResource
from llmhni_pipeline.semantic.vectors import user_item_matrices

PRETRAINED = "pretrained_recommender"  # the upstream asset whose model warm-starts this one
_P = LLMHNIParams()


class JointConfig(BackboneTrainingConfig):
    """The backbone settings plus LLMHNI's parameters; each default is ``LLMHNIParams``'."""

    lambda_de: float = _P.lambda_de
    lambda_hal: float = _P.lambda_hal
    temperature: float = _P.temperature
    edge_dropout: float = _P.edge_dropout
    use_augmented_graph: bool = _P.use_augmented_graph
    sampler: str = _P.sampler  # semantic | dns | raw | uniform
    pool_size: int = _P.pool_size
    k_low: int = _P.k_low
    warmup_epochs: int = _P.warmup_epochs  # uniform negatives first (none when warm-started)
    # start from the pretrained recommender's weights (method_spec §10 allows it): meaningful scores for the
    # hard-negative pool from epoch 1, and the contrastive terms act on trained rather than random embeddings
    init_from_pretrained: bool = True

    def llmhni_params(self) -> dict[str, object]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(LLMHNIParams)}


@dg.asset(
    partitions_def=dataset_partitions,
    group_name="train",
    kinds={"pytorch", "parquet"},
    code_version="2",
    pool="gpu",
    deps=[PRETRAINED],
)
def joint_model(
    context: dg.AssetExecutionContext,
    config: JointConfig,
    raw_interactions: pl.DataFrame,
    augmented_graph: pl.DataFrame,
    aligned_projector: pl.DataFrame,
    llm_embeddings: pl.DataFrame,
    lake: LakeResource,
    device: DeviceResource,
) -> dg.Output[pl.DataFrame]:
    data = SplitData.from_frame(raw_interactions)
    n_users, n_items = data.n_users, data.n_items
    spec = config.spec(
        method="llmhni",
        params=config.llmhni_params(),
        init="pretrained" if config.init_from_pretrained else "scratch",
    )
    store = lake.models()
    pretrained = None
    if config.init_from_pretrained:
        payload = store.payload(PRETRAINED, context.partition_key)
        if payload["backbone"] != spec.backbone or dict(payload["hyper"]) != spec.hyper():
            raise ValueError(
                f"{store.path(PRETRAINED, context.partition_key)}: pretrained {payload['backbone']} "
                f"{dict(payload['hyper'])} cannot initialise {spec.backbone} {spec.hyper()}; re-materialize "
                "pretrained_recommender with the same backbone, or set init_from_pretrained: false"
            )
        pretrained = payload["state_dict"]
    inputs = MethodInputs(
        data,
        augmented=InteractionGraph.from_frame(augmented_graph, n_users, n_items),
        projected=user_item_matrices(aligned_projector, n_users, n_items),
        text=user_item_matrices(llm_embeddings, n_users, n_items),
        pretrained=pretrained,
    )
    run = train(spec, inputs, device.torch_device(), on_epoch=epoch_logger(context, config.epochs))
    # the final Z′ travels with the weights: evaluation scores with it without rebuilding G′
    path = store.save(
        context.asset_key.path[-1],
        context.partition_key,
        run.model,
        spec.backbone,
        spec.hyper(),
        {"z_user": run.z_user.cpu(), "z_item": run.z_item.cpu(), "best_epoch": run.result.best_epoch},
    )
    return dg.Output(
        pl.DataFrame(run.result.history),
        metadata={
            "backbone": spec.backbone,
            "sampler": config.sampler,
            "init": "pretrained_recommender" if config.init_from_pretrained else "random",
            "lambda_de": config.lambda_de,
            "lambda_hal": config.lambda_hal,
            "augmented_graph_edges": run.objective.graph.n_edges,
            **training_metadata(run.result, f"LLMHNI joint training ({spec.backbone})"),
            "checkpoint": dg.MetadataValue.path(str(path)),
        },
    )
