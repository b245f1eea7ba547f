"""What every command shares: one-line errors, paths from the caller's working directory, the Dagster instance,
and lake tables through the lineage check."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from llmhni_pipeline.lake import PROJECT_ROOT, LakePath, StaleTableError, read_table, table_path

PATH_VARIABLES = ("LLMHNI_LAKE_DIR", "LLMHNI_SHARED_DATA_DIR", "DAGSTER_HOME")


class CLIError(ValueError):
    """A mistake in what the user asked for: one line, no traceback."""


def one_line(exc: ValueError) -> str:
    """An error's message on one line: a settings check (pydantic) says only what is wrong."""
    errors = getattr(exc, "errors", None)
    if callable(errors) and type(exc).__name__ == "ValidationError":
        return "; ".join(str(e.get("msg", "")).removeprefix("Value error, ") for e in errors())
    return str(exc)


def absolute_paths() -> None:
    """Relative paths in the environment are the caller's: resolve them against the working directory now,
    before anything (Dagster, a subprocess) could read them from elsewhere. URLs (an ``s3://`` lake) stay."""
    for name in PATH_VARIABLES:
        if os.environ.get(name) and "://" not in os.environ[name]:
            os.environ[name] = str(Path(os.environ[name]).expanduser().resolve())


def dagster_environment() -> None:
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
    if not has_pool_limit(home / "dagster.yaml"):
        print(
            f"llmhni: warning: DAGSTER_HOME={home} sets no pool limit (concurrency: pools: default_limit in its "
            "dagster.yaml), so two runs may train or judge at once on one machine; copy the concurrency section of "
            f"{PROJECT_ROOT / 'dagster.yaml'} into it",
            file=sys.stderr,
        )


def has_pool_limit(path: Path) -> bool:
    """Whether a Dagster instance file limits its pools (``concurrency: pools: default_limit``), as the
    repository's does: without it the ``gpu`` and ``llm`` stages of two runs run side by side."""
    import yaml

    if not path.is_file():
        return False
    try:
        config = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError:
        return False
    pools = ((config.get("concurrency") or {}).get("pools") or {}) if isinstance(config, dict) else {}
    return isinstance(pools, dict) and pools.get("default_limit") is not None


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


def lake_table(lake: LakePath, table: str, dataset: str, optional: bool = False):
    """A partition's table through the lineage check every stage applies, or a one-line error naming the missing
    or stale table (``optional``: ``None`` when it is missing)."""
    path = table_path(lake, table, dataset)
    if not path.is_file():
        if optional:
            return None
        raise CLIError(f"{path}: no {table} for {dataset!r}; materialize it first")
    try:
        return read_table(lake, table, dataset)
    except StaleTableError as exc:
        raise CLIError(str(exc)) from None
