"""What a judge of a given quality is worth: the judge-worth curve, read at an AUC.

``judge_worth.json`` beside this file is written by ``benchmarks/judge_worth.py summary`` from the committed
curve records (``benchmarks/results/``): for each partition and G′ rule, LLMHNI's test R@20 with the G′ of a
simulated judge of each AUC, against G′ = G (mean and standard error over seeds). The break-even AUC is the lowest
AUC at which G′ beats G by more than two standard errors; the default gate (``llm_logical_scores``' ``coverage:
auto``) uses the summary's ``default_break_even_auc``. Plain data, no Dagster.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

CURVE_FILE = Path(__file__).with_name("judge_worth.json")


@cache
def curve_summary() -> dict:
    return json.loads(CURVE_FILE.read_text())


DEFAULT_BREAK_EVEN_AUC: float = float(curve_summary()["default_break_even_auc"])
# the trial that measures a judge before it is paid for: its stratified sample, the stage's default and the CLI's
TRIAL_PAIRS = 200
TRIAL_SEED = 2026


@dataclass(frozen=True)
class ExpectedGain:
    partition: str
    rule: str
    gain: tuple[
        float, float, float
    ]  # relative change of test R@20 over G′ = G at the AUC and its interval's ends
    break_even_auc: float | None

    def line(self) -> str:
        point, low, high = (f"{100 * g:+.1f}%" for g in self.gain)
        where = f"{self.partition}, rule {self.rule}"
        even = f"; break-even AUC {self.break_even_auc:.2f}" if self.break_even_auc is not None else ""
        return f"expected change of test R@20 over G′ = G on {where}: {point} [{low}, {high}]{even}"


def expected_gains(auc: tuple[float, float, float]) -> list[ExpectedGain]:
    """The curve read at a judge's AUC (linear between measured AUCs, flat beyond), with the range it takes over
    the AUC's interval, for every partition and rule the summary holds. The curve is not monotone (noise between
    seeds), so the range is its lowest and highest value anywhere in the interval, measured points inside
    included: reading it only at the interval's ends once printed a point outside its own interval."""
    out = []
    point, low, high = auc
    for partition, rules in curve_summary()["curves"].items():
        for rule, curve in rules.items():
            x = np.array([p["auc"] for p in curve["points"]])
            y = np.array([p["gain"] for p in curve["points"]])
            inside = [low, high, point, *x[(x > low) & (x < high)]]
            values = np.interp(np.array(inside, dtype=float), x, y)
            gains = (float(values[2]), float(values.min()), float(values.max()))
            out.append(ExpectedGain(partition, rule, gains, curve.get("break_even_auc")))
    return out
