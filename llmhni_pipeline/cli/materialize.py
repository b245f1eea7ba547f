"""``llmhni materialize``: the main job (or a selection) for dataset partitions, in process or on workers."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

from llmhni_pipeline.cli.common import CLIError, dagster_environment, open_instance
from llmhni_pipeline.lake import PROJECT_ROOT, default_lake_dir


def add_parser(sub) -> None:
    p = sub.add_parser(
        "materialize", help="run the main job (every stage) for one or more dataset partitions"
    )
    p.add_argument(
        "dataset",
        nargs="*",
        help="dataset key(s) (default: ml-100k); several run one after the other, or "
        "at once with LLMHNI_EXECUTOR=celery",
    )
    p.add_argument("--select", help="comma-separated asset names to run instead of the whole graph")
    p.add_argument("--config", help="YAML run config (ops: <asset>: config: ...)")
    p.set_defaults(func=cmd_materialize)


def cmd_materialize(args: argparse.Namespace) -> int:
    datasets = list(dict.fromkeys(args.dataset or ["ml-100k"]))
    if len(datasets) == 1:
        return materialize_one(args, datasets[0])
    from llmhni_pipeline.datasets.registry import parse_dataset_key
    from llmhni_pipeline.deploy.queues import executor_kind

    for dataset in datasets:  # every key known before the first run starts
        parse_dataset_key(dataset, default_lake_dir())

    if executor_kind() != "celery":  # one process, one run after the other
        return max(materialize_one(args, dataset) for dataset in datasets)
    return materialize_parallel(args, datasets)


def materialize_parallel(args: argparse.Namespace, datasets: list[str]) -> int:
    """One orchestrating process per dataset, all at once: their steps share the workers and the pools."""
    import subprocess
    import threading

    passed = [
        *(["--select", args.select] if args.select else []),
        *(["--config", args.config] if args.config else []),
    ]
    children = {
        dataset: subprocess.Popen(
            [
                sys.executable,
                "-m",
                "llmhni_pipeline.cli",
                *(["--debug"] if args.debug else []),
                "materialize",
                dataset,
                *passed,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )
        for dataset in datasets
    }

    def relay(dataset: str, child: subprocess.Popen) -> None:
        for line in child.stdout:
            print(f"[{dataset}] {line}", end="", flush=True)

    relays = [threading.Thread(target=relay, args=item, daemon=True) for item in children.items()]
    for thread in relays:
        thread.start()
    try:
        codes = {dataset: child.wait() for dataset, child in children.items()}
    except KeyboardInterrupt:
        for child in children.values():
            child.send_signal(signal.SIGINT)
        for child in children.values():
            child.wait()
        raise
    for thread in relays:
        thread.join()
    failed = [d for d, code in codes.items() if code]
    print(
        f"{len(datasets) - len(failed)} of {len(datasets)} runs succeeded"
        + (f"; failed: {', '.join(failed)}" if failed else "")
    )
    return max(codes.values())


def require_shared_instance(instance) -> None:
    """Celery workers report to the instance the run was created in: it must be one every host can reach."""
    storage = type(instance.run_storage).__name__
    if "Postgres" not in storage:
        raise CLIError(
            f"LLMHNI_EXECUTOR=celery: the Dagster instance in DAGSTER_HOME={os.environ['DAGSTER_HOME']} keeps its "
            f"runs in {storage}, which workers cannot share; use the worker deployment's instance: "
            'deploy/workers/services.sh start && eval "$(deploy/workers/services.sh env)" '
            "(docs/guide/workers.md)"
        )


def materialize_one(args: argparse.Namespace, dataset: str) -> int:
    args = argparse.Namespace(**{**vars(args), "dataset": dataset})
    config_path = Path(args.config).resolve() if args.config else None  # before the chdir below
    if config_path is not None and not config_path.is_file():
        raise CLIError(f"--config {args.config}: no such file ({config_path})")
    if args.select is not None and not [a for a in args.select.split(",") if a.strip()]:
        raise CLIError("--select is empty; name one or more assets, or leave it out to run the whole graph")
    from llmhni_pipeline.run_report import RunConfigError, load_run_config

    try:
        run_config = (
            load_run_config(config_path.read_text(), f"--config {args.config}") if config_path else None
        )
    except RunConfigError as exc:
        raise CLIError(str(exc)) from None
    dagster_environment()
    import dagster as dg

    from llmhni_pipeline.automation import MAIN_JOB
    from llmhni_pipeline.datasets.registry import parse_dataset_key
    from llmhni_pipeline.definitions import defs
    from llmhni_pipeline.deploy.queues import executor_kind
    from llmhni_pipeline.partitions import register_datasets
    from llmhni_pipeline.run_hygiene import (
        own_run,
        release_dead_runs,
        release_finished_runs,
        run_tags,
        wait_for_pools,
    )
    from llmhni_pipeline.run_report import (
        RunFollower,
        check_run_config,
        check_whole_config,
        compact_console_logger,
        failure_lines,
        interrupted,
        judge_lines,
        unused_by_selection,
        where_to_look,
    )

    parse_dataset_key(args.dataset, default_lake_dir())  # fail fast on an unknown key
    instance = open_instance()
    register_datasets(instance, [args.dataset])
    known = {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}
    names = [a.strip() for a in args.select.split(",") if a.strip()] if args.select else []
    unknown = sorted(set(names) - known)
    if unknown:
        raise CLIError(f"--select: unknown asset(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    selection = [dg.AssetKey(a) for a in names] or None
    # the whole graph is the main job; a selection may name any asset (baselines too)
    job = defs.resolve_implicit_global_asset_job_def() if selection else defs.resolve_job_def(MAIN_JOB)
    try:
        check_run_config(run_config, job, f"--config {args.config}")
        # the whole file against the whole graph, whatever is selected: a selection runs only its steps, and
        # Dagster checks only their config, so a typo or a cap elsewhere in the file would pass unseen
        check_whole_config(
            run_config, defs.resolve_implicit_global_asset_job_def(), f"--config {args.config}"
        )
    except RunConfigError as exc:
        raise CLIError(str(exc)) from None
    on_workers = executor_kind() == "celery"
    if on_workers:
        require_shared_instance(instance)
        if not args.debug and not (run_config or {}).get(
            "loggers"
        ):  # the workers' debug events stay in the log
            run_config = {**(run_config or {}), "loggers": {"console": {"config": {"log_level": "INFO"}}}}
    elif not args.debug and not (run_config or {}).get("loggers"):
        # Dagster's console log without stack traces; the event log keeps them
        job = job.with_logger_defs({"console": compact_console_logger})
        run_config = {**(run_config or {}), "loggers": {"console": {}}}
    graph = defs.resolve_asset_graph()
    # an asset written together with others (raw_interactions and id_mappings) brings them along
    if selection:
        whole = dg.AssetSelection.assets(*selection).required_multi_asset_neighbors().resolve(graph)
        extra = sorted(k.to_user_string() for k in whole - set(selection))
        if extra:
            print(f"--select: also {', '.join(extra)} (written by the same step)", file=sys.stderr)
        selection = sorted(whole, key=lambda k: k.to_user_string())
    if selection and run_config:
        for line in unused_by_selection(run_config, [defs.get_assets_def(k) for k in selection], selection):
            print(f"--select: {line}", file=sys.stderr)
    wanted = selection or list(job.asset_layer.executable_asset_keys)
    pools = {pool for key in wanted if graph.has(key) for pool in (graph.get(key).pools or ())}
    if on_workers:  # the Celery executor waits for pool slots per step, without spinning
        release_dead_runs(instance)
        release_finished_runs(instance)
        since = time.time()
        with RunFollower(instance, lambda: own_run(instance, since), sorted(pools)):
            result = execute_on_workers(job.name, instance, run_config, selection, args.dataset)
    else:
        wait_for_pools(instance, sorted(pools))
        result = job.execute_in_process(
            partition_key=args.dataset,
            instance=instance,
            run_config=run_config,
            asset_selection=selection,
            raise_on_error=False,
            tags=run_tags(),
        )
    if result.success:
        for line in judge_lines(result):
            print(line)
        invoked = sys.argv[0] if Path(sys.argv[0]).name == "llmhni" else "llmhni"
        for line in where_to_look(result, args.dataset, invoked):  # then the last line says how it ended
            print(line)
        print(f"run {result.run_id}: SUCCESS ({args.dataset})")
        return 0
    if interrupted(result):
        print(
            f"run {result.run_id}: INTERRUPTED ({args.dataset}); every finished step and LLM answer is kept: run "
            "the same command again to continue"
        )
        return 130
    causes = "; ".join(failure_lines(result)) or "no step failed (see the log above)"
    print(
        "llmhni: the traces are in the run's event log (llmhni ui) and shown by llmhni --debug",
        file=sys.stderr,
    )
    print(f"run {result.run_id}: FAILURE ({args.dataset}) at {causes}")
    return 1


def execute_on_workers(job_name: str, instance, run_config, selection, dataset: str):
    """Run the job with its Celery executor: this process orchestrates, each step is a task on a worker."""
    import dagster as dg

    from llmhni_pipeline.deploy.internals import ReconstructableRepository
    from llmhni_pipeline.run_hygiene import run_tags

    repository = ReconstructableRepository.for_module(
        "llmhni_pipeline.definitions", "defs", working_directory=str(PROJECT_ROOT)
    )
    with dg.execute_job(
        repository.get_reconstructable_job(job_name),
        instance=instance,
        run_config=run_config,
        tags={**run_tags(), "dagster/partition": dataset},
        asset_selection=selection,
        raise_on_error=False,
    ) as result:
        return result
