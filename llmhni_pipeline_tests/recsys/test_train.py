import polars as pl
import pytest
import torch

from llmhni_pipeline.recsys.data import SplitData
from llmhni_pipeline.recsys.models import build_backbone
from llmhni_pipeline.recsys.train import BPRObjective, TrainingDiverged, TrainSettings, fit


def _clustered_table(seed=0):
    """Two user groups that like two disjoint item blocks: a model must learn the block structure."""
    g = torch.Generator().manual_seed(seed)
    rows = []
    for u in range(60):
        block = (u % 2) * 20
        items = torch.randperm(20, generator=g)[:12] + block
        for k, i in enumerate(items.tolist()):
            rows.append((u, i, "train" if k < 8 else ("valid" if k < 10 else "test")))
    return pl.DataFrame(
        rows, schema={"user_id": pl.Int32, "item_id": pl.Int32, "split": pl.String}, orient="row"
    )


@pytest.mark.parametrize("backbone", ["lightgcn", "ngcf", "mf"])
def test_training_learns_and_restores_the_best_epoch(backbone):
    data = SplitData.from_frame(_clustered_table())
    model = build_backbone(backbone, data.n_users, data.n_items, dim=16, n_layers=2)
    settings = TrainSettings(epochs=40, batch_size=128, lr=0.01, patience=5, device="cpu")
    result = fit(BPRObjective(model, data.train, settings.reg_weight, torch.device("cpu")), data, settings)
    # within-block items are 20 of 40: random ranking gives recall@20 ≈ 0.5 of block items ≈ 0.5; learnt ≈ 1
    assert result.best_valid["recall@20"] > 0.85
    assert result.history[result.best_epoch - 1]["valid_recall@20"] == result.best_valid["recall@20"]
    assert len(result.history) == result.epochs_run


def test_same_seed_same_result():
    data = SplitData.from_frame(_clustered_table())
    runs = []
    for _ in range(2):
        model = build_backbone("lightgcn", data.n_users, data.n_items, dim=8, n_layers=2)
        settings = TrainSettings(epochs=3, batch_size=64, device="cpu", seed=5)
        torch.manual_seed(5)
        model = build_backbone("lightgcn", data.n_users, data.n_items, dim=8, n_layers=2)
        runs.append(fit(BPRObjective(model, data.train, 0.0, torch.device("cpu")), data, settings).history)
    assert [r["loss"] for r in runs[0]] == [r["loss"] for r in runs[1]]


def test_diverging_training_is_an_error():
    data = SplitData.from_frame(_clustered_table())
    model = build_backbone("mf", data.n_users, data.n_items, dim=8)
    with torch.no_grad():
        model.user_embedding.weight[0, 0] = float("nan")
    with pytest.raises(TrainingDiverged, match="epoch 1"):
        fit(
            BPRObjective(model, data.train, 0.0, torch.device("cpu")),
            data,
            TrainSettings(epochs=2, device="cpu"),
        )


def test_empty_validation_warns_and_keeps_the_last_epoch():
    table = _clustered_table().with_columns(split=pl.col("split").replace("valid", "train"))
    data = SplitData.from_frame(table)
    model = build_backbone("mf", data.n_users, data.n_items, dim=8)
    result = fit(
        BPRObjective(model, data.train, 0.0, torch.device("cpu")), data, TrainSettings(epochs=2, device="cpu")
    )
    assert result.best_epoch == 2 and "validation split is empty" in result.warnings[0]


def test_train_and_test_reports_test_metrics_of_the_best_epoch():
    from llmhni_pipeline.methods import MethodInputs
    from llmhni_pipeline.recipe import RunSpec, train_and_test

    data = SplitData.from_frame(_clustered_table())
    sem = torch.randn(data.n_users, 4), torch.randn(data.n_items, 4)
    inputs = MethodInputs(data, projected=sem)
    spec = RunSpec(epochs=15, batch_size=128, lr=0.01, patience=5, dim=16, n_layers=2)
    uniform = train_and_test(spec, inputs, "cpu")
    module1 = {"use_augmented_graph": False, "lambda_de": 0.0, "lambda_hal": 0.0, "pool_size": 10, "k_low": 3}
    semantic = train_and_test(
        spec.override(method="llmhni", params={**module1, "warmup_epochs": 2}), inputs, "cpu"
    )
    assert uniform["method"] == "lightgcn" and semantic["params"]["pool_size"] == 10
    for row in (uniform, semantic):
        assert 0.5 < row["test_recall@20"] <= 1 and 1 <= row["best_epoch"] <= row["epochs_run"]


def test_time_budget_stops_after_the_epoch_that_passes_it_and_keeps_the_best():
    data = SplitData.from_frame(_clustered_table())
    model = build_backbone("mf", data.n_users, data.n_items, dim=8)
    settings = TrainSettings(epochs=50, batch_size=64, lr=0.01, patience=100, device="cpu", time_budget_s=0.0)
    result = fit(BPRObjective(model, data.train, 0.0, torch.device("cpu")), data, settings)
    assert result.epochs_run == 1 and result.best_epoch == 1
    assert "time budget" in result.warnings[0]


def test_split_data_from_arrays_equals_from_frame():
    table = _clustered_table()
    splits = {
        s: (part["user_id"].to_numpy(), part["item_id"].to_numpy())
        for s in ("train", "valid", "test")
        for part in [table.filter(pl.col("split") == s)]
    }
    a, b = SplitData.from_frame(table), SplitData.from_splits(splits, 60, 40)
    assert torch.equal(a.train.users, b.train.users) and torch.equal(a.train.items, b.train.items)
    for name in ("valid", "test", "train_sets", "train_valid_sets"):
        x, y = getattr(a, name), getattr(b, name)
        assert torch.equal(x.indptr, y.indptr) and torch.equal(x.indices, y.indices)


def test_engine_imports_where_only_torch_and_numpy_are_installed():
    """The GPU machine has torch but neither polars nor Dagster: the training core must import there."""
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['polars'] = None; sys.modules['dagster'] = None\n"
        "import llmhni_pipeline.recipe, llmhni_pipeline.methods, llmhni_pipeline.recsys.checkpoint"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_min_epochs_holds_off_early_stopping():
    # lr 0 never improves after epoch 1: patience 2 alone stops at epoch 3; min_epochs 6 keeps it to epoch 6
    data = SplitData.from_frame(_clustered_table())
    runs = {}
    for min_epochs in (0, 6):
        model = build_backbone("mf", data.n_users, data.n_items, dim=8)
        settings = TrainSettings(
            epochs=20, batch_size=64, lr=0.0, patience=2, min_epochs=min_epochs, device="cpu"
        )
        runs[min_epochs] = fit(BPRObjective(model, data.train, 0.0, torch.device("cpu")), data, settings)
    assert runs[0].epochs_run == 3 and runs[6].epochs_run == 6
    assert runs[0].stopped_early and runs[6].stopped_early and runs[6].best_epoch == 1


def test_a_bounded_number_of_batches_per_epoch_grows_the_batch_with_the_graph():
    from llmhni_pipeline.recsys.train import effective_batch_size

    assert effective_batch_size(120_464, 2048) == 2048  # off: as given
    assert effective_batch_size(120_464, 2048, 59) == 2048  # 59 steps of 2,048 already cover it
    assert effective_batch_size(120_464, 2048, 15) == 8031
    assert effective_batch_size(10_000_000, 2048, 59) == 169_492  # an epoch stays 59 propagations at 10^7
    assert effective_batch_size(100, 2048, 4) == 2048  # never smaller than asked
    with pytest.raises(ValueError):
        effective_batch_size(100, 2048, -1)
