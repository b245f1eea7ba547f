"""llmhni: fetch data and judge models, run the pipeline for dataset partitions, judge in batches, start workers, query the lake with DuckDB, open the UI."""

from __future__ import annotations

import argparse
import signal
import sys

from llmhni_pipeline.cli import datasets, fetch, judgments, materialize, sql, ui, worker
from llmhni_pipeline.cli.common import absolute_paths, one_line
from llmhni_pipeline.lake import StaleTableError

COMMAND_MODULES = (fetch, datasets, materialize, judgments, worker, sql, ui)  # in --help's order


def build_parser() -> argparse.ArgumentParser:
    """Every sub-command, each registered by its own module (the CLI reference is generated from this)."""
    parser = argparse.ArgumentParser(prog="llmhni", description=__doc__)
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in COMMAND_MODULES:
        module.add_parser(sub)
    return parser


def _terminate_as_interrupt(signum, frame) -> None:
    """SIGTERM (a container stopping, `kill`) takes the Ctrl-C path: finished LLM batches are cached first."""
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else argv
    absolute_paths()
    signal.signal(signal.SIGTERM, _terminate_as_interrupt)
    if argv[:1] == ["ui"] and argv[1:2] != ["--help"]:  # -h is dagster dev's --host
        return ui.cmd_ui(argv[1:])
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("llmhni: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # one clear line; the traceback only when asked for
        if args.debug:
            raise
        if isinstance(exc, ValueError | StaleTableError | FileNotFoundError):
            # the user's input or the lake's state (CLIError, DatasetError, a stale table): the message is the answer
            print(f"llmhni: error: {one_line(exc)}", file=sys.stderr)
        else:
            print(
                f"llmhni: error: {type(exc).__name__}: {exc} (--debug shows the traceback)", file=sys.stderr
            )
        return 2
