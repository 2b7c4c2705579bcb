"""The stacking layer: batch and single-record paths agree, and it round-trips safely."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mlwright
from mlwright.artifact import MANIFEST, Model, Stacker
from mlwright.errors import ArtifactError
from synth import make_frame


def _outputs(link: str, n_members: int, n: int, classes: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    if link == "identity":
        return [rng.normal(size=n) * 10 for _ in range(n_members)]
    outs = []
    for _ in range(n_members):
        p = rng.dirichlet(np.ones(classes), size=n)
        outs.append(p)
    return outs


@settings(max_examples=60, deadline=None)
@given(
    link=st.sampled_from(["identity", "logit", "log"]),
    n_members=st.integers(1, 4),
    classes=st.integers(2, 4),
    seed=st.integers(0, 10_000),
)
def test_one_record_gives_the_batch_numbers(
    link: str, n_members: int, classes: int, seed: int
) -> None:
    classes = 2 if link == "logit" else classes
    per = classes if link == "log" else 1
    rng = np.random.default_rng(seed + 1)
    outputs = _outputs(link, n_members, 8, classes, seed)
    stacker = Stacker(
        link,  # type: ignore[arg-type]
        rng.normal(size=(per if link == "log" else 1, per * n_members)),
        rng.normal(size=per if link == "log" else 1),
    )
    batch = stacker.combine(outputs)
    for row in range(8):
        one = stacker.combine_one([list(np.atleast_1d(o[row])) for o in outputs])
        np.testing.assert_allclose(one, np.atleast_1d(batch[row]), rtol=1e-9, atol=1e-12)
    if link != "identity":
        np.testing.assert_allclose(batch.sum(axis=1), 1.0)


def test_extreme_scores_give_probabilities_not_errors() -> None:
    stacker = Stacker("logit", np.array([[1000.0]]), np.array([0.0]))
    assert stacker.combine_one([[0.0, 1.0]]) == pytest.approx([0.0, 1.0])
    assert stacker.combine_one([[1.0, 0.0]]) == pytest.approx([1.0, 0.0])


def test_round_trips_through_json_and_refuses_a_malformed_one() -> None:
    stacker = Stacker("log", np.arange(6.0).reshape(2, 3), np.array([0.5, -0.5]))
    back = Stacker.from_dict(json.loads(json.dumps(stacker.to_dict())))
    np.testing.assert_array_equal(back.coef, stacker.coef)
    with pytest.raises(ArtifactError, match="link"):
        Stacker.from_dict({"link": "pickle", "coef": [[1.0]], "intercept": [0.0]})
    with pytest.raises(ArtifactError, match="do not match"):
        Stacker.from_dict({"link": "identity", "coef": [[1.0]], "intercept": [0.0, 1.0]})


def _stacked(model: Model) -> Model:
    """The model's members combined by a stacker (weights chosen by hand)."""
    stacked = copy.copy(model)
    groups = len(stacked.trial_names)
    per = len(model.classes) if model.problem_type == "multiclass" else 1
    rng = np.random.default_rng(0)
    stacked.set_stacker(
        Stacker(
            {"regression": "identity", "binary": "logit"}.get(model.problem_type, "log"),  # type: ignore[arg-type]
            rng.uniform(0.5, 1.5, size=(per, per * groups)),
            rng.normal(size=per) * 0.1,
        )
    )
    return stacked


@pytest.mark.parametrize("problem", ["binary", "multiclass", "regression"])
def test_a_stacked_model_saves_loads_and_predicts_one_record_as_a_batch(
    trained: dict[str, Model], tmp_path: Path, problem: str
) -> None:
    model = _stacked(trained[problem])
    data = make_frame(problem, n=40, seed=5).drop("y")
    assert not np.allclose(model._raw(data), trained[problem]._raw(data))
    loaded = mlwright.load(model.save(tmp_path / problem))
    assert loaded.stacker is not None
    np.testing.assert_array_equal(loaded._raw(data), model._raw(data))
    batch = loaded._raw(data)
    for i, record in enumerate(data.head(10).iter_rows(named=True)):
        np.testing.assert_allclose(loaded._raw_one(record), np.atleast_1d(batch[i]), rtol=1e-9)
    manifest = json.loads((tmp_path / problem / MANIFEST).read_text())
    assert manifest["stacker"]["link"] == model.stacker.to_dict()["link"]  # type: ignore[union-attr]


def test_a_stacker_that_does_not_fit_the_members_is_refused(
    trained: dict[str, Model], tmp_path: Path
) -> None:
    path = _stacked(trained["binary"]).save(tmp_path / "model")
    manifest = json.loads((path / MANIFEST).read_text())
    manifest["stacker"]["coef"] = [[1.0] * 7]
    (path / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match="stacker reads 7 inputs"):
        mlwright.load(path)
