import dagster as dg

from llmhni_pipeline.automation import MAIN_JOB, incoming_datasets_sensor, stale_datasets_schedule
from llmhni_pipeline.definitions import ASSETS, build_resources
from llmhni_pipeline.lake import table_path
from llmhni_pipeline.partitions import register_datasets
from llmhni_pipeline_tests.conftest import write_incoming

CSV = "user_id,item_id\n" + "".join(f"{u},{i}\n" for u in range(6) for i in range(u, u + 8))


def _instance(lake):
    """A sqlite instance that outlives the test (schedule contexts need an instance ref)."""
    home = lake.parent / "dagster_home"
    home.mkdir(exist_ok=True)
    return dg.DagsterInstance.local_temp(str(home))


def _defs(lake):
    """The main job's name and wiring, restricted to stage 0: the plumbing is under test, not training."""
    return dg.Definitions(
        assets=ASSETS,
        jobs=[
            dg.define_asset_job(
                MAIN_JOB, selection=dg.AssetSelection.assets("raw_interactions", "id_mappings")
            )
        ],
        sensors=[incoming_datasets_sensor],
        schedules=[stale_datasets_schedule],
        resources=build_resources(str(lake)),
        executor=dg.in_process_executor,
    )


def test_sensor_registers_a_dropped_folder_and_its_run_materializes_it(lake):
    write_incoming(lake, "shop", CSV)
    defs = _defs(lake)
    with _instance(lake) as instance:
        context = dg.build_sensor_context(
            instance=instance, resources={"lake": build_resources(str(lake))["lake"]}
        )
        result = incoming_datasets_sensor(context)
        added = result.dynamic_partitions_requests[0].partition_keys
        assert "shop" in added and "ml-100k" in added
        assert [r.partition_key for r in result.run_requests] == ["shop"]
        register_datasets(instance, list(added))
        # the requested run, as the daemon would launch it
        run = defs.resolve_job_def(MAIN_JOB).execute_in_process(partition_key="shop", instance=instance)
        assert run.success
        assert table_path(lake, "raw_interactions", "shop").is_file()
        # nothing new on the next tick
        again = incoming_datasets_sensor(
            dg.build_sensor_context(instance=instance, resources={"lake": build_resources(str(lake))["lake"]})
        )
        assert again.run_requests == [] and again.dynamic_partitions_requests == []


def test_schedule_requests_only_datasets_whose_source_changed(lake):
    write_incoming(lake, "shop", CSV)
    write_incoming(lake, "mall", CSV)
    defs = _defs(lake)
    resources = {"lake": build_resources(str(lake))["lake"]}
    with _instance(lake) as instance:
        register_datasets(instance, ["shop", "mall"])
        for key in ("shop", "mall"):
            assert (
                defs.resolve_job_def(MAIN_JOB)
                .execute_in_process(partition_key=key, instance=instance)
                .success
            )
        quiet = stale_datasets_schedule(dg.build_schedule_context(instance=instance, resources=resources))
        assert isinstance(quiet, dg.SkipReason)
        write_incoming(lake, "mall", CSV + "9,9\n")
        requests = stale_datasets_schedule(dg.build_schedule_context(instance=instance, resources=resources))
        assert [r.partition_key for r in requests] == ["mall"]
