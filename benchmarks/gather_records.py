"""Gather the run records a results table is computed from into one file: rows of the given record files whose
dataset is ``--dataset`` or one of its ``-noiseNN`` partitions, whose arm is one of ``--arms``, trained on
``--backbone``, under held-out validation selection (select-on-test rows and unchosen sweep rows are left out)
and, with ``--where ARM:KEY=VALUE``, whose ``params`` hold that value for that arm (a row that does not set the
key ran at the method's default and is kept: use ``--where`` for a setting that differs from the default in force
when the row ran). A (dataset, arm, seed) that appears twice keeps its first row, so list the record files oldest
first. EASE records (``--ease``) are kept like runs, whatever the backbone. ``--label NAME`` shows the kept rows
under another arm name (the run's own in ``arm_run``): an arm run at a setting chosen per partition becomes its
own table row.

    .venv/bin/python benchmarks/gather_records.py benchmarks/results/2026-12-01-cpu/final_*.jsonl \\
        benchmarks/results/2026-12-03-cpu/final_*.jsonl --dataset amazon-book-llard \\
        --arms lightgcn tce sgl simgcl xsimgcl recipe_xsim_soft50 --where simgcl:cl_weight=0.1 \\
        --out benchmarks/results/2026-12-03-cpu/noise_table_amazon.jsonl

The output feeds ``benchmarks/noise_curves.py`` or ``benchmarks/baselines_table.py``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.baselines_table import is_closed_form, is_run, read_records  # noqa: E402


def _value(text: str) -> object:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_where(items: list[str]) -> dict[str, dict[str, object]]:
    """``["simgcl:cl_weight=0.1"]`` → ``{"simgcl": {"cl_weight": 0.1}}``."""
    out: dict[str, dict[str, object]] = {}
    for item in items:
        arm, _, condition = item.partition(":")
        key, eq, value = condition.partition("=")
        if not (arm and key and eq):
            raise SystemExit(f"--where takes ARM:KEY=VALUE, not {item!r}")
        out.setdefault(arm, {})[key] = _value(value)
    return out


def gather(
    rows: list[dict],
    dataset: str,
    arms: list[str],
    backbone: str = "lightgcn",
    where: dict[str, dict[str, object]] | None = None,
    label: str | None = None,
) -> list[dict]:
    """The rows a table is computed from (the module's docstring); with ``label``, each kept row is shown under
    that arm name and keeps its own in ``arm_run``, so one arm run at two settings can stand as two rows."""
    where = where or {}
    kept, seen = [], set()
    for r in rows:
        if not (is_run(r) or is_closed_form(r)) or r.get("select_on_test"):
            continue
        if r["dataset"] != dataset and not r["dataset"].startswith(f"{dataset}-noise"):
            continue
        if r["arm"] not in arms:
            continue
        if r.get("backbone", "lightgcn") not in (backbone, "none"):  # EASE has none: kept with any
            continue
        params = r.get("params", {})
        if any(k in params and params[k] != v for k, v in where.get(r["arm"], {}).items()):
            continue
        key = (r["dataset"], r["arm"], r["seed"])
        if key not in seen:
            seen.add(key)
            kept.append({**r, "arm": label, "arm_run": r["arm"]} if label else r)
    return kept


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("records", nargs="+", type=Path)
    ap.add_argument("--dataset", required=True, help="dataset key (its -noiseNN partitions included)")
    ap.add_argument("--arms", nargs="+", required=True)
    ap.add_argument("--backbone", default="lightgcn")
    ap.add_argument("--where", nargs="*", default=[], metavar="ARM:KEY=VALUE")
    ap.add_argument("--label", help="show every kept row under this arm name (its own kept as arm_run)")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    rows = read_records(args.records)
    kept = gather(rows, args.dataset, args.arms, args.backbone, parse_where(args.where), args.label)
    args.out.write_text("".join(json.dumps(r) + "\n" for r in kept))
    print(f"{len(kept)} of {len(rows)} records → {args.out}")


if __name__ == "__main__":
    main()
