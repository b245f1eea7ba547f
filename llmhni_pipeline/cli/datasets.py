"""``llmhni datasets``: the dataset keys the pipeline knows, and synthetic datasets for measuring cost."""

from __future__ import annotations

import argparse

from llmhni_pipeline.cli.common import CLIError
from llmhni_pipeline.lake import default_lake_dir


def add_parser(sub) -> None:
    p = sub.add_parser(
        "datasets",
        help="list the dataset keys the pipeline knows; `datasets synth NAME --interactions N` writes a "
        "synthetic incoming dataset for measuring cost",
    )
    p.add_argument(
        "action",
        nargs="?",
        choices=["list", "synth"],
        default="list",
        help="list the keys, or write a synthetic set",
    )
    p.add_argument("name", nargs="?", help="synth: the incoming folder's name")
    p.add_argument("--interactions", type=int, help="synth: how many distinct interactions")
    p.add_argument("--seed", type=int, default=2026, help="synth: the draw's seed")
    p.add_argument("--format", choices=["parquet", "csv"], default="parquet", help="synth: the files' format")
    p.set_defaults(func=cmd_datasets)


def cmd_datasets(args: argparse.Namespace) -> int:
    if args.action == "synth":
        return cmd_synth(args)
    from llmhni_pipeline.datasets.registry import (
        BUILTIN_SOURCES,
        builtin_dataset_keys,
        list_incoming,
        rejected_incoming,
    )

    print("built-in:")
    for key in builtin_dataset_keys():
        name = key.removesuffix("-llard")
        print(f"  {key:24s} {BUILTIN_SOURCES[name].description}")
    incoming = list_incoming(default_lake_dir())
    print("incoming:", ", ".join(incoming) if incoming else "(none)")
    for name, why in rejected_incoming(default_lake_dir()).items():
        print(f"  not a dataset: incoming/{name}: {why}")
    print("noise variants: append -noise05|-noise10|-noise15|-noise20 to any key (fake train edges)")
    print(
        "hidden variants: append -hide05|-hide10|-hide15|-hide20 (before any -noiseNN) to hold back that share "
        "of each user's train edges from G, a known truth for judges"
    )
    return 0


def cmd_synth(args: argparse.Namespace) -> int:
    """``datasets synth NAME --interactions N``: a synthetic incoming dataset for measuring cost."""
    from llmhni_pipeline.datasets.registry import incoming_name_problem
    from llmhni_pipeline.datasets.synth import MAX_INTERACTIONS, MIN_INTERACTIONS, write_synthetic
    from llmhni_pipeline.lake import incoming_dir

    if not args.name or not args.interactions:
        raise CLIError(
            "datasets synth: give a NAME and --interactions N, e.g. llmhni datasets synth synth-1m --interactions 1000000"
        )
    # everything checked before anything is written
    if why := incoming_name_problem(args.name):
        raise CLIError(f"datasets synth {args.name!r}: {why}")
    if not MIN_INTERACTIONS <= args.interactions <= MAX_INTERACTIONS:
        raise CLIError(
            f"--interactions: from {MIN_INTERACTIONS:,} to {MAX_INTERACTIONS:,}, not {args.interactions:,}"
        )
    folder = incoming_dir(default_lake_dir()) / args.name
    try:
        summary = write_synthetic(folder, args.interactions, args.seed, args.format)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    print(
        f"{folder}: {summary['interactions']:,} interactions, {summary['users']:,} users, {summary['items']:,} "
        f"items (degree Gini {summary['user_degree_gini']} / {summary['item_degree_gini']}; amazon-book: 0.44 / "
        f"0.35) in {summary['seconds']} s. {summary['note']}. Next: llmhni materialize {args.name}"
    )
    return 0
