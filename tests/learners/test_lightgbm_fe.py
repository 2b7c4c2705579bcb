"""``lightgbm_fe``: LightGBM on the engineered feature style, in the default search."""

from __future__ import annotations

from mlwright.learners import LEARNERS, LearnerTask, LightGBM, LightGBMEngineered
from mlwright.pipeline._prepare import _families
from mlwright.spec import spec_from_dict


def test_it_is_lightgbm_on_the_engineered_style() -> None:
    assert LEARNERS["lightgbm_fe"] is LightGBMEngineered
    assert list(LEARNERS).index("lightgbm_fe") == list(LEARNERS).index("lightgbm") + 1
    assert issubclass(LightGBMEngineered, LightGBM)
    assert LightGBMEngineered.feature_style == "engineered"
    assert LightGBMEngineered.tunable()
    task = LearnerTask("binary", 2, ())
    assert LightGBMEngineered.default_configs(task, 1000) == LightGBM.default_configs(task, 1000)


def test_the_default_search_runs_it_and_a_spec_naming_learners_chooses() -> None:
    default = spec_from_dict({"task": {"target": "y"}})
    assert {"lightgbm", "lightgbm_fe"} <= set(_families(default))
    named = spec_from_dict({"task": {"target": "y"}, "search": {"learners": ["lightgbm_fe"]}})
    assert _families(named) == ["lightgbm_fe"]
    plain = spec_from_dict({"task": {"target": "y"}, "search": {"learners": ["lightgbm"]}})
    assert _families(plain) == ["lightgbm"]
