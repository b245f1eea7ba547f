import math

import numpy as np
import pytest

from llmhni_pipeline.llm.interfaces import CallStatus, Label
from llmhni_pipeline.llm.labels import LabelThresholds, result_from_top_logprobs


def test_label_variants_are_summed_and_renormalised():
    top = [
        (" High", math.log(0.3)),
        ("high", math.log(0.1)),
        ("HIGH", math.log(0.1)),
        (" Medium", math.log(0.2)),
        ("Mid", math.log(0.05)),
        (" Low", math.log(0.15)),
        (" Sure", math.log(0.1)),
    ]
    r = result_from_top_logprobs(top, "raw")
    assert r.label_mass == pytest.approx(0.9)
    assert (r.p_high, r.p_mid, r.p_low) == pytest.approx((0.5 / 0.9, 0.25 / 0.9, 0.15 / 0.9))
    assert r.status is CallStatus.OK


def test_answers_without_label_tokens_are_flagged():
    assert result_from_top_logprobs([("Sure", 0.0)], "Sure").status is CallStatus.MALFORMED
    assert result_from_top_logprobs([], "").status is CallStatus.EMPTY
    assert math.isnan(result_from_top_logprobs([], "").score)


def test_fixed_and_quantile_thresholds():
    scores = np.array([0.9, 0.6, 0.1, -0.2, -0.7, np.nan])
    assert LabelThresholds().labels(scores) == [Label.HIGH, Label.HIGH, Label.MID, Label.MID, Label.LOW, None]
    q = LabelThresholds(mode="quantile", high=0.2, low=0.2).labels(scores)
    assert q[0] is Label.HIGH and q[4] is Label.LOW and q[1:4] == [Label.MID] * 3 and q[5] is None
    with pytest.raises(ValueError, match="unknown threshold mode"):
        LabelThresholds(mode="argmax").labels(scores)


def test_an_answer_with_little_probability_on_the_labels_is_unreadable_not_certain():
    """8·10⁻⁷ on " High" and the rest on "The" was once cached as P(High) = 1."""
    import math

    from llmhni_pipeline.llm.interfaces import CallStatus
    from llmhni_pipeline.llm.labels import MIN_LABEL_MASS, result_from_top_logprobs

    stray = result_from_top_logprobs([(" High", math.log(8e-7)), ("The", math.log(0.999))], "The")
    assert stray.status is CallStatus.MALFORMED and math.isnan(stray.p_high)
    assert stray.label_mass < MIN_LABEL_MASS
    kept = result_from_top_logprobs([(" High", math.log(0.6)), ("The", math.log(0.3))], "High")
    assert kept.status is CallStatus.OK and kept.p_high == 1.0
    # the embedded judge's constrained scoring reads exact label probabilities: no floor there
    small = result_from_top_logprobs(
        [(" High", math.log(0.1)), (" Low", math.log(0.05))], "A", min_label_mass=0
    )
    assert small.status is CallStatus.OK and abs(small.p_high - 2 / 3) < 1e-9


def test_label_tokens_are_read_without_invisible_characters_quotes_or_markup():
    from llmhni_pipeline.llm.interfaces import Label
    from llmhni_pipeline.llm.labels import label_of_token

    for token in (" High", "**high", "ＨＩＧＨ", "Hi\u200bgh", '"High"', "High.", "\u00adHigh"):
        assert label_of_token(token) is Label.HIGH, token
    assert label_of_token("Highly") is None and label_of_token("The") is None
