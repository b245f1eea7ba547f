"""``baselines`` — the paper's comparison methods (``methods/``) trained through the one recipe, per dataset.

One row per (method, seed, metric, k) with the run's status: a method that needs what the partition lacks (text on
Yelp, LLaRD's edited graph outside ``-llard``) is listed as ``skipped: <reason>``, never faked. Epochs are chosen
on held-out validation R@20; test is evaluated once per run. Changing ``methods`` or ``seeds`` re-runs this asset
(and the cheap ``evaluation``) only.
"""

import dagster as dg
import polars as pl

from llmhni_pipeline.assets.training import BackboneTrainingConfig
from llmhni_pipeline.datasets.registry import Protocol, SourceKind
from llmhni_pipeline.datasets.rlmrec import load_llard_edited_train
from llmhni_pipeline.deploy.queues import pool_tags
from llmhni_pipeline.lake import read_table, table_path
from llmhni_pipeline.methods import METHODS, MethodInputs, MethodUnavailable, get_method
from llmhni_pipeline.partitions import dataset_partitions
from llmhni_pipeline.recipe import train
from llmhni_pipeline.recsys.data import SplitData
from llmhni_pipeline.recsys.evaluate import KS, METRICS
from llmhni_pipeline.recsys.graph import InteractionGraph
from llmhni_pipeline.resources.device import DeviceResource
from llmhni_pipeline.resources.lake import LakeResource
from llmhni_pipeline.semantic.vectors import user_item_matrices

TEXT = "llm_embeddings"  # the upstream asset whose vectors text-based methods read, when materialized
SCHEMA = {
    "method": pl.String,
    "backbone": pl.String,
    "seed": pl.Int64,
    "protocol": pl.String,
    "status": pl.String,
    "best_epoch": pl.Int64,
    "valid_recall@20": pl.Float64,
    "seconds_per_epoch": pl.Float64,
    "metric": pl.String,
    "k": pl.Int16,
    "value": pl.Float64,
}


class BaselinesConfig(BackboneTrainingConfig):
    """The shared recipe settings (``RunSpec`` defaults) for every method, the methods and the seeds."""

    # the comparison's methods (llmhni_pipeline/methods/): one training per method and seed
    methods: list[str] = ["wbpr", "tce", "sgl", "simgcl", "xsimgcl", "rlmrec_con", "llard_graph"]
    seeds: list[int] = [2026]  # each method trains once per seed


def optional_inputs(
    context: dg.AssetExecutionContext, lake: LakeResource, key: str, data: SplitData
) -> MethodInputs:
    """What this partition offers besides its splits: text vectors, LLaRD's edited graph."""
    text = None
    if table_path(lake.lake_path, TEXT, key).is_file():  # optional; if there, of this version of the data
        text = user_item_matrices(read_table(lake.lake_path, TEXT, key), data.n_users, data.n_items)
    llard = None
    spec = lake.spec(key)
    if spec.source.kind is SourceKind.RLMREC and spec.protocol is Protocol.LLARD and spec.is_clean:
        folder = lake.shared_path / spec.source.folder
        if (folder / "llard").is_dir():
            users, items, dropped = load_llard_edited_train(folder, data.n_users, data.n_items)
            if dropped:
                context.log.warning(
                    f"{folder / 'llard'}: {dropped} edited pair(s) with ids outside the dataset dropped"
                )
            llard = InteractionGraph.from_arrays(users, items, data.n_users, data.n_items)
    return MethodInputs(data, text=text, llard_train=llard)


def result_rows(method: str, backbone: str, seed: int, status: str, run=None, test=None) -> list[dict]:
    base = {
        "method": method,
        "backbone": backbone,
        "seed": seed,
        "protocol": "held-out validation",
        "status": status,
        "best_epoch": None,
        "valid_recall@20": None,
        "seconds_per_epoch": None,
    }
    if run is None:
        return [{**base, "metric": None, "k": None, "value": None}]
    history = run.result.history
    base.update(
        {
            "best_epoch": run.result.best_epoch,
            "valid_recall@20": run.result.best_valid.get("recall@20"),
            "seconds_per_epoch": sum(r["train_seconds"] for r in history) / len(history),
        }
    )
    return [{**base, "metric": m, "k": k, "value": test[f"{m}@{k}"]} for m in METRICS for k in KS]


@dg.asset(
    partitions_def=dataset_partitions,
    group_name="eval",
    kinds={"pytorch", "parquet"},
    code_version="1",
    pool="gpu",
    op_tags=pool_tags("gpu"),
    deps=[TEXT],  # ordering only: read when materialized; a text-less dataset runs `--select ...,baselines`
)
def baselines(
    context: dg.AssetExecutionContext,
    config: BaselinesConfig,
    raw_interactions: pl.DataFrame,
    lake: LakeResource,
    device: DeviceResource,
) -> dg.Output[pl.DataFrame]:
    for name in config.methods:
        get_method(name)  # an unknown name fails before anything trains, listing the known ones
    data = SplitData.from_frame(raw_interactions)
    inputs = optional_inputs(context, lake, context.partition_key, data)
    dev = device.torch_device()
    rows: list[dict] = []
    total = len(config.methods) * len(config.seeds)
    for n, (name, seed) in enumerate(((m, s) for m in config.methods for s in config.seeds), 1):
        spec = config.spec(method=name, seed=seed)
        try:
            run = train(spec, inputs, dev)
        except MethodUnavailable as why:
            context.log.warning(f"[{n}/{total}] {name}: skipped ({why})")
            rows += result_rows(name, spec.backbone, seed, f"skipped: {why}")
            continue
        test = run.test_metrics(data, dev)
        context.log.info(
            f"[{n}/{total}] {name} seed {seed}: best epoch {run.result.best_epoch}, "
            f"test recall@20 {test['recall@20']:.4f}, ndcg@10 {test['ndcg@10']:.4f}"
        )
        rows += result_rows(name, spec.backbone, seed, "ok", run, test)
    table = pl.DataFrame(rows, schema=SCHEMA)
    ok = table.filter((pl.col("metric") == "recall") & (pl.col("k") == 20))
    summary = "\n".join(
        ["| method | seeds | test R@20 (mean) | best epochs |", "|---|---|---|---|"]
        + [
            f"| {m} | {g.height} | {g['value'].mean():.4f} | {', '.join(str(e) for e in g['best_epoch'])} |"
            for (m,), g in ok.group_by("method", maintain_order=True)
        ]
    )
    skipped = table.filter(pl.col("status") != "ok")["status"].to_list()
    return dg.Output(
        table,
        metadata={
            "results": dg.MetadataValue.md(summary),
            "methods": len(config.methods),
            "skipped": "; ".join(skipped) or "-",
            "known_methods": ", ".join(METHODS),
        },
    )
