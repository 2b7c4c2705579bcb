"""Global importance: TreeSHAP when every member has exact contributions, permutation
importance otherwise, and never more time than it is given."""

from __future__ import annotations

import re
import time

import pytest

from mlwright.artifact import Model
from mlwright.evaluate import global_importance
from mlwright.pipeline import encode_target
from synth import make_frame, mixed_model


@pytest.fixture(scope="module")
def models() -> dict[str, Model]:
    return {
        "exact": mixed_model("regression", ["lightgbm", "xgboost", "linear"]),
        "mixed": mixed_model("regression", ["lightgbm", "knn"]),
    }


def _holdout(n: int = 300) -> tuple[object, object]:
    data = make_frame("regression", n=n, seed=11)
    y, _ = encode_target(data["y"], "regression", None)
    return data.drop("y"), y


def test_exact_members_give_mean_absolute_contributions(models: dict[str, Model]) -> None:
    frame, y = _holdout()
    found = global_importance(models["exact"], frame, y, seconds=60)  # type: ignore[arg-type]
    assert found["computed"]
    assert "TreeSHAP" in found["method"]
    assert found["rows"] == 300
    names = [f["name"] for f in found["features"]]
    assert names[0] == "num"  # the target is 15 x num + ...
    assert sorted(names) == sorted(f.name for f in models["exact"].inputs)
    values = [f["importance"] for f in found["features"]]
    assert values == sorted(values, reverse=True)


def test_members_without_contributions_get_permutation_importance(
    models: dict[str, Model],
) -> None:
    frame, y = _holdout()
    found = global_importance(models["mixed"], frame, y, seconds=60)  # type: ignore[arg-type]
    assert found["computed"]
    assert found["method"].startswith("permutation importance")
    top = found["features"][0]
    assert top["name"] == "num"
    assert top["importance"] > 5  # shuffling num raises the RMSE a lot
    noise = {f["name"]: f["importance"] for f in found["features"]}["note"]
    assert noise < 0.2 * top["importance"]


def test_no_time_means_a_reason_or_the_first_rows_only(
    models: dict[str, Model], monkeypatch: pytest.MonkeyPatch
) -> None:
    frame, y = _holdout(1000)
    model = models["mixed"]
    predict = model._raw

    def slow(data: object) -> object:
        time.sleep(0.2)  # six inputs x 0.2 s: more than the second given
        return predict(data)  # type: ignore[arg-type]

    monkeypatch.setattr(model, "_raw", slow)
    skipped = global_importance(model, frame, y, seconds=1.0)  # type: ignore[arg-type]
    assert not skipped["computed"]
    assert re.search(r"permutation importance would take about \d+ s and 1 s", skipped["reason"])
    monkeypatch.undo()
    none = global_importance(models["exact"], frame, y, seconds=0)  # type: ignore[arg-type]
    assert not none["computed"]
    assert "time budget" in none["reason"]
    # Two seconds are enough for a few hundred rows of these small models, even with the
    # suite's other worker busy beside it: what is explained fits the time given.
    started = time.monotonic()
    short = global_importance(models["exact"], frame, y, seconds=2.0)  # type: ignore[arg-type]
    assert time.monotonic() - started < 3.0
    assert short["computed"]
    assert 100 <= short["rows"] <= 1000
