"""New datasets become partitions (sensor); changed sources are re-materialized (schedule); judge batches are
followed until their output is cached (sensor)."""

import dagster as dg
import polars as pl

from llmhni_pipeline.datasets.errors import DatasetError
from llmhni_pipeline.datasets.interactions import source_files_of, source_fingerprint
from llmhni_pipeline.datasets.registry import builtin_dataset_keys, list_incoming, rejected_incoming
from llmhni_pipeline.partitions import DATASETS, dataset_partitions
from llmhni_pipeline.resources.lake import LakeResource
from llmhni_pipeline.resources.llm import LLMResource
from llmhni_pipeline.settings import env_number

MAIN_JOB = "llmhni_job"
# the judge stage and everything downstream of it: what a partition runs again once its batches are imported
AFTER_JUDGING = (
    "llm_logical_scores",
    "augmented_graph",
    "removed_edges",
    "joint_model",
    "evaluation",
    "report",
)
BATCH_POLL_SECONDS = env_number("LLMHNI_BATCH_POLL_SECONDS", 60, int, 1, what="a whole number of seconds")


@dg.sensor(
    job_name=MAIN_JOB,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Registers built-in datasets and every folder in <lake>/incoming/ as a partition, and "
    "requests the whole pipeline for each new incoming dataset.",
)
def incoming_datasets_sensor(context: dg.SensorEvaluationContext, lake: LakeResource) -> dg.SensorResult:
    known = set(context.instance.get_dynamic_partitions(DATASETS))
    incoming = [name for name in list_incoming(lake.lake_path) if name not in known]
    builtins = [key for key in builtin_dataset_keys() if key not in known]
    runs = [dg.RunRequest(partition_key=name, run_key=f"new:{name}") for name in incoming]
    if incoming:
        context.log.info(f"new incoming dataset(s): {', '.join(incoming)}")
    for name, why in rejected_incoming(lake.lake_path).items():  # said on every tick, never skipped silently
        context.log.warning(f"incoming/{name} is not a dataset: {why}")
    requests = [dataset_partitions.build_add_request(builtins + incoming)] if builtins or incoming else []
    return dg.SensorResult(run_requests=runs, dynamic_partitions_requests=requests)


def latest_fingerprint(instance: dg.DagsterInstance, partition: str) -> str | None:
    """The source fingerprint recorded by the last ``raw_interactions`` materialization of a partition."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("raw_interactions"), asset_partitions=[partition]),
        limit=1,
    )
    if not records.records:
        return None
    materialization = records.records[0].asset_materialization
    value = materialization.metadata.get("source_fingerprint") if materialization else None
    return value.value if value is not None else None


@dg.schedule(
    job_name=MAIN_JOB,
    cron_schedule="0 3 * * *",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Nightly: re-materialize every dataset whose source files changed since its last "
    "raw_interactions materialization.",
)
def stale_datasets_schedule(context: dg.ScheduleEvaluationContext, lake: LakeResource):
    requests = []
    for partition in context.instance.get_dynamic_partitions(DATASETS):
        recorded = latest_fingerprint(context.instance, partition)
        if recorded is None:
            continue  # never built: the sensor or a person starts it
        try:
            spec = lake.spec(partition)
        except DatasetError as exc:
            context.log.warning(str(exc))
            continue
        current = source_fingerprint(source_files_of(spec, lake.lake_path, lake.shared_path))
        if current != recorded:
            requests.append(dg.RunRequest(partition_key=partition, run_key=f"stale:{partition}:{current}"))
    return requests or dg.SkipReason("no dataset source changed")


@dg.sensor(
    job_name=MAIN_JOB,
    minimum_interval_seconds=BATCH_POLL_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Follows the judge's open Batch API batches (LLMHNI_JUDGE_BACKEND=openai-batch): imports each "
    "one's output when it is done (failed, expired and cancelled ones with the lines they finished), and runs the "
    "judge stage and everything downstream again for a partition with no batch left open.",
)
def judge_batches_sensor(context: dg.SensorEvaluationContext, llm: LLMResource):
    jobs = llm.batch_jobs(context.log.info)
    if not jobs.records().filter(~pl.col("imported")).height:
        return dg.SkipReason("no judge batch is open")
    finished = jobs.poll(llm.cache("judgments"))
    runs = [
        dg.RunRequest(
            partition_key=dataset,
            run_key=f"batches:{dataset}:{','.join(sorted(ids))}",
            asset_selection=[dg.AssetKey(name) for name in AFTER_JUDGING],
        )
        for dataset, ids in finished.items()
        if not jobs.open_for(dataset).height
    ]
    open_now = jobs.records().filter(~pl.col("imported"))
    if not runs:
        return dg.SkipReason(
            f"{open_now.height} batch(es) still open: "
            + ", ".join(
                f"{r['batch_id']} {r['status']} ({r['completed'] or 0}/{r['requests']})"
                for r in open_now.iter_rows(named=True)
            )
        )
    return runs
