"""Persistent call cache: append-only Parquet segments in the lake, one per finished batch.

Each segment is written to a temporary file and renamed, so a process killed at any moment leaves either a
whole segment or none. Reading takes the first row per key (a crash during compaction may leave a row in two
segments). Keys hash backend, model, prompt version and the exact input; nothing else is needed to decide
whether a call was already paid for.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from pathlib import Path

import polars as pl

from llmhni_pipeline.lake import atomic_write

COMPACT_AFTER = 256  # segments


def cache_key(backend: str, model: str, prompt_version: str, payload: str) -> str:
    text = f"{backend}\x00{model}\x00{prompt_version}\x00{payload}"
    return hashlib.sha256(text.encode()).hexdigest()


class CallCache:
    """A namespace of cached results (``embeddings`` or ``judgments``) under ``<lake>/_llm_cache/``."""

    def __init__(self, root: Path, namespace: str):
        self.folder = root / namespace
        self.folder.mkdir(parents=True, exist_ok=True)

    def segments(self) -> list[Path]:
        return sorted(self.folder.glob("seg-*.parquet"))

    def load(self, keys: list[str] | None = None) -> pl.DataFrame:
        """Cached rows, first per key; restricted to ``keys`` when given."""
        segments = self.segments()
        if not segments:
            return pl.DataFrame()
        frame = pl.scan_parquet(segments)
        if keys is not None:
            frame = frame.filter(pl.col("key").is_in(pl.Series(keys).implode()))
        return frame.unique("key", keep="first", maintain_order=True).collect()

    def put(self, rows: pl.DataFrame) -> Path | None:
        """Persist one batch of results as a new segment."""
        if rows.height == 0:
            return None
        path = self.folder / f"seg-{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.parquet"
        atomic_write(path, lambda tmp: rows.write_parquet(tmp))
        if len(self.segments()) > COMPACT_AFTER:
            self.compact()
        return path

    def compact(self) -> None:
        """Merge all segments into one; the new segment is in place before the old ones go."""
        old = self.segments()
        merged = pl.scan_parquet(old).unique("key", keep="first", maintain_order=True).collect()
        path = self.folder / f"seg-{time.time_ns():020d}-compact.parquet"
        atomic_write(path, lambda tmp: merged.write_parquet(tmp))
        for segment in old:
            segment.unlink(missing_ok=True)

    def __len__(self) -> int:
        return self.load().height
