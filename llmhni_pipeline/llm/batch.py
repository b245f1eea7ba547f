"""Judge prompts as batch files for OpenAI's Batch API and vLLM's ``run-batch``, and their output read back into
the cache exactly as the synchronous path writes it.

**Export.** One line per prompt: ``{"custom_id": <cache key>, "method": "POST", "url": "/v1/chat/completions",
"body": <the synchronous request>}`` (``openai_backend.chat_request_body``: the same model, messages and
parameters, byte for byte). Files are split at OpenAI's limits (50,000 lines, 200 MB each). Every exported
prompt is recorded as *pending* in the lake (``<lake>/_llm_batches/pending-*.parquet``: its custom id, backend,
model, prompt version, dataset and file) before the file is handed out, so an import knows what it may accept.

**Import.** Output and error lines (OpenAI's and vLLM's share one format: ``{"id", "custom_id", "response":
{"status_code", "request_id", "body"}, "error"}``, in any order) are matched by ``custom_id``: a valid answer is
cached as the synchronous judge would cache it (``gateway.judge_rows``), so materializing ``llm_logical_scores``
afterwards makes no call for it. An unknown id, a repeated id, an answer from another model, a cut or unreadable
line and an error line are counted and never cached. Nothing here talks to a server.

This module has no Dagster import: the CLI (``llmhni judgments batch-export|batch-import``) is its shell.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from llmhni_pipeline.lake import LakePath, atomic_write, source
from llmhni_pipeline.llm.accounting import DATED_SNAPSHOT, DEFAULT_PRICES, call_cost
from llmhni_pipeline.llm.cache import CallCache, cache_key
from llmhni_pipeline.llm.gateway import judge_key, judge_rows
from llmhni_pipeline.llm.interfaces import CallStatus, JudgePrompt
from llmhni_pipeline.llm.openai_backend import MalformedResponse, chat_request_body, judge_result_from_chat

CHAT_URL = "/v1/chat/completions"
EMBEDDINGS_URL = "/v1/embeddings"
MAX_LINES = 50_000  # OpenAI Batch API: requests per file
MAX_BYTES = 200 * 1024 * 1024  # and bytes per file
BATCH_DISCOUNT = 0.5  # the Batch API's price is half the synchronous one
BACKEND = "openai"  # cache keys are the OpenAI backend's: a synchronous run after the import finds them
PENDING_SCHEMA = {
    "custom_id": pl.String,
    "namespace": pl.String,
    "backend": pl.String,
    "model": pl.String,
    "prompt_version": pl.String,
    "dataset": pl.String,
    "file": pl.String,
    "exported_at": pl.Float64,
}


def batch_lines(
    prompts: Sequence[JudgePrompt], model: str, top_logprobs: int = 10
) -> list[dict[str, object]]:
    """One Batch API request per prompt, ``custom_id`` = the prompt's cache key; repeated prompts once."""
    seen: set[str] = set()
    lines = []
    for prompt in prompts:
        key = judge_key(BACKEND, model, prompt)
        if key in seen:
            continue
        seen.add(key)
        body = chat_request_body(prompt, model, top_logprobs)
        lines.append({"custom_id": key, "method": "POST", "url": CHAT_URL, "body": body})
    return lines


def split_files(lines: Sequence[dict[str, object]], out: Path) -> list[tuple[Path, list[dict[str, object]]]]:
    """The lines in files of at most ``MAX_LINES`` lines and ``MAX_BYTES`` bytes: ``out`` itself when one file
    holds them all, else ``<stem>-001.jsonl``, ``-002`` …"""
    chunks: list[list[dict[str, object]]] = [[]]
    size = 0
    for line in lines:
        length = len(json.dumps(line, ensure_ascii=False).encode()) + 1
        if chunks[-1] and (len(chunks[-1]) >= MAX_LINES or size + length > MAX_BYTES):
            chunks.append([])
            size = 0
        chunks[-1].append(line)
        size += length
    if len(chunks) == 1:
        return [(out, chunks[0])]
    return [(out.with_name(f"{out.stem}-{i:03d}{out.suffix}"), chunk) for i, chunk in enumerate(chunks, 1)]


