"""``llmhni judgments`` and ``llmhni embeddings``: judgment sets, Batch API files, and the judge trial."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from llmhni_pipeline.cli.common import CLIError, lake_table
from llmhni_pipeline.denoise.judge_worth import TRIAL_PAIRS, TRIAL_SEED
from llmhni_pipeline.lake import default_lake_dir


def add_parser(sub) -> None:
    p = sub.add_parser(
        "judgments",
        help="judgment sets (export/import the judged cache), Batch API files (batch-export/batch-import) and a "
        "judge trial before the bill (trial)",
    )
    judgments = p.add_subparsers(dest="action", required=True)
    q = judgments.add_parser("export", help="write the judged cache to a judgment set (Parquet)")
    q.add_argument("file", help="the judgment-set Parquet file")
    q.add_argument(
        "--dataset",
        help="export only the judgments of this partition's candidate pairs (default: all cached)",
    )
    q.set_defaults(func=cmd_judgments)
    q = judgments.add_parser("import", help="add a judgment set to the cache (pays nothing twice)")
    q.add_argument("file", help="the judgment-set Parquet file")
    q.set_defaults(func=cmd_judgments, dataset=None)
    q = judgments.add_parser(
        "batch-export",
        help="write a partition's uncached judge prompts as Batch API files (OpenAI; vLLM run-batch)",
    )
    q.add_argument("dataset", help="dataset key whose candidate_pairs are judged")
    q.add_argument("out", help="the .jsonl file (split into -001, -002 … at 50,000 lines / 200 MB)")
    q.add_argument("--model", help="judge model (default $LLMHNI_JUDGE_MODEL or gpt-4o-mini)")
    q.add_argument("--both-views", action="store_true", help="both perspectives of every pair in one round")
    q.set_defaults(func=cmd_batch)
    q = judgments.add_parser(
        "trial",
        help="judge a stratified sample with the configured backend: its signal beside the recommender's, and "
        "the cost of full coverage",
    )
    q.add_argument("dataset", help="dataset key whose candidate_pairs are sampled")
    q.add_argument(
        "--pairs",
        type=int,
        default=TRIAL_PAIRS,
        help=f"sampled candidate pairs (default {TRIAL_PAIRS}, as the stage's trial)",
    )
    q.add_argument("--seed", type=int, default=TRIAL_SEED, help="which pairs the sample draws")
    q.set_defaults(func=cmd_trial)
    q = judgments.add_parser(
        "batch-import", help="cache the answers of Batch API output/error files (any order, several files)"
    )
    q.add_argument("files", nargs="+", help="output and error .jsonl files")
    q.set_defaults(func=cmd_batch)

    p = sub.add_parser(
        "embeddings", help="the profile texts as Batch API files, and their output into the cache"
    )
    embeddings = p.add_subparsers(dest="action", required=True)
    q = embeddings.add_parser("batch-export", help="write a partition's profile texts not embedded yet")
    q.add_argument("dataset", help="dataset key whose text_profiles are embedded")
    q.add_argument("out", help="the .jsonl file (split at 50,000 lines / 200 MB)")
    q.add_argument("--model", help="embedding model (default $LLMHNI_EMBED_MODEL or text-embedding-ada-002)")
    q.set_defaults(func=cmd_embeddings)
    q = embeddings.add_parser("batch-import", help="cache the embeddings of Batch API output/error files")
    q.add_argument("files", nargs="+", help="output and error .jsonl files")
    q.set_defaults(func=cmd_embeddings)


def cmd_judgments(args: argparse.Namespace) -> int:
    from llmhni_pipeline.denoise.partition import partition_prompts
    from llmhni_pipeline.llm.cache import CallCache
    from llmhni_pipeline.llm.judgment_sets import (
        export_judgments,
        import_judgments,
        prompt_keys,
        read_judgment_set,
    )

    lake = default_lake_dir()
    cache = CallCache(lake / "_llm_cache", "judgments")
    path = Path(args.file).resolve()
    if args.action == "export":
        keys = None
        if args.dataset:
            user, item = partition_prompts(lake, args.dataset)
            keys = prompt_keys(cache, user + item)
        d = export_judgments(cache, path, keys)
        print(
            f"{path}: {d['rows']} judgments ({', '.join(d['models'])}; prompts {', '.join(d['prompt_versions'])})"
        )
    else:
        _, d = read_judgment_set(path)
        added = import_judgments(cache, path)
        print(
            f"{path}: {added} of {d['rows']} judgments added to {cache.folder} (the rest were cached already)"
        )
    return 0


def _batch_import(files: list[str], importer, cache, pending) -> int:
    """``batch-import`` of judgments or embeddings: every file must exist; the import's summary printed."""
    missing = [f for f in files if not Path(f).is_file()]
    if missing:
        raise CLIError(f"batch-import: no such file {', '.join(missing)}")
    for line in importer([Path(f) for f in files], cache, pending).lines():
        print(line)
    return 0


