"""The tables and figures the benchmark scripts build from run records."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks import noise_curves  # noqa: E402


def _row(dataset, arm, value, **extra):
    return {"dataset": dataset, "arm": arm, "best_epoch": 3, "test_recall@20": value, **extra}


def test_noise_curve_table_gives_the_relative_drop_and_ignores_sweeps_and_select_on_test():
    assert noise_curves.noise_ratio("ml-100k-noise15") == ("ml-100k", 15)
    assert noise_curves.noise_ratio("amazon-book-llard") == ("amazon-book-llard", 0)
    rows = [
        _row("ml-100k", "lightgcn", 0.40),
        _row("ml-100k-noise10", "lightgcn", 0.30),
        _row("ml-100k-noise10", "lightgcn", 0.32),
        _row("ml-100k-noise10", "lightgcn (sweep)", 0.99),
        _row("ml-100k-noise10", "lightgcn", 0.99, select_on_test=True),
        _row("ml-100k-noise20", "sgl", 0.20),
    ]
    text = noise_curves.table(noise_curves.curves(rows))
    lines = text.splitlines()
    assert lines[0] == "| dataset | method | 0% | 10% | 20% | drop at 10% | drop at 20% |"
    assert lines[2] == "| ml-100k | lightgcn | 0.4000 | 0.3100 ± 0.0141 | – | -22.5% | – |"
    assert lines[3] == "| ml-100k | sgl | – | – | 0.2000 | – | – |"  # no clean run: no drop


def test_noise_curve_drop_is_paired_by_seed_where_seeds_repeat():
    rows = [
        _row("d", "m", 0.40, seed=1),
        _row("d", "m", 0.20, seed=2),
        _row("d-noise10", "m", 0.36, seed=1),  # -10%
        _row("d-noise10", "m", 0.19, seed=2),  # -5%
        _row("d-noise10", "m", 0.10, seed=3),  # no clean run of seed 3: left out of the pairing
    ]
    line = noise_curves.table(noise_curves.curves(rows)).splitlines()[2]
    assert line.endswith("| -7.5% ± 3.5 |")


def test_noise_curves_script_writes_the_figure(tmp_path):
    records = tmp_path / "runs.jsonl"
    rows = [_row("toy", "lightgcn", 0.4), _row("toy-noise10", "lightgcn", 0.3)]
    records.write_text("".join(json.dumps(r) + "\n" for r in rows))
    png = tmp_path / "noise.png"
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "noise_curves.py"), str(records), "--png", str(png)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "-25.0%" in out.stdout and png.read_bytes()[:4] == b"\x89PNG"


def test_gather_records_keeps_first_run_per_seed_and_filters_protocol_backbone_and_params():
    from benchmarks import gather_records

    rows = [
        _row("d", "simgcl", 0.1, seed=1, params={"cl_weight": 0.5}),  # the collapsed setting: filtered
        _row("d", "simgcl", 0.2, seed=1, params={"cl_weight": 0.1}),
        _row("d", "simgcl", 0.9, seed=1, params={"cl_weight": 0.1}),  # a later duplicate of seed 1
        _row("d-noise10", "lightgcn", 0.3, seed=1),
        _row("d-noise10", "simgcl", 0.25, seed=2, params={}),  # at the method's default: kept
        _row("d-noise10", "lightgcn", 0.8, seed=2, select_on_test=True),
        _row("d", "lightgcn", 0.7, seed=1, backbone="ngcf"),
        _row("d", "lightgcn (sweep)", 0.6, seed=1),
        _row("e", "lightgcn", 0.5, seed=1),
        _row("d-llard", "lightgcn", 0.4, seed=1),  # another split of d, not a noise partition
    ]
    where = gather_records.parse_where(["simgcl:cl_weight=0.1"])
    assert where == {"simgcl": {"cl_weight": 0.1}}
    kept = gather_records.gather(rows, "d", ["simgcl", "lightgcn"], where=where)
    assert [(r["dataset"], r["arm"], r["test_recall@20"]) for r in kept] == [
        ("d", "simgcl", 0.2),
        ("d-noise10", "lightgcn", 0.3),
        ("d-noise10", "simgcl", 0.25),
    ]
    labelled = gather_records.gather(rows, "d", ["simgcl"], where=where, label="simgcl λ 0.1")
    assert [(r["arm"], r["arm_run"], r["test_recall@20"]) for r in labelled] == [
        ("simgcl λ 0.1", "simgcl", 0.2),
        ("simgcl λ 0.1", "simgcl", 0.25),
    ]
    assert rows[1]["arm"] == "simgcl"  # the input rows are left as they were


def test_ease_records_enter_the_gathered_rows_and_the_noise_curve():
    from benchmarks import gather_records

    ease = {"dataset": "d", "arm": "ease_l2_100", "method": "ease", "backbone": "none", "seed": None}
    rows = [
        {**ease, "test_recall@20": 0.50},
        {**ease, "dataset": "d-noise10", "test_recall@20": 0.45},
        {**ease, "dataset": "d-noise10", "test_recall@20": 0.45, "method": "other"},  # not a fit, not a run
        _row("d", "lightgcn", 0.4, seed=1),
    ]
    kept = gather_records.gather(rows, "d", ["ease_l2_100", "lightgcn"])
    assert [(r["dataset"], r["arm"]) for r in kept] == [
        ("d", "ease_l2_100"),
        ("d-noise10", "ease_l2_100"),
        ("d", "lightgcn"),
    ]
    line = noise_curves.table(noise_curves.curves(kept)).splitlines()[2]
    assert line == "| d | ease_l2_100 | 0.5000 | 0.4500 | -10.0% |"
