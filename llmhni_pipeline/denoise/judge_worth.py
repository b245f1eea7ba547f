"""What a judge of a given quality is worth: the judge-worth curve, read at an AUC.

``judge_worth.json`` beside this file is written by ``benchmarks/judge_worth.py summary`` from the committed
curve records (``benchmarks/results/``): for each partition and G′ rule, LLMHNI's test R@20 with the G′ of a
simulated judge of each AUC, against G′ = G (mean and standard error over seeds), per candidate budget (a curve
named ``<rule>@k<k>`` was measured at k_pos = k_neg = k, one without ``@k`` at the default 2). The break-even AUC
is the lowest AUC from which on G′ beats G by more than two standard errors (None: not even a perfect judge did).
The gate (``llm_logical_scores``' ``coverage: auto``) reads it from the dataset's own curve at its budget where
one is measured, else the nearest (``break_even_for``), and the summary's ``default_break_even_auc`` for a
dataset with none. Plain data, no Dagster.
"""

from __future__ import annotations

import json
import re
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


DEFAULT_BUDGET = 2  # candidate_pairs' default k_pos = k_neg: the budget of a curve named without "@k"
_PLANTED = re.compile(r"-(noise|hide)\d+$")


def curve_budget(rule_key: str) -> tuple[str, int]:
    """(rule, k) of a curve's key: ``paper@k20`` is the paper's rule at k = 20, ``validated`` at the default."""
    rule, _, budget = rule_key.partition("@k")
    return rule, int(budget) if budget else DEFAULT_BUDGET


@dataclass(frozen=True)
class BreakEven:
    auc: float | None  # None: on that curve no judge, a perfect one included, made G′ beat G by 2 SE
    source: str  # the curve it was read from, in words


def break_even_for(partition: str, k: int, hidden: bool = False) -> BreakEven:
    """The break-even AUC the gate uses for ``partition`` at candidate budget ``k``: from the partition's own
    curve where one is measured, else from its base dataset's (``ml-100k`` reads ``ml-100k-noise10``): a curve of
    the gate's question first (``hidden``: a ``-hideNN`` partition's; else a ``-noiseNN`` one's); within it the
    summary's default rule where measured, and the budget nearest ``k`` (the smaller on a tie). A dataset with
    no curve gets ``default_break_even_auc``, and says so."""
    summary = curve_summary()
    curves = summary["curves"]
    base = _PLANTED.sub("", partition)
    wanted = "hide" if hidden else "noise"
    same_base = [name for name in curves if _PLANTED.sub("", name) == base and name != partition]
    same_base.sort(key=lambda name: (f"-{wanted}" not in name, name))
    names = ([partition] if partition in curves else []) + same_base
    if not names:
        auc = float(summary["default_break_even_auc"])
        return BreakEven(auc, f"no judge-worth curve for {base}: the most demanding measured, {auc:.2f}")
    name = names[0]
    rules = curves[name]
    keys = [key for key in rules if curve_budget(key)[0] == summary.get("default_rule")] or list(rules)
    key = min(keys, key=lambda key: (abs(curve_budget(key)[1] - k), curve_budget(key)[1]))
    rule, budget = curve_budget(key)
    at = f"k = {budget}" + ("" if budget == k else f", the nearest measured to {k}")
    return BreakEven(rules[key]["break_even_auc"], f"the judge-worth curve of {name}, rule {rule}, {at}")


@dataclass(frozen=True)
class ExpectedGain:
    partition: str
    rule: str
    gain: tuple[
        float, float, float
    ]  # relative change of test R@20 over G′ = G at the AUC and its interval's ends
    break_even_auc: float | None

    lowest_auc: float | None = None  # set where the judge's AUC is below the curve's lowest measured point

    def line(self) -> str:
        where = f"{self.partition}, rule {self.rule}"
        even = f"; break-even AUC {self.break_even_auc:.2f}" if self.break_even_auc is not None else ""
        if self.lowest_auc is not None:
            return (
                f"expected change of test R@20 over G′ = G on {where}: not measured below AUC "
                f"{self.lowest_auc:.2f} ({100 * self.gain[0]:+.1f}% there){even}"
            )
        point, low, high = (f"{100 * g:+.1f}%" for g in self.gain)
        return f"expected change of test R@20 over G′ = G on {where}: {point} [{low}, {high}]{even}"


def expected_gains(auc: tuple[float, float, float]) -> list[ExpectedGain]:
    """The curve read at a judge's AUC (linear between measured AUCs, flat above the highest), with the range it
    takes over the AUC's interval, for every partition and rule the summary holds. The curve is not monotone
    (noise between seeds), so the range is its lowest and highest value anywhere in the interval, measured points
    inside included: reading it only at the interval's ends once printed a point outside its own interval. Below
    a curve's lowest measured AUC nothing is read (a curve measured at AUC 1 alone says nothing of a 0.9 judge):
    the gain there is the lowest point's, flagged by ``lowest_auc``."""
    out = []
    point, low, high = auc
    for partition, rules in curve_summary()["curves"].items():
        for rule, curve in rules.items():
            x = np.array([p["auc"] for p in curve["points"]])
            y = np.array([p["gain"] for p in curve["points"]])
            if point < x.min():
                lowest = float(x[np.argmin(x)])
                gain = float(y[np.argmin(x)])
                out.append(ExpectedGain(partition, rule, (gain,) * 3, curve.get("break_even_auc"), lowest))
                continue
            inside = [low, high, point, *x[(x > low) & (x < high)]]
            values = np.interp(np.array(inside, dtype=float), x, y)
            gains = (float(values[2]), float(values.min()), float(values.max()))
            out.append(ExpectedGain(partition, rule, gains, curve.get("break_even_auc")))
    return out
