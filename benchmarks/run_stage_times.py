"""Per-stage wall time of the latest (or a given) run in a Dagster instance, as a Markdown table.

    DAGSTER_HOME=/path/to/home .venv/bin/python benchmarks/run_stage_times.py [run_id]

Reads the instance's step statistics (start and end of each step), so it measures what the UI shows.
"""

from __future__ import annotations

import sys

import dagster as dg


def main() -> None:
    with dg.DagsterInstance.get() as instance:
        if len(sys.argv) > 1:
            run_id = sys.argv[1]
        else:
            records = instance.get_run_records(limit=1)
            if not records:
                raise SystemExit("no run in this instance")
            run_id = records[0].dagster_run.run_id
        run = instance.get_run_by_id(run_id)
        stats = sorted(instance.get_run_step_stats(run_id), key=lambda s: s.start_time or 0)
        print(
            f"run {run_id} ({run.status.value if run else '?'}), partition {run.tags.get('dagster/partition') if run else '?'}"
        )
        print("\n| stage | time |\n|---|---|")
        total_start, total_end = stats[0].start_time, max(s.end_time or 0 for s in stats)
        for s in stats:
            seconds = (s.end_time or 0) - (s.start_time or 0)
            text = f"{seconds / 60:.0f} min {seconds % 60:.0f} s" if seconds >= 60 else f"{seconds:.1f} s"
            print(f"| {s.step_key} | {text} |")
        span = total_end - total_start
        print(f"| **all steps, first start to last end** | **{span // 60:.0f} min {span % 60:.0f} s** |")


if __name__ == "__main__":
    main()
