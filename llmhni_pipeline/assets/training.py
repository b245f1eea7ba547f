"""What the training stages share: run config, progress logging, curve plot and metadata."""

import dagster as dg
import polars as pl

from llmhni_pipeline.plots import line_chart_svg, svg_markdown
from llmhni_pipeline.recsys.data import SplitData
from llmhni_pipeline.recsys.train import TrainResult, TrainSettings


class BackboneTrainingConfig(dg.Config):
    """Backbone and optimisation settings (defaults: method_spec §6.1)."""

    backbone: str = "lightgcn"  # lightgcn | ngcf | mf
    dim: int = 64
    n_layers: int = 3
    lr: float = 1e-3
    batch_size: int = 2048
    reg_weight: float = 1e-5
    epochs: int = 300
    patience: int = 20
    eval_every: int = 1
    seed: int = 2026

    def settings(self, device: str) -> TrainSettings:
        return TrainSettings(
            epochs=self.epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            reg_weight=self.reg_weight,
            patience=self.patience,
            eval_every=self.eval_every,
            seed=self.seed,
            device=device,
        )

    def hyper(self) -> dict[str, int]:
        return {"dim": self.dim, "n_layers": self.n_layers}


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
