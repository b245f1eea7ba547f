"""New datasets become partitions (sensor); changed sources are re-materialized (schedule)."""

import dagster as dg

from llmhni_pipeline.datasets.errors import DatasetError
from llmhni_pipeline.datasets.interactions import source_files_of, source_fingerprint
from llmhni_pipeline.datasets.registry import builtin_dataset_keys, list_incoming, rejected_incoming
from llmhni_pipeline.partitions import DATASETS, dataset_partitions
from llmhni_pipeline.resources.lake import LakeResource

MAIN_JOB = "llmhni_job"


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