def estimated_tokens(lines: Iterable[dict[str, object]]) -> int:
    """Input tokens, estimated as characters / 4 (no tokenizer is installed; OpenAI's rule of thumb), plus the
    chat template's few tokens per message."""
    total = 0
    for line in lines:
        body = line["body"]
        if "messages" in body:  # type: ignore[operator]
            total += sum(len(m["content"]) // 4 + 4 for m in body["messages"])  # type: ignore[index]
        else:  # an embeddings request
            total += len(str(body["input"])) // 4 + 1  # type: ignore[index]
    return total


class PendingBatches:
    """What was exported and may be imported: ``<lake>/_llm_batches/pending-*.parquet``, one segment per export,
    each written atomically before its file is handed out."""

    def __init__(self, lake_dir: LakePath):
        self.folder = lake_dir / "_llm_batches"

    def record(
        self,
        lines: Sequence[dict[str, object]],
        versions: dict[str, str],
        namespace: str,
        dataset: str,
        file: Path,
    ) -> None:
        """Record exported lines (``versions``: custom id → prompt version) as pending answers of ``namespace``."""
        rows = pl.DataFrame(
            [
                {
                    "custom_id": line["custom_id"],
                    "namespace": namespace,
                    "backend": BACKEND,
                    "model": line["body"]["model"],  # type: ignore[index]
                    "prompt_version": versions[str(line["custom_id"])],
                    "dataset": dataset,
                    "file": str(file),
                    "exported_at": time.time(),
                }
                for line in lines
            ],
            schema=PENDING_SCHEMA,
        )
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"pending-{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.parquet"
        atomic_write(path, lambda tmp: rows.write_parquet(tmp))

    def load(self) -> pl.DataFrame:
        segments = sorted(self.folder.glob("pending-*.parquet"), key=str) if self.folder.is_dir() else []
        if not segments:
            return pl.DataFrame(schema=PENDING_SCHEMA)
        return pl.read_parquet([source(s) for s in segments]).unique(
            "custom_id", keep="last", maintain_order=True
        )


def export_batch(
    lines: Sequence[dict[str, object]],
    versions: dict[str, str],
    namespace: str,
    cache: CallCache,
    pending: PendingBatches,
    dataset: str,
    out: Path,
) -> list[tuple[Path, int, int]]:
    """Write the lines whose answer is not cached yet as batch files; (path, lines, bytes) per file. Each file's
    lines are recorded as pending before the file exists. Nothing is written when every answer is cached."""
    cached = cache.load([str(line["custom_id"]) for line in lines])
    have = set(cached["key"].to_list()) if cached.height else set()
    lines = [line for line in lines if line["custom_id"] not in have]
    written = []
    for path, chunk in split_files(lines, out) if lines else []:
        pending.record(chunk, versions, namespace, dataset, path)  # recorded before anyone can send the file
        text = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in chunk)
        atomic_write(path, lambda tmp, text=text: tmp.write_text(text))
        written.append((path, len(chunk), len(text.encode())))
    return written


def export_judge_batch(
    prompts: Sequence[JudgePrompt],
    model: str,
    cache: CallCache,
    pending: PendingBatches,
    dataset: str,
    out: Path,
    top_logprobs: int = 10,
) -> list[tuple[Path, int, int]]:
    """The judge prompts not cached yet as batch files (see ``export_batch``)."""
    versions = {judge_key(BACKEND, model, p): p.prompt_version for p in prompts}
    return export_batch(
        batch_lines(prompts, model, top_logprobs), versions, "judgments", cache, pending, dataset, out
    )


def embedding_lines(texts: Sequence[str], model: str, prompt_version: str = "raw") -> list[dict[str, object]]:
    """One ``/v1/embeddings`` request per text (repeated texts once), ``custom_id`` = its cache key."""
    lines, seen = [], set()
    for text in texts:
        key = cache_key(BACKEND, model, prompt_version, text)
        if key not in seen:
            seen.add(key)
            lines.append(
                {
                    "custom_id": key,
                    "method": "POST",
                    "url": EMBEDDINGS_URL,
                    "body": {"model": model, "input": text},
                }
            )
    return lines


def export_embedding_batch(
    texts: Sequence[str], model: str, cache: CallCache, pending: PendingBatches, dataset: str, out: Path
) -> list[tuple[Path, int, int]]:
    """The profile texts not embedded yet as batch files (the key ``embed_texts`` caches them under)."""
    lines = embedding_lines(texts, model)
    return export_batch(
        lines, {str(line["custom_id"]): "raw" for line in lines}, "embeddings", cache, pending, dataset, out
    )


