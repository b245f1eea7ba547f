"""RLMRec's text-attributed datasets: pickled scipy COO split matrices, JSON-lines id mappers, profile CSVs."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import polars as pl
import scipy.sparse as sp

from llmhni_pipeline.datasets.errors import DatasetError

SPLIT_FILES = {"train": "trn_mat.pkl", "valid": "val_mat.pkl", "test": "tst_mat.pkl"}
_MAPPER_ID_KEYS = {"user": "uid", "item": "iid"}


def load_split_matrix(path: Path) -> sp.csr_matrix:
    """Unpickle one split and check it is a binary-able sparse matrix."""
    if not path.is_file():
        raise DatasetError(path, "split file is missing")
    if path.stat().st_size == 0:
        raise DatasetError(path, "file is empty")
    try:
        with path.open("rb") as f:
            matrix = pickle.load(f)  # noqa: S301 - local research data named by the user's configuration
    except Exception as exc:  # unpickling raises anything; report it against the file
        raise DatasetError(path, f"cannot be unpickled ({type(exc).__name__}: {exc})") from exc
    if not sp.issparse(matrix):
        raise DatasetError(path, f"holds a {type(matrix).__name__}, expected a scipy sparse matrix")
    matrix = sp.csr_matrix(matrix)
    matrix.eliminate_zeros()  # RLMRec binarises with != 0
    return matrix


def load_rlmrec_splits(folder: Path) -> tuple[pl.DataFrame, int, int]:
    """Edges of the three splits as ``user_id, item_id, split`` plus the matrix shape.

    A missing train split (Steam as shipped) is an error: training on the validation split instead would
    silently change the protocol.
    """
    if not folder.is_dir():
        raise DatasetError(
            folder,
            "dataset folder does not exist: run `llmhni fetch rlmrec` to download it (pinned and hash-checked), "
            "or set LLMHNI_SHARED_DATA_DIR to a copy already on disk",
        )
    train_path = folder / SPLIT_FILES["train"]
    if not train_path.is_file():
        present = ", ".join(sorted(p.name for p in folder.glob("*_mat.pkl"))) or "none"
        raise DatasetError(
            train_path,
            "the train split is missing (split files present: "
            f"{present}); this dataset cannot be trained without it and the "
            "pipeline will not substitute another split",
        )
    frames, shape = [], None
    for split, name in SPLIT_FILES.items():
        path = folder / name
        matrix = load_split_matrix(path)
        if shape is None:
            shape = matrix.shape
        elif matrix.shape != shape:
            raise DatasetError(path, f"shape {matrix.shape} differs from the train matrix's {shape}")
        coo = matrix.tocoo()
        frames.append(
            pl.DataFrame(
                {
                    "user_id": coo.row.astype(np.int32),
                    "item_id": coo.col.astype(np.int32),
                    "split": [split] * coo.nnz,
                }
            )
        )
    assert shape is not None
    return pl.concat(frames), int(shape[0]), int(shape[1])


def load_mapper(path: Path, entity: str, expected: int) -> pl.DataFrame:
    """``id, raw_id`` from a JSON-lines mapper; ids must be exactly 0..expected-1."""
    if not path.is_file():
        raise DatasetError(path, "id mapper file is missing")
    id_key = _MAPPER_ID_KEYS[entity]
    ids, raws = [], []
    with path.open(encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                raw_key = next(k for k in row if k != id_key)
                ids.append(int(row[id_key]))
                raws.append(str(row[raw_key]))
            except (ValueError, KeyError, StopIteration, TypeError) as exc:
                raise DatasetError(
                    path, f"line {line_no} is not a {{{id_key!r}: int, raw: str}} object ({exc})"
                ) from exc
    mapper = pl.DataFrame({"id": pl.Series(ids, dtype=pl.Int32), "raw_id": raws}).sort("id")
    if mapper.height != expected or not mapper["id"].equals(pl.Series("id", range(expected), pl.Int32)):
        raise DatasetError(path, f"ids are not exactly 0..{expected - 1} ({mapper.height} rows)")
    return mapper


def read_profile_csv(path: Path, entity: str) -> pl.DataFrame:
    """``id, profile_text`` from an RLMRec profile CSV (rows are not sorted; texts may hold newlines)."""
    id_col = f"{entity}_id_int"
    try:
        frame = pl.read_csv(path, schema_overrides={id_col: pl.Int32, f"{entity}_id_raw": pl.String})
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise DatasetError(path, f"not a readable profile CSV ({exc})") from exc
    missing = {id_col, "profile_text"} - set(frame.columns)
    if missing:
        raise DatasetError(path, f"missing column(s) {sorted(missing)}")
    return frame.select(pl.col(id_col).alias("id"), "profile_text")


LLARD_EDITED_TRAIN = "llard/aug_traindata.npy"
_LLARD_SENTINEL = 9_999_999  # LLaRD pads its per-user lists with this id


def load_llard_edited_train(folder: Path, n_users: int, n_items: int) -> tuple[np.ndarray, np.ndarray, int]:
    """LLaRD's published LLM-edited training set (``{user: [items]}`` in an ``.npy``) as (users, items) arrays,
    without the ``9999999`` padding and without duplicate pairs, and the number of pairs dropped because their ids
    lie outside the dataset (the amazon file has one: item 10256 of 9,332; its LLM's addition, it seems)."""
    path = folder / LLARD_EDITED_TRAIN
    if not path.is_file():
        raise DatasetError(path, "LLaRD's edited training set is missing")
    try:
        lists = np.load(path, allow_pickle=True).tolist()  # noqa: S301 - the shared dataset named by config
    except Exception as exc:
        raise DatasetError(
            path, f"cannot be read as LLaRD's dict of item lists ({type(exc).__name__}: {exc})"
        ) from exc
    if not isinstance(lists, dict):
        raise DatasetError(path, f"holds a {type(lists).__name__}, expected a dict user -> item list")
    users, items = [], []
    for user, row in lists.items():
        row = [int(i) for i in row if int(i) != _LLARD_SENTINEL]
        users.extend([int(user)] * len(row))
        items.extend(row)
    users_a, items_a = np.asarray(users, dtype=np.int64), np.asarray(items, dtype=np.int64)
    bad = (users_a < 0) | (users_a >= n_users) | (items_a < 0) | (items_a >= n_items)
    if bad.mean() > 0.001:  # a stray id is the file's; many mean the wrong dataset
        raise DatasetError(
            path, f"{int(bad.sum())} pairs fall outside the dataset's {n_users} users × {n_items} items"
        )
    pairs = np.unique(users_a[~bad] * n_items + items_a[~bad])
    return pairs // n_items, pairs % n_items, int(bad.sum())
