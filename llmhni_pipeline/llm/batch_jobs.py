"""Judge prompts submitted to an OpenAI-compatible Batch API and followed until their output is cached.

The judge's batch mode (``LLMHNI_JUDGE_BACKEND=openai-batch``) and the ``judge_batches_sensor`` are thin shells
over this module (no Dagster import here):

- ``submit`` writes a round's batch files (``llm/batch.py``), and for each file records an intent
  (``submitting``, with an export id) *before* it uploads the file and creates the batch, whose metadata carries
  the export id; the batch id is recorded right after. A process killed in between leaves an intent without a
  batch id: the next ``submit`` or ``poll`` finds the batch by its export id in ``batches.list`` and adopts it
  instead of creating another, so no prompt is submitted twice.
- ``poll`` retrieves every open batch; once it is done (``completed``, or ``expired``/``cancelled``/``failed``
  with whatever lines finished) it downloads the output and error files, imports them (an import is idempotent:
  a crash between download and record costs nothing but a second import), and records the outcome.

The records live in the lake, ``<lake>/_llm_batches/jobs-*.parquet`` (append-only segments, the newest row per
export id wins), so every process and worker sees the same state.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from llmhni_pipeline.lake import LakePath, atomic_write, source
from llmhni_pipeline.llm.batch import (
    BACKEND,
    CHAT_URL,
    ImportReport,
    PendingBatches,
    export_judge_batch,
    import_judge_batch,
)
from llmhni_pipeline.llm.cache import CallCache
from llmhni_pipeline.llm.gateway import judge_key
from llmhni_pipeline.llm.interfaces import JudgePrompt

OPEN = ("submitting", "validating", "in_progress", "finalizing", "cancelling")
DONE = ("completed", "expired", "cancelled", "failed")
JOB_SCHEMA = {
    "export_id": pl.String,
    "dataset": pl.String,
    "model": pl.String,
    "file": pl.String,
    "requests": pl.Int64,
    "batch_id": pl.String,
    "status": pl.String,
    "completed": pl.Int64,
    "failed": pl.Int64,
    "imported": pl.Boolean,
    "added": pl.Int64,
    "cost_usd": pl.Float64,  # at the batch price
    "note": pl.String,
    "updated_at": pl.Float64,
}


class BatchJobs:
    """The batch records of one lake, and the calls that move them forward through an ``openai.OpenAI`` client."""

    def __init__(self, lake_dir: LakePath, client=None, report: Callable[[str], None] = print):
        self.lake_dir = lake_dir
        self.folder = self.lake_dir / "_llm_batches"
        self.client = client
        self.report = report

    # ------------------------------------------------------------------------------------------------ records
    def records(self) -> pl.DataFrame:
        segments = sorted(self.folder.glob("jobs-*.parquet"), key=str) if self.folder.is_dir() else []
        if not segments:
            return pl.DataFrame(schema=JOB_SCHEMA)
        return pl.read_parquet([source(s) for s in segments]).unique(
            "export_id", keep="last", maintain_order=True
        )

    def _write(self, **row: object) -> None:
        full = {name: row.get(name) for name in JOB_SCHEMA} | {"updated_at": time.time()}
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"jobs-{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.parquet"
        frame = pl.DataFrame([full], schema=JOB_SCHEMA)
        atomic_write(path, lambda tmp: frame.write_parquet(tmp))

    def _update(self, record: dict[str, object], **changes: object) -> dict[str, object]:
        row = {**record, **changes}
        self._write(**row)
        return row

    def open_for(self, dataset: str) -> pl.DataFrame:
        """Records of ``dataset`` still waiting for their batch, or done but not yet imported."""
        records = self.records()
        return records.filter(
            (pl.col("dataset") == dataset) & (pl.col("status").is_in(OPEN) | ~pl.col("imported"))
        )

    # ------------------------------------------------------------------------------------------------ submit
    def submit(
        self, prompts: list[JudgePrompt], model: str, cache: CallCache, dataset: str, top_logprobs: int = 10
    ) -> list[str]:
        """Export this round's uncached prompts and create one batch per file; the batch ids."""
        self.adopt_orphans()
        in_flight = self.in_flight_keys()  # prompts of open batches are never exported again
        prompts = [p for p in prompts if judge_key(BACKEND, model, p) not in in_flight]
        files = self.folder / "files"
        stamp = time.strftime("%Y%m%d-%H%M%S")
        written = export_judge_batch(
            prompts,
            model,
            cache,
            PendingBatches(self.lake_dir),
            dataset,
            files / f"{dataset}-{stamp}.jsonl",
            top_logprobs,
        )
        ids = []
        for path, lines, _ in written:
            record = {
                "export_id": uuid.uuid4().hex,
                "dataset": dataset,
                "model": model,
                "file": str(path),
                "requests": lines,
                "status": "submitting",
                "imported": False,
            }
            self._write(**record)  # the intent, before anything is sent
            with path.open("rb") as handle:
                uploaded = self.client.files.create(file=handle, purpose="batch")
            batch = self.client.batches.create(
                input_file_id=uploaded.id,
                endpoint=CHAT_URL,
                completion_window="24h",
                metadata={"llmhni_export": record["export_id"], "llmhni_dataset": dataset},
            )
            self._update(record, batch_id=batch.id, status=batch.status)
            self.report(f"{dataset}: batch {batch.id} created with {lines:,} requests ({path.name})")
            ids.append(batch.id)
        return ids

    def in_flight_keys(self) -> set[str]:
        """Custom ids of prompts in batches still open."""
        open_files = self.records().filter(pl.col("status").is_in(OPEN))["file"].to_list()
        if not open_files:
            return set()
        pending = PendingBatches(self.lake_dir).load()
        return set(pending.filter(pl.col("file").is_in(open_files))["custom_id"].to_list())

    def adopt_orphans(self) -> int:
        """Intents without a batch id (a process killed between creating the batch and recording it): find the
        batch by its export id and record it; an intent whose batch was never created is marked failed, so its
        prompts are exported again (they were never sent)."""
        orphans = self.records().filter(pl.col("status") == "submitting")
        if not orphans.height:
            return 0
        by_export = {}
        for batch in self.client.batches.list(limit=100):
            export = (getattr(batch, "metadata", None) or {}).get("llmhni_export")
            if export:
                by_export[export] = batch
        adopted = 0
        for record in orphans.iter_rows(named=True):
            batch = by_export.get(record["export_id"])
            if batch is None:
                self._update(record, status="failed", imported=True, note="never submitted (process stopped)")
                continue
            self._update(record, batch_id=batch.id, status=batch.status)
            self.report(f"{record['dataset']}: adopted batch {batch.id}, created before its process stopped")
            adopted += 1
        return adopted

    # ------------------------------------------------------------------------------------------------ poll
    def poll(self, cache: CallCache) -> dict[str, list[str]]:
        """Move every open batch forward; per dataset, the batch ids that finished and were imported now."""
        self.adopt_orphans()
        finished: dict[str, list[str]] = {}
        for record in (
            self.records().filter(pl.col("status").is_in(OPEN) | ~pl.col("imported")).iter_rows(named=True)
        ):
            if record["batch_id"] is None:
                continue
            batch = self.client.batches.retrieve(record["batch_id"])
            counts = getattr(batch, "request_counts", None)
            record = self._update(
                record,
                status=batch.status,
                completed=int(getattr(counts, "completed", 0) or 0),
                failed=int(getattr(counts, "failed", 0) or 0),
            )
            if batch.status not in DONE or record["imported"]:
                continue
            report = self._import(batch, cache)
            note = "; ".join(report.lines()[:3])
            self._update(record, imported=True, added=report.added, cost_usd=report.cost_usd, note=note)
            level = (
                ""
                if batch.status == "completed"
                else f" ({batch.status}: its unfinished prompts can be re-exported)"
            )
            self.report(f"{record['dataset']}: batch {batch.id} {batch.status}{level}: {note}")
            finished.setdefault(record["dataset"], []).append(batch.id)
        return finished

    def _import(self, batch, cache: CallCache) -> ImportReport:
        paths = []
        for kind in ("output_file_id", "error_file_id"):
            file_id = getattr(batch, kind, None)
            if not file_id:
                continue
            path = self.folder / "files" / f"{batch.id}-{kind.removesuffix('_file_id')}.jsonl"
            text = self.client.files.content(file_id).text
            atomic_write(path, lambda tmp, text=text: tmp.write_text(text))
            paths.append(path)
        return import_judge_batch(paths, cache, PendingBatches(self.lake_dir))


@dataclass(frozen=True)
class Waiting:
    """What the judge stage says while batches of its partition are open."""

    batch_ids: list[str]
    requests: int

    def message(self, dataset: str) -> str:
        return (
            f"{dataset}: waiting for batch {', '.join(self.batch_ids)} ({self.requests:,} prompts); nothing is passed "
            "downstream as judged. The judge_batches_sensor imports the output when it is done and runs this "
            "partition again (or: llmhni judgments batch-import <output file>, then materialize)"
        )