@dataclass
class ImportReport:
    added: int = 0
    already_cached: int = 0
    error_lines: Counter[str] = field(default_factory=Counter)  # by status code or error code
    unknown: int = 0
    duplicates: int = 0
    foreign_model: int = 0
    cut_lines: int = 0
    unreadable: int = 0
    read_from_text: int = 0
    replaced_text_reads: int = (
        0  # answers with log-probabilities that replaced ones read from the answer word
    )
    snapshots: Counter[str] = field(default_factory=Counter)  # dated snapshots that answered, by name
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0  # at the batch price
    missing: int = 0  # pending prompts still without an answer
    examples: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [
            f"{self.added} answers cached, {self.already_cached} were cached already",
            f"{sum(self.error_lines.values())} error lines"
            + (
                f" ({', '.join(f'{k}: {v}' for k, v in sorted(self.error_lines.items()))})"
                if self.error_lines
                else ""
            ),
            f"refused: {self.unknown} unknown custom_id, {self.duplicates} repeated, {self.foreign_model} from another "
            f"model, {self.cut_lines} cut or not JSON, {self.unreadable} unreadable answers",
            f"tokens of the answers added: {self.tokens_in:,} in / {self.tokens_out:,} out, ${self.cost_usd:.4f} at "
            "the batch price",
            f"{self.missing} exported prompts still have no answer (re-export them with batch-export)",
        ]
        if self.snapshots:
            out.append(
                "answered by dated snapshots of the exported model: "
                + ", ".join(f"{name} ({n})" for name, n in sorted(self.snapshots.items()))
            )
        if self.read_from_text:
            out.append(
                f"{self.read_from_text} answers had no log-probabilities: read from the answer word (probability 1; "
                "they cannot rank, and an answer with log-probabilities imported later replaces them)"
            )
        if self.replaced_text_reads:
            out.append(
                f"{self.replaced_text_reads} answers read from the answer word replaced by ones with log-probabilities"
            )
        return out + [f"e.g. {e}" for e in self.examples[:5]]


def _answers(
    paths: Sequence[Path], known: dict[str, dict[str, object]], report: ImportReport
) -> Iterator[tuple[str, dict[str, object], dict[str, object]]]:
    """(custom id, response body, pending record) of every line that is whole, exported here, answered first,
    with status 200 and by the exported model; every other line is counted in ``report``."""
    seen: set[str] = set()
    for path in paths:
        for number, text in enumerate(path.read_text().splitlines(), 1):
            if not text.strip():
                continue
            where = f"{path}:{number}"
            try:
                line = json.loads(text)
                custom_id = line["custom_id"]
            except (json.JSONDecodeError, KeyError, TypeError):
                report.cut_lines += 1
                report.examples.append(f"{where}: not a whole JSON line with a custom_id")
                continue
            if custom_id not in known:
                report.unknown += 1
                report.examples.append(f"{where}: custom_id {str(custom_id)[:16]}… was never exported here")
                continue
            response = line.get("response") or {}
            if (
                line.get("error") or response.get("status_code") != 200
            ):  # not an answer: a retry may bring one
                error = line.get("error") or {}
                report.error_lines[str(error.get("code") or response.get("status_code") or "error")] += 1
                continue
            if custom_id in seen:
                report.duplicates += 1
                report.examples.append(
                    f"{where}: custom_id {custom_id[:16]}… answered twice; the first answer kept"
                )
                continue
            body = response.get("body") or {}
            if isinstance(body, str):  # some runners send the body as a JSON string
                try:
                    body = json.loads(body)
                except json.JSONDecodeError:
                    report.unreadable += 1
                    continue
            wanted = str(known[custom_id]["model"])
            served = str(body.get("model") or "")
            if not same_model(served, wanted):
                report.foreign_model += 1
                report.examples.append(
                    f"{where}: answered by {served or 'an unnamed model'!r}, exported for {wanted!r}"
                )
                continue
            if served != wanted:  # OpenAI answers gpt-4o-mini with its dated snapshot gpt-4o-mini-2024-07-18
                report.snapshots[served] += 1
            seen.add(custom_id)
            yield custom_id, body, known[custom_id]


def same_model(served: str, wanted: str) -> bool:
    """Whether an answer's ``model`` is the exported one, exactly or as its dated snapshot (``gpt-4o-mini`` is
    answered by ``gpt-4o-mini-2024-07-18``); ``gpt-4o-mini`` for ``gpt-4o``, ``hc-qwen-72b`` for ``hc-qwen`` or
    no model at all are not."""
    return served == wanted or (
        served.startswith(wanted) and DATED_SNAPSHOT.fullmatch(served.removeprefix(wanted)) is not None
    )


