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
