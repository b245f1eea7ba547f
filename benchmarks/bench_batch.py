"""Batch files at full size: export a partition's judge prompts, answer every line as OpenAI's Batch API would
(the fake server's answers, shuffled; no network), import the output, and check that the stage would then make no
call. Prints the export's size and cost estimate and the import's wall time (issue 26's targets).

    .venv/bin/llmhni materialize ml-100k --select raw_interactions,text_profiles,pretrained_recommender,candidate_pairs
    .venv/bin/python benchmarks/bench_batch.py ml-100k
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from llmhni_pipeline.denoise.partition import batch_round
from llmhni_pipeline.lake import default_lake_dir
from llmhni_pipeline.llm.batch import BACKEND, PendingBatches, import_judge_batch
from llmhni_pipeline.llm.cache import CallCache
from llmhni_pipeline.llm.gateway import judge_key
from llmhni_pipeline.llm.labels import LabelThresholds
from llmhni_pipeline_tests.support.fake_openai import batch_output


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("dataset")
    parser.add_argument("--model", default="gpt-4o-mini")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        lake = Path(tmp) / "lake"  # a scratch lake: the tables linked in, its own cache and pending records
        for table in ("candidate_pairs", "text_profiles"):
            (lake / table).mkdir(parents=True)
            (lake / table / f"dataset={args.dataset}").symlink_to(
                default_lake_dir() / table / f"dataset={args.dataset}"
            )
        env = {"LLMHNI_LAKE_DIR": str(lake), "LLMHNI_JUDGE_MODEL": args.model, "PATH": ""}
        out = Path(tmp) / "round1.jsonl"
        llmhni = str(Path(sys.executable).with_name("llmhni"))
        started = time.perf_counter()
        export = subprocess.run(
            [llmhni, "judgments", "batch-export", args.dataset, str(out)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        print(export.stdout.strip())
        print(f"export: {time.perf_counter() - started:.1f} s (the whole command)")
        lines = [json.loads(t) for t in out.read_text().splitlines()]
        answers = batch_output(lines)
        random.Random(0).shuffle(answers)
        output = Path(tmp) / "round1-output.jsonl"
        output.write_text("".join(json.dumps(a) + "\n" for a in answers))
        print(f"output: {len(answers):,} lines, {output.stat().st_size / 2**20:.1f} MiB, shuffled")
        cache = CallCache(lake / "_llm_cache", "judgments")
        started = time.perf_counter()
        report = import_judge_batch([output], cache, PendingBatches(lake))
        took = time.perf_counter() - started
        print(f"import: {took:.2f} s in-process; " + "; ".join(report.lines()[:2]))
        prompts = batch_round(lake, args.dataset, args.model, cache, False, LabelThresholds())
        cached = cache.load([judge_key(BACKEND, args.model, p) for p in prompts])
        print(
            f"after the import, the stage's next round needs {len(prompts) - cached.height} calls "
            f"({cached.height:,} of {len(prompts):,} prompts cached)"
        )


if __name__ == "__main__":
    main()