def _written_lines(written: list[tuple[Path, int, int]]) -> list[dict[str, object]]:
    """Print each written batch file's size; its request lines, for the cost estimate."""
    for path, n, size in written:
        print(f"{path}: {n:,} requests, {size / 2**20:.1f} MiB")
    return [json.loads(t) for path, _, _ in written for t in path.read_text().splitlines()]


def cmd_batch(args: argparse.Namespace) -> int:
    """``judgments batch-export`` / ``batch-import``: judge prompts as Batch API files, and their output cached."""
    from llmhni_pipeline.assets.llm_logical_scores import JudgeConfig
    from llmhni_pipeline.denoise.partition import batch_round
    from llmhni_pipeline.llm.accounting import DEFAULT_PRICES, call_cost
    from llmhni_pipeline.llm.batch import (
        BATCH_DISCOUNT,
        PendingBatches,
        estimated_tokens,
        export_judge_batch,
        import_judge_batch,
    )
    from llmhni_pipeline.llm.cache import CallCache
    from llmhni_pipeline.llm.labels import LabelThresholds

    lake = default_lake_dir()
    cache, pending = CallCache(lake / "_llm_cache", "judgments"), PendingBatches(lake)
    if args.action == "batch-import":
        return _batch_import(args.files, import_judge_batch, cache, pending)
    model = args.model or os.environ.get("LLMHNI_JUDGE_MODEL") or "gpt-4o-mini"
    config = JudgeConfig()  # the stage's defaults: its order and thresholds decide the round
    thresholds = LabelThresholds(config.threshold_mode, config.high, config.low)
    prompts = batch_round(
        lake,
        args.dataset,
        model,
        cache,
        args.both_views,
        thresholds,
        config.user_order,
        config.user_order_seed,
    )
    out = Path(args.out).resolve()
    written = export_judge_batch(prompts, model, cache, pending, args.dataset, out)
    if not written:
        print(f"{args.dataset}: every prompt of this round is cached already; nothing to export")
        return 0
    lines = _written_lines(written)
    tokens = estimated_tokens(lines)
    print(
        f"{len(lines):,} prompts, about {tokens:,} input tokens (characters / 4) and {len(lines):,} output tokens"
    )
    for name in dict.fromkeys([model, "gpt-4o-mini", "gpt-4o"]):
        if name in DEFAULT_PRICES:
            sync = call_cost(name, tokens, len(lines), DEFAULT_PRICES)
            print(f"  {name}: about ${sync:.2f} synchronous, ${BATCH_DISCOUNT * sync:.2f} as a batch")
    if not args.both_views:
        print(
            "round 1 sends the user-centric prompts; after importing its output, run batch-export again for the "
            "item-centric prompts of the pairs it judged High (--both-views sends both in one round, about twice "
            "the prompts)"
        )
    return 0


def cmd_embeddings(args: argparse.Namespace) -> int:
    """``embeddings batch-export`` / ``batch-import``: the profile texts as ``/v1/embeddings`` batch files."""
    from llmhni_pipeline.llm.accounting import DEFAULT_PRICES, call_cost
    from llmhni_pipeline.llm.batch import (
        BATCH_DISCOUNT,
        PendingBatches,
        estimated_tokens,
        export_embedding_batch,
        import_embedding_batch,
    )
    from llmhni_pipeline.llm.cache import CallCache

    lake = default_lake_dir()
    cache, pending = CallCache(lake / "_llm_cache", "embeddings"), PendingBatches(lake)
    if args.action == "batch-import":
        return _batch_import(args.files, import_embedding_batch, cache, pending)

    model = args.model or os.environ.get("LLMHNI_EMBED_MODEL") or "text-embedding-ada-002"
    texts = lake_table(lake, "text_profiles", args.dataset)["text"].to_list()
    written = export_embedding_batch(texts, model, cache, pending, args.dataset, Path(args.out).resolve())
    if not written:
        print(f"{args.dataset}: every profile text is embedded already; nothing to export")
        return 0
    tokens = estimated_tokens(_written_lines(written))  # the texts not embedded yet, as the files hold them
    sync = call_cost(model, tokens, 0, DEFAULT_PRICES)
    print(
        f"about {tokens:,} input tokens: ${sync:.4f} synchronous, ${BATCH_DISCOUNT * sync:.4f} as a batch ({model})"
    )
    return 0


