"""What the training stages share: run config (defaults from ``recipe.RunSpec``), progress logging, curve plot and
metadata."""

import dagster as dg
import polars as pl

from llmhni_pipeline.plots import line_chart_svg, svg_markdown
from llmhni_pipeline.recipe import DEFAULTS, RunSpec
from llmhni_pipeline.recsys.data import SplitData
from llmhni_pipeline.recsys.train import TrainResult


class BackboneTrainingConfig(dg.Config):
    """Backbone and optimisation settings; each default is ``RunSpec``'s (method_spec §6.1)."""

    backbone: str = DEFAULTS.backbone  # lightgcn | ngcf | mf
    dim: int = DEFAULTS.dim
    n_layers: int = DEFAULTS.n_layers
    lr: float = DEFAULTS.lr
    batch_size: int = DEFAULTS.batch_size
    reg_weight: float = DEFAULTS.reg_weight
    epochs: int = DEFAULTS.epochs
    patience: int = DEFAULTS.patience
    eval_every: int = DEFAULTS.eval_every
    seed: int = DEFAULTS.seed

    def spec(self, **fields: object) -> RunSpec:
        """The recipe's spec from this config's fields, by name, plus ``fields``."""
        return RunSpec.from_mapping({**self.model_dump(), **fields})


def warn_cold_entities(context: dg.AssetExecutionContext, data: SplitData) -> dict[str, int]:
    """Users/items without a training edge get only their random initial embedding: say so, loudly."""
    cold = {
        "cold_users": int((data.train.user_degree() == 0).sum()),
        "cold_items": int((data.train.item_degree() == 0).sum()),
    }
    for name, count in cold.items():
        if count:
            context.log.warning(
                f"{count} {name.split('_')[1]} have no training edge; they are ranked from their "
                "untrained initial embedding"
            )
    return cold


def epoch_logger(context: dg.AssetExecutionContext, total_epochs: int):
    def log(record: dict[str, float]) -> None:
        valid = f", valid recall@20 {record['valid_recall@20']:.4f}" if "valid_recall@20" in record else ""
        context.log.info(
            f"epoch {int(record['epoch'])}/{total_epochs}: loss {record['loss']:.4f}{valid} "
            f"({record['train_seconds']:.1f}s)"
        )

    return log


def training_metadata(result: TrainResult, title: str) -> dict[str, object]:
    history = pl.DataFrame(result.history)
    series = {"train loss": history["loss"].to_list()}
    if "valid_recall@20" in history.columns:
        series["valid recall@20"] = history["valid_recall@20"].to_list()
    svg = line_chart_svg(history["epoch"].to_list(), series, title)
    return {
        "epochs_run": result.epochs_run,
        "best_epoch": result.best_epoch,
        "best_valid_recall@20": round(result.best_valid.get("recall@20", float("nan")), 5),
        "best_valid_ndcg@10": round(result.best_valid.get("ndcg@10", float("nan")), 5),
        "stopped_early": result.stopped_early,
        "train_seconds": round(result.train_seconds, 1),
        "device": result.device,
        "training_curve": dg.MetadataValue.md(svg_markdown(svg, title)),
        "warnings": "; ".join(result.warnings) or "-",
    }