def _pending_and_cached(
    cache: CallCache, pending: PendingBatches, namespace: str
) -> tuple[dict[str, dict[str, object]], set[str]]:
    known = {
        r["custom_id"]: r
        for r in pending.load().filter(pl.col("namespace") == namespace).iter_rows(named=True)
    }
    cached = cache.load(list(known)) if known else pl.DataFrame()
    return known, set(cached["key"].to_list()) if cached.height else set()


def _text_reads(cache: CallCache, keys: set[str]) -> set[str]:
    """Which of these cached answers were read from the answer word: a later answer with log-probabilities may
    replace them."""
    if not keys:
        return set()
    rows = cache.load(list(keys))
    return (
        set(rows.filter(pl.col("status") == str(CallStatus.TEXT))["key"].to_list()) if rows.height else set()
    )


def import_judge_batch(
    paths: Sequence[Path],
    cache: CallCache,
    pending: PendingBatches,
    prices: dict[str, tuple[float, float]] | None = None,
) -> ImportReport:
    """Cache every valid answer of these output/error files (any order, OpenAI's or vLLM's format)."""
    prices = prices or DEFAULT_PRICES
    report = ImportReport()
    known, have = _pending_and_cached(cache, pending, "judgments")
    text_reads = _text_reads(cache, have)
    answers = []
    for custom_id, body, record in _answers(paths, known, report):
        try:
            result, from_text = judge_result_from_chat(body)
        except (MalformedResponse, KeyError, TypeError, AttributeError):
            report.unreadable += 1
            continue
        if not result.status.usable:
            report.unreadable += 1
            continue
        if custom_id in have and not (custom_id in text_reads and not from_text):
            report.already_cached += 1
            continue
        report.replaced_text_reads += custom_id in text_reads
        report.read_from_text += from_text
        report.tokens_in += (
            result.tokens_in
        )  # what this import added, so a re-import that adds nothing says 0
        report.tokens_out += result.tokens_out
        report.cost_usd += BATCH_DISCOUNT * call_cost(
            str(record["model"]), result.tokens_in, result.tokens_out, prices
        )
        answers.append((custom_id, record, result))
    if answers:
        rows = judge_rows(
            [r for _, _, r in answers],
            BACKEND,
            [str(a["model"]) for _, a, _ in answers],
            [str(a["prompt_version"]) for _, a, _ in answers],
        ).with_columns(key=pl.Series([k for k, _, _ in answers]))
        cache.put(rows)
        report.added = len(answers)
    answered = have | {k for k, _, _ in answers}
    report.missing = sum(key not in answered for key in known)
    return report


def import_embedding_batch(
    paths: Sequence[Path],
    cache: CallCache,
    pending: PendingBatches,
    prices: dict[str, tuple[float, float]] | None = None,
) -> ImportReport:
    """Cache every valid embedding of these output/error files, as ``embed_texts`` caches them."""
    prices = prices or DEFAULT_PRICES
    report = ImportReport()
    known, have = _pending_and_cached(cache, pending, "embeddings")
    keys, records, vectors = [], [], []
    for custom_id, body, record in _answers(paths, known, report):
        data = body.get("data") or []
        vector = data[0].get("embedding") if data and isinstance(data[0], dict) else None
        if not isinstance(vector, list) or not vector or not all(isinstance(v, int | float) for v in vector):
            report.unreadable += 1  # missing, or per-token vectors (a chat model behind /v1/embeddings)
            continue
        if custom_id in have:
            report.already_cached += 1
            continue
        tokens = int((body.get("usage") or {}).get("prompt_tokens") or 0)
        report.tokens_in += tokens
        report.cost_usd += BATCH_DISCOUNT * call_cost(str(record["model"]), tokens, 0, prices)
        keys.append(custom_id)
        records.append(record)
        vectors.append(vector)
    if keys:
        cache.put(
            pl.DataFrame(
                {
                    "backend": BACKEND,
                    "model": pl.Series([str(r["model"]) for r in records], dtype=pl.String),
                    "prompt_version": pl.Series([str(r["prompt_version"]) for r in records], dtype=pl.String),
                    "vector": pl.Series(vectors, dtype=pl.List(pl.Float32)),
                    "key": pl.Series(keys, dtype=pl.String),
                }
            )
        )
        report.added = len(keys)
    answered = have | set(keys)
    report.missing = sum(key not in answered for key in known)
    return report
