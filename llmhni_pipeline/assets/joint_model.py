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
from llmhni_pipeline.deploy.queues import pool_tags
from llmhni_pipeline.methods import MethodInputs
from llmhni_pipeline.methods.llmhni import ASSET_CHOICES, ASSET_PARAMS, ASSET_TRAINING, LLMHNIParams
from llmhni_pipeline.partitions import dataset_partitions
from llmhni_pipeline.recipe import setting_label, train_choosing
from llmhni_pipeline.recsys.data import SplitData
from llmhni_pipeline.recsys.graph import InteractionGraph
from llmhni_pipeline.resources.device import DeviceResource
from llmhni_pipeline.resources.lake import LakeResource
from llmhni_pipeline.semantic.vectors import user_item_matrices

PRETRAINED = "pretrained_recommender"  # the upstream asset whose model warm-starts this one
_P = ASSET_PARAMS


class JointConfig(BackboneTrainingConfig):
    """The backbone settings plus LLMHNI's parameters; defaults from ``methods/llmhni.py``'s ``ASSET_*`` (the
    paper's parameters where no measurement says otherwise)."""

    lr: float = ASSET_TRAINING["lr"]  # Adam learning rate (5e-3: what validation preferred, docs/results.md)
    lambda_de: float = (
        _P.lambda_de
    )  # λ1: weight of L_de, the cross-graph InfoNCE between G and G′ (0 where G′ = G)
    lambda_hal: float = _P.lambda_hal  # λ2: weight of L_hal, the InfoNCE between the perturbed views
    temperature: float = _P.temperature  # τ of both InfoNCE terms
    edge_dropout: float = _P.edge_dropout  # p of the edge-dropped views (hal_view edge_dropout)
    use_augmented_graph: bool = (
        _P.use_augmented_graph
    )  # train on G′ (false: on G, the w/o-denoising ablation)
    sampler: str = _P.sampler  # semantic | dns | raw | uniform
    pool_size: int = _P.pool_size  # M: the semantic sampler's pool of top-scored items per user
    k_low: int = _P.k_low  # the pool's semantically least related items negatives are drawn from
    warmup_epochs: int = _P.warmup_epochs  # uniform negatives first (none when warm-started)
    hard_share: float = _P.hard_share  # share of negatives from the hard sampler, the rest uniform
    hal_view: str = _P.hal_view  # edge_dropout (the paper's L_hal) | layer_noise (XSimGCL's view)
    eps: float = _P.eps  # layer_noise's noise radius ε
    cl_layer: int = _P.cl_layer  # layer_noise's contrasted layer l*
    semantic_prune: float = _P.semantic_prune  # G′ also loses this share of least semantically related edges
    truncation: float = _P.truncation  # T-CE's ρ_max on L_rec (0: off, the paper's)
    truncation_updates: int = _P.truncation_updates  # iterations over which ρ rises to truncation
    truncation_guard: float = _P.truncation_guard  # only edges below this relevance quantile may be dropped
    # start from the pretrained recommender's weights (method_spec §10 allows it). Off by default: warm-started,
    # every arm was best after its first epoch and declined (docs/notebook/2026-11-26-results.md)
    init_from_pretrained: bool = ASSET_TRAINING["init"] == "pretrained"
    # settings tried (every combination), the one with the best validation recall@20 kept: an LLMHNI parameter
    # or a training field by name, e.g. {"lambda_hal": [0.1, 0.01]}, or several joined by "+" that take the
    # same value ("lambda_de+lambda_hal"); {} trains the configured settings once
    choose_on_validation: dict[str, list[float]] = ASSET_CHOICES

    def llmhni_params(self) -> dict[str, object]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(LLMHNIParams)}

    def choices(self) -> dict[str, list[float]]:
        """``choose_on_validation`` in the recipe's setting names (``params.<name>`` for LLMHNI's)."""
        params = {f.name for f in dataclasses.fields(LLMHNIParams)}
        fields = set(type(self).model_fields) - params - {"choose_on_validation", "init_from_pretrained"}
        names = {name for key in self.choose_on_validation for name in key.split("+")}
        unknown = names - params - fields
        if unknown:
            raise ValueError(
                f"joint_model choose_on_validation: unknown setting(s) {sorted(unknown)}; known: "
                f"{', '.join(sorted(params | fields))}"
            )
        return {
            "+".join(f"params.{k}" if k in params else k for k in key.split("+")): values
            for key, values in self.choose_on_validation.items()
        }


def candidates_markdown(rows: list[dict[str, object]]) -> str:
    """The settings tried, their best epoch and validation recall@20, the chosen one marked."""
    keys = [k for k in rows[0] if k not in ("best_epoch", "valid_recall@20", "chosen")]
    head = "".join(f"{setting_label(k)} | " for k in keys)
    lines = [f"| {head}best epoch | valid recall@20 | chosen |", "|" + "---|" * (len(keys) + 3)]
    for r in rows:
        cells = "".join(f"{r[k]} | " for k in keys)
        lines.append(
            f"| {cells}{r['best_epoch']} | {r['valid_recall@20']:.4f} | {'yes' if r['chosen'] else ''} |"
        )
    return "\n".join(lines)


@dg.asset(
    partitions_def=dataset_partitions,
    group_name="train",
    kinds={"pytorch", "parquet"},
    code_version="3",
    pool="gpu",
    op_tags=pool_tags("gpu"),
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
    store = lake.models(context)
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
    choices = config.choices()
    if any(len(v) > 1 for v in choices.values()):
        context.log.info(f"choosing on validation recall@20 among {choices}")
    run, candidates = train_choosing(
        spec,
        inputs,
        choices,
        device.torch_device(),
        logger=lambda label: epoch_logger(context, config.epochs, label=label),
    )
    chosen = next(c for c in candidates if c["chosen"])
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
            "lambda_de": run.spec.params["lambda_de"],
            "lambda_hal": run.spec.params["lambda_hal"],
            "chosen_on_validation": ", ".join(
                f"{setting_label(k)} {v}" for k, v in chosen.items() if k in choices
            )
            or "-",
            "candidates": dg.MetadataValue.md(candidates_markdown(candidates)),
            "augmented_graph_edges": run.objective.graph.n_edges,
            **training_metadata(run.result, f"LLMHNI joint training ({spec.backbone})"),
            "checkpoint": dg.MetadataValue.path(str(path)),
        },
    )
