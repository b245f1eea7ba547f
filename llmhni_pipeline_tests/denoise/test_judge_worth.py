import pytest

from llmhni_pipeline.denoise import judge_worth
from llmhni_pipeline.denoise.judge_worth import DEFAULT_BREAK_EVEN_AUC, curve_summary, expected_gains


def test_the_committed_curve_is_measured_and_its_default_follows_from_it():
    summary = curve_summary()
    assert summary["status"] == "measured" and summary["curves"]
    evens = [
        c["break_even_auc"]
        for rules in summary["curves"].values()
        for rule, c in rules.items()
        if rule == summary["default_rule"] and c["break_even_auc"] is not None
    ]
    # the most demanding break-even over the partitions; none measured: only a perfect judge is paid for
    assert (max(evens) if evens else 1.0) == DEFAULT_BREAK_EVEN_AUC


def test_expected_gain_is_read_off_the_curve_linearly_and_flat_beyond_it(monkeypatch):
    curve = {"points": [{"auc": 0.5, "gain": -0.04}, {"auc": 0.7, "gain": 0.0}, {"auc": 1.0, "gain": 0.03}]}
    fake = {"curves": {"part": {"paper": {**curve, "break_even_auc": 0.9}}}}
    monkeypatch.setattr(judge_worth, "curve_summary", lambda: fake)
    (gain,) = expected_gains((0.6, 0.3, 1.2))
    assert gain.gain == pytest.approx((-0.02, -0.04, 0.03))
    assert gain.line() == (
        "expected change of test R@20 over G′ = G on part, rule paper: -2.0% [-4.0%, +3.0%]; break-even AUC 0.90"
    )


def test_the_expected_gains_interval_holds_its_point_on_a_curve_that_dips(monkeypatch):
    """The committed ml-100k curve dips between 0.5 and 0.7: read only at an interval's ends, ``judgments trial``
    once printed "−3.8% [−3.6%, −2.1%]", a point outside its own interval."""
    curve = {
        "points": [{"auc": 0.5, "gain": -0.02}, {"auc": 0.6, "gain": -0.05}, {"auc": 0.7, "gain": -0.01}]
    }
    monkeypatch.setattr(judge_worth, "curve_summary", lambda: {"curves": {"p": {"paper": curve}}})
    (gain,) = expected_gains((0.58, 0.5, 0.7))
    point, low, high = gain.gain
    assert low <= point <= high and low == pytest.approx(-0.05) and high == pytest.approx(-0.01)
    for auc in [(a / 100, (a - 7) / 100, (a + 9) / 100) for a in range(45, 100)]:  # every reading, real curve
        monkeypatch.undo()
        for g in expected_gains(auc):
            assert g.gain[1] <= g.gain[0] <= g.gain[2], (auc, g)


def test_a_curve_is_not_read_below_its_lowest_measured_auc(monkeypatch):
    """amazon-book's curve holds the perfect judge alone: a 0.93 judge must not be told it gains what a perfect
    one does."""
    curve = {"points": [{"auc": 1.0, "gain": 0.042}], "break_even_auc": 1.0}
    monkeypatch.setattr(judge_worth, "curve_summary", lambda: {"curves": {"p": {"paper@k20": curve}}})
    (gain,) = expected_gains((0.93, 0.89, 0.96))
    assert gain.lowest_auc == 1.0
    assert gain.line() == (
        "expected change of test R@20 over G′ = G on p, rule paper@k20: not measured below AUC 1.00 (+4.2% there); "
        "break-even AUC 1.00"
    )
    (at_one,) = expected_gains((1.0, 0.99, 1.0))
    assert at_one.lowest_auc is None and at_one.gain[0] == pytest.approx(0.042)
