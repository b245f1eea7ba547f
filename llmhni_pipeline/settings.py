"""Numbers read from the environment, checked once, with an error that names the variable and what it takes."""

from __future__ import annotations

import os


def env_number(
    name: str,
    default: float | int,
    kind: type = float,
    minimum: float | None = None,
    maximum: float | None = None,
    exclusive_minimum: bool = False,
    what: str = "a number",
) -> float | int:
    """``$name`` as ``kind`` (``default`` when unset or empty), within ``[minimum, maximum]`` (``(minimum, …``
    with ``exclusive_minimum``); ``ValueError`` naming the variable otherwise."""
    text = os.environ.get(name) or ""
    if not text.strip():
        return default
    try:
        value = kind(text.strip())
    except ValueError:
        raise ValueError(f"{name} must be {what}, not {text!r}") from None
    low_ok = minimum is None or (value > minimum if exclusive_minimum else value >= minimum)
    if not low_ok or (maximum is not None and value > maximum):
        low = "" if minimum is None else f"{'above' if exclusive_minimum else 'at least'} {minimum:g}"
        high = "" if maximum is None else f"at most {maximum:g}"
        raise ValueError(f"{name} must be {what} {' and '.join(x for x in (low, high) if x)}, not {text!r}")
    return value


# Every environment variable the project reads, with its default and meaning: the configuration reference is
# generated from this list, and a test fails when the code reads a variable this list does not name.
ENVIRONMENT: list[tuple[tuple[str, ...], str, str]] = [
    (
        ("LLMHNI_LAKE_DIR",),
        "`./data_lake`",
        "the Parquet lake: a folder, or `s3://bucket/prefix` with the `s3` extra (docs/guide/object-store.md)",
    ),
    (
        ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_REGION"),
        "–",
        "an `s3://` lake's credentials and server, read from the environment only, never printed",
    ),
    (
        ("LLMHNI_LEASE_TTL_S",),
        "`60`",
        "an `s3://` lake: seconds after its holder's last refresh that a claim on LLM work may be taken over",
    ),
    (
        ("LLMHNI_SHARED_DATA_DIR",),
        "the fetched copy, else `../shared/data`",
        "a folder holding the RLMRec-format datasets already on disk; without it, what `llmhni fetch rlmrec` put in the lake's raw area",
    ),
    (
        ("LLMHNI_RLMREC_MIRROR",),
        "GitHub at the pinned commits",
        "`llmhni fetch rlmrec` reads the files from this copy laid out as the data folder (`file://` or `http://`), same hash checks",
    ),
    (
        ("LLMHNI_MODEL_DIR",),
        "`<lake>/raw/models`; `~/.cache/llmhni/models` beside an `s3://` lake",
        "where `llmhni fetch` puts the embedded judges' GGUF files and llama.cpp reads them",
    ),
    (("LLMHNI_MAX_ID_CHARS",), "`512`", "the longest user or item id an incoming dataset may have"),
    (
        ("LLMHNI_LLM_BASE_URL",),
        "none: the embedded models",
        "an OpenAI-compatible endpoint (vLLM, Ollama, llama.cpp server, OpenAI); several, comma-separated, are a pool (docs/guide/llm-backends.md)",
    ),
    (("OPENAI_API_KEY",), "–", "the endpoint's key; never logged, written or shown"),
    (("LLMHNI_EMBED_BACKEND",), "`local`, or `openai` with a base URL", "`local` (MiniLM) or `openai`"),
    (
        ("LLMHNI_JUDGE_BACKEND",),
        "`local`, or `openai` with a base URL",
        "`local` (llama.cpp), `openai`, `openai-batch` (Batch API, followed by a sensor), `simulated` (a judge of known AUC on a `-hideNN`/`-noiseNN` partition) or `semantic` (module 1's relevance, free)",
    ),
    (
        ("LLMHNI_EMBED_MODEL", "LLMHNI_JUDGE_MODEL"),
        "`text-embedding-ada-002`, `gpt-4o-mini`",
        "the endpoint's models",
    ),
    (("LLMHNI_LOCAL_JUDGE",), "`qwen2.5-coder-0.5b`", "the embedded judge (`llmhni fetch judge-<name>`)"),
    (
        ("LLMHNI_SIMULATED_AUC", "LLMHNI_SIMULATED_SEED"),
        "`0.8`, `2026`",
        "the simulated judge's AUC against the planted truth, and the seed that draws which pairs it gets right",
    ),
    (("LLMHNI_BATCH_POLL_SECONDS",), "`60`", "how often the batch sensor asks about open Batch API batches"),
    (
        ("LLMHNI_DEVICE",),
        "`auto`",
        "where training runs: `auto` (a GPU when there is one), `cpu`, `cuda`, `cuda:1`, …",
    ),
    (
        ("LLMHNI_MAX_DENSE_GB",),
        "`8`",
        "the largest dense matrix work a stage may allocate (GiB); above it exact EASE gives way to SANSA (`scale` extra) or is refused",
    ),
    (
        ("LLMHNI_BLOCK_GB",),
        "`1`",
        "the largest block of users × items scores ranking holds at once (GiB); results do not change",
    ),
    (
        ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT"),
        "`GOMP_SPINCOUNT=3000` in a lone `llmhni materialize`, `1000` in every other process",
        "how torch's CPU threads wait between parallel regions: the package bounds the spin (3,000: as fast as `ACTIVE` alone, 1.3× slower beside an equal process; 1,000: 1.1× slower alone, as polite as `PASSIVE` beside other work; docs/benchmarks.md, OpenMP wait policy); your own value always wins",
    ),
    (
        ("LLMHNI_EXECUTOR",),
        "in process",
        "`celery`: each step is a task on a Celery worker (docs/guide/workers.md)",
    ),
    (
        ("LLMHNI_CELERY_BROKER", "LLMHNI_CELERY_BACKEND"),
        "`redis://127.0.0.1:6379/0`, the broker",
        "Celery's broker and result backend, for the orchestrator and the workers alike",
    ),
    (
        ("LLMHNI_POSTGRES_URL",),
        "–",
        "the worker deployment's instance, `postgresql+psycopg2://user@host:port/db` (`deploy/workers/services.sh env` prints it)",
    ),
    (
        ("LLMHNI_STATE_DIR", "LLMHNI_REDIS_PORT", "LLMHNI_PG_PORT", "LLMHNI_PG_DIR"),
        "`~/.local/state/llmhni`, `6379`, `5432`, beside the state (as root `/var/lib/postgresql/llmhni`)",
        "`deploy/workers/services.sh`: where the services keep their data, logs and pid files, and their ports",
    ),
    (
        ("DAGSTER_HOME",),
        "the repository (set by `llmhni` unless set)",
        "the Dagster instance (its dagster.yaml; storage under it)",
    ),
]
