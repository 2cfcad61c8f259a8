"""The official SQuAD v1.1 metrics (data/squad_eval.py) on hand-checked cases: normalisation, exact
match, token F1 (counts clipped), the best over a question's answers, unanswered questions as 0."""

import pytest

from flax_adapters.data.squad_eval import exact_match_score, f1_score, normalize_answer, squad_metrics
from tests.data.common import squad_examples as _examples


def test_metrics_hand_checked():
    assert normalize_answer("The  Denver Broncos!") == "denver broncos"
    assert exact_match_score("the Denver Broncos", "Denver Broncos")
    assert not exact_match_score("Broncos", "Denver Broncos")
    assert f1_score("Broncos won", "Denver Broncos") == pytest.approx(0.5)
    assert f1_score("b b c", "b c c") == pytest.approx(2 / 3)  # counts clip: 2 shared tokens of 3
    assert f1_score("the", "Denver") == 0.0  # empty after normalisation
    ex = _examples(["c"] * 3, ["?"] * 3, [["Denver Broncos", "Broncos"], ["Santa Clara, California", "Levi's Stadium"],
                                          ["Gold"]], [[0, 0], [0, 0], [0]])
    pred = {"q0": "the Denver Broncos", "q1": "Levi's Stadium in Santa Clara", "extra": "ignored"}
    # q1: vs "santa clara california" P=2/5 R=2/3 -> 1/2; vs "levis stadium" P=2/5 R=1 -> 4/7 (the max).
    scores = squad_metrics(pred, ex)
    assert scores["exact_match"] == pytest.approx(1 / 3)
    assert scores["f1"] == pytest.approx((1 + 4 / 7 + 0) / 3)  # q2 unanswered: 0
    assert squad_metrics({"q0": "Broncos", "q1": "x", "q2": "gold."}, ex) == {"exact_match": 2 / 3, "f1": 2 / 3}
    with pytest.raises(ValueError, match="no questions"):
        squad_metrics({}, ex.select([]))
