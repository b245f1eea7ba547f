"""Published judgment sets: a judged cache exported to one versioned Parquet file and imported elsewhere, so the
next machine pays nothing for what one machine judged (issue 11).

The file holds the cache rows as they are (content key = hash of backend, model, prompt version and the exact
prompt; P(High), P(Mid), P(Low), status, tokens) and, in its Parquet key-value metadata, the format, the
backends, models and prompt versions it contains, the row count and a SHA-256 over its sorted keys and
probabilities. Import checks all of that before it writes anything, then adds the rows to the cache as one
segment; rows already cached keep their first answer.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from llmhni_pipeline.lake import atomic_write
from llmhni_pipeline.llm.cache import CallCache
from llmhni_pipeline.llm.gateway import JUDGE_SCHEMA, judge_key
from llmhni_pipeline.llm.interfaces import JudgePrompt

FORMAT = "llmhni-judgment-set/1"
META_KEY = "llmhni.judgment_set"
COLUMNS = {  # the judge cache's own row schema (gateway.JUDGE_SCHEMA) plus what identifies a row
    "key": pl.String,
    "backend": pl.String,
    "model": pl.String,
    "prompt_version": pl.String,
    **JUDGE_SCHEMA,
}


class JudgmentSetError(ValueError):
    """A file that is not a whole judgment set of this format; nothing was imported."""


def _checksum(frame: pl.DataFrame) -> str:
    text = frame.select("key", "p_high", "p_mid", "p_low", "status").sort("key").write_csv()
    return hashlib.sha256(text.encode()).hexdigest()


def _describe(frame: pl.DataFrame) -> dict[str, object]:
    return {
        "format": FORMAT,
        "rows": frame.height,
        "sha256": _checksum(frame),
        "backends": sorted(frame["backend"].unique().to_list()),
        "models": sorted(frame["model"].unique().to_list()),
        "prompt_versions": sorted(frame["prompt_version"].unique().to_list()),
    }


def prompt_keys(cache: CallCache, prompts: Sequence[JudgePrompt]) -> list[str]:
    """The cache keys ``prompts`` have under every judge (backend, model) the cache holds answers from: what a
    dataset's export selects (the cache itself knows no datasets, only prompts)."""
    rows = cache.load()
    if rows.height == 0:
        return []
    judges = rows.select("backend", "model").unique().iter_rows()
    return [judge_key(backend, model, p) for backend, model in judges for p in prompts]


def export_judgments(cache: CallCache, path: Path, keys: Sequence[str] | None = None) -> dict[str, object]:
    """Write the cached judgments (valid answers only; with ``keys``, only those) to ``path``; its
    description."""
    rows = cache.load() if keys is None else cache.load(list(keys))
    if rows.height == 0:
        what = (
            "no cached judgments"
            if keys is None
            else f"none of the {len(keys)} prompts' judgments are cached"
        )
        raise JudgmentSetError(f"{cache.folder}: {what}; nothing to export")
    missing = set(COLUMNS) - set(rows.columns)
    if missing:
        raise JudgmentSetError(f"{cache.folder}: the cache lacks column(s) {sorted(missing)}")
    frame = (
        rows.select([pl.col(c).cast(t) for c, t in COLUMNS.items()])
        .filter(pl.col("status") == "ok")
        .sort("key")
    )
    description = _describe(frame)
    atomic_write(
        path,
        lambda tmp: frame.write_parquet(
            tmp, compression="zstd", metadata={META_KEY: json.dumps(description)}
        ),
    )
    return description


def read_judgment_set(path: Path) -> tuple[pl.DataFrame, dict[str, object]]:
    """The rows and description of a judgment-set file, checked whole; ``JudgmentSetError`` otherwise."""
    if not path.is_file():
        raise JudgmentSetError(f"{path}: no such file")
    try:
        meta = pl.read_parquet_metadata(path)
        frame = pl.read_parquet(path)
    except Exception as exc:  # a truncated file has no footer; anything else unreadable is no set either
        raise JudgmentSetError(
            f"{path}: not a readable Parquet file (truncated or damaged?): {exc}"
        ) from None
    if META_KEY not in meta:
        raise JudgmentSetError(
            f"{path}: not a judgment set (no {META_KEY!r} metadata); export one with "
            "`llmhni judgments export`"
        )
    description = json.loads(meta[META_KEY])
    if description.get("format") != FORMAT:
        raise JudgmentSetError(f"{path}: format {description.get('format')!r}, this version reads {FORMAT!r}")
    if dict(frame.schema) != COLUMNS:
        raise JudgmentSetError(f"{path}: columns {dict(frame.schema)} differ from a judgment set's")
    if frame.height != description["rows"] or _checksum(frame) != description["sha256"]:
        raise JudgmentSetError(
            f"{path}: {frame.height} rows against {description['rows']} recorded, or the checksum differs: "
            "the file was changed or cut after export"
        )
    return frame, description


def import_judgments(cache: CallCache, path: Path) -> int:
    """Add a judgment set to the cache; the number of judgments that were not cached yet."""
    frame, _ = read_judgment_set(path)
    have = cache.load(frame["key"].to_list())
    known = set(have["key"].to_list()) if have.height else set()
    new = frame.filter(~pl.col("key").is_in(list(known)))
    cache.put(new)
    return new.height