def cmd_trial(args: argparse.Namespace) -> int:
    """``judgments trial``: judge a seeded, stratified sample with the configured backend, report its signal with
    confidence intervals beside the recommender's, the cost of full coverage, what the judge-worth curve expects
    of a judge this good, and whether ``coverage: auto`` would judge the rest (``denoise.trial.run_trial``, as
    the stage runs it)."""
    import types

    import polars as pl

    from llmhni_pipeline.assets.llm_logical_scores import JudgeConfig, break_even
    from llmhni_pipeline.denoise.judge_worth import expected_gains
    from llmhni_pipeline.denoise.judging import judge_pairs
    from llmhni_pipeline.denoise.pair_judges import NoGroundTruth, bound_judge
    from llmhni_pipeline.denoise.partition import judged_pairs, partition_prompts
    from llmhni_pipeline.denoise.trial import decide, run_trial
    from llmhni_pipeline.denoise.truth import with_probes
    from llmhni_pipeline.llm.labels import LabelThresholds
    from llmhni_pipeline.resources.llm import LLMResource

    if args.pairs < 10:
        raise CLIError("--pairs: at least 10 pairs, or no interval means anything")
    lake = default_lake_dir()
    config = JudgeConfig()
    pairs = judged_pairs(lake, args.dataset, config.user_order, config.user_order_seed)
    interactions = lake_table(lake, "raw_interactions", args.dataset)
    candidates = pairs
    pairs = with_probes(
        candidates, interactions, args.pairs // 2, args.seed
    )  # as the stage's trial asks them
    user, item = partition_prompts(lake, args.dataset, pairs)
    projected = lake_table(lake, "aligned_projector", args.dataset, optional=True)
    llm = LLMResource(lake_dir=str(lake))
    try:
        judge, user, item = bound_judge(
            llm.judge(),
            args.dataset,
            pairs,
            user,
            item,
            interactions,
            pl.DataFrame() if projected is None else projected,
        )
    except NoGroundTruth as exc:
        raise CLIError(str(exc)) from None
    cache = llm.cache("judgments")
    options = llm.run_options(types.SimpleNamespace(info=print), "judge")
    thresholds = LabelThresholds(config.threshold_mode, config.high, config.low)
    users = pairs["user_id"].to_numpy()
    print(
        f"{args.dataset}: judging {min(args.pairs, candidates.height)} sampled pairs with {judge.backend}:{judge.model}"
    )

    def judge_rows(rows):
        return judge_pairs(
            judge, [user[i] for i in rows], [item[i] for i in rows], users[rows], cache, options, thresholds
        )

    trial = run_trial(
        pairs,
        interactions,
        user,
        item,
        judge_rows,
        thresholds,
        args.pairs,
        args.seed,
        token_model=judge.model,
        models=list(dict.fromkeys([judge.model, "gpt-4o-mini", "gpt-4o"])),
    )
    report = trial.report
    for line in report.lines():
        print(line)
    even = break_even(config, args.dataset, candidates, "hidden" in report.gate_questions)
    gate = decide("auto", report.judge_auc, report.gate_questions, even.auc, even.source)
    if report.judge_auc[0] == report.judge_auc[0]:  # measured (not NaN)
        for gain in expected_gains(report.judge_auc):
            print(gain.line())
    verdict = "judge every pair" if gate.judge_rest else "do not judge the rest (G′ = G)"
    print(
        f"recommendation: {verdict}: {gate.reason} (coverage: auto does this by itself; coverage: full forces it)"
    )
    return 0
