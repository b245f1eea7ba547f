import dagster as dg

from llmhni_pipeline.definitions import defs


def test_definitions_load_with_in_process_executor_and_main_job():
    dg.Definitions.validate_loadable(defs)
    job = defs.resolve_job_def("llmhni_job")
    assert job.executor_def.name == "in_process"
    assert {"raw_interactions", "id_mappings"} <= {k.to_user_string() for k in defs.resolve_all_asset_keys()}
