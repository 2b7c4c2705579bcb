"""What is specific to the MLP learner: the NumPy forward pass against PyTorch's own, serving
without PyTorch, early stopping, the deadline and the search space. The shared contract is in
test_conformance.py."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mlwright.errors import ArtifactError, DataError, SpecError, TrainingError
from mlwright.learners import LEARNERS, MLP, LearnerTask, TabM

torch = pytest.importorskip("torch")

from mlwright.learners._mlp import (  # noqa: E402
    MIN_STEPS_BEFORE_DEADLINE,
    _Settings,
    torch_module,
)

TASKS = {
    "binary": LearnerTask("binary", 2),
    "multiclass": LearnerTask("multiclass", 3),
    "regression": LearnerTask("regression", 0),
}
SMALL = {"width": 32, "depth": 2, "epochs": 4}


def data(problem: str, n: int = 300, seed: int = 0, noise: float = 0.0) -> tuple[Any, Any]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6))
    signal = X[:, 0] + X[:, 1] - 0.5 * X[:, 2] + noise * rng.normal(size=n)
    if problem == "binary":
        return X, (signal > 0).astype(np.int64)
    if problem == "multiclass":
        return X, np.digitize(signal, [-0.7, 0.7]).astype(np.int64)
    return X, 50.0 + 20.0 * signal


def torch_predict(learner: MLP, X: np.ndarray, dtype: Any) -> np.ndarray:
    """PyTorch's eval-mode output, as the learner's contract shapes it."""
    module = torch_module(learner).to(dtype)
    with torch.no_grad():
        out = module(torch.from_numpy(X).to(dtype))
    if learner.task_.problem_type == "regression":
        arch = learner.arch_
        return out[:, 0].double().numpy() * arch.y_scale + arch.y_mean
    return torch.softmax(out, dim=1).double().numpy()


@pytest.mark.parametrize("problem", list(TASKS))
@pytest.mark.parametrize(
    "params",
    [
        {"activation": "silu", "norm": "batch", "dropout": 0.2},
        {"activation": "relu", "norm": "none", "dropout": 0.0, "depth": 3},
    ],
)
def test_numpy_forward_equals_torch_eval(problem: str, params: dict[str, Any]) -> None:
    X, y = data(problem)
    learner = MLP({**SMALL, **params}, seed=1).fit(X, y, TASKS[problem])
    pred = learner.predict(X)
    # The same float32 weights through PyTorch in float64: only rounding differs.
    assert np.allclose(pred, torch_predict(learner, X, torch.float64), rtol=0, atol=1e-9)
    # PyTorch's own float32 forward pass, which training used.
    scale = 1.0 if problem != "regression" else learner.arch_.y_scale
    assert np.allclose(pred, torch_predict(learner, X, torch.float32), rtol=0, atol=5e-6 * scale)
    for i in range(10):
        one = learner.predict_one(list(X[i]))
        assert np.allclose(one, np.atleast_1d(pred[i]), rtol=1e-12, atol=1e-12)


def test_loading_and_predicting_need_no_torch(tmp_path: Path) -> None:
    X, y = data("multiclass")
    learner = MLP(SMALL, seed=0).fit(X, y, TASKS["multiclass"])
    info = learner.to_files(tmp_path / "model")
    (tmp_path / "info.json").write_text(json.dumps(info))
    (tmp_path / "rows.json").write_text(json.dumps(X[:20].tolist()))
    (tmp_path / "expected.json").write_text(json.dumps(learner.predict(X[:20]).tolist()))
    script = textwrap.dedent(
        f"""
        import json, sys
        from pathlib import Path

        class BlockTorch:
            # As if PyTorch were not installed. (Not sys.modules["torch"] = None: SciPy's
            # array-API helpers look torch up in sys.modules and trip over a None there.)
            def find_spec(self, name, path=None, target=None):
                if name == "torch" or name.startswith("torch."):
                    raise ModuleNotFoundError("No module named " + repr(name), name=name)
                return None

        sys.meta_path.insert(0, BlockTorch())
        import numpy as np
        import mlwright
        from mlwright.errors import SpecError
        from mlwright.learners import MLP

        base = Path({str(tmp_path)!r})
        assert not MLP.available
        loaded = MLP.from_files(base / "model", json.loads((base / "info.json").read_text()))
        rows = np.asarray(json.loads((base / "rows.json").read_text()))
        expected = np.asarray(json.loads((base / "expected.json").read_text()))
        assert np.array_equal(loaded.predict(rows), expected)
        assert np.allclose(loaded.predict_one(list(rows[0])), expected[0], rtol=0, atol=1e-12)
        try:
            MLP().fit(rows, np.arange(20) % 3, loaded.task_)
        except SpecError as exc:
            assert "pip install 'mlwright[mlp]'" in str(exc), str(exc)
        else:
            raise AssertionError("fit without torch did not raise")
        assert "torch" not in sys.modules
        print("ok")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_fit_without_torch_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)
    X, y = data("binary")
    with pytest.raises(SpecError, match=r"pip install 'mlwright\[mlp\]'"):
        MLP().fit(X, y, TASKS["binary"])


def test_early_stopping_keeps_the_best_epoch() -> None:
    # Noisy labels and a wide net: the validation loss turns up well before 200 epochs.
    X, y = data("binary", n=500, noise=1.5)
    params = {"width": 128, "depth": 2, "dropout": 0.0, "epochs": 200, "patience": 3}
    learner = MLP(params, seed=0).fit(
        X[:300], y[:300], TASKS["binary"], X_valid=X[300:], y_valid=y[300:]
    )
    assert learner.stopped_by_ == "early_stopping"
    assert learner.epochs_run_ < 200
    assert learner.best_epoch_ <= learner.epochs_run_ - 3
    assert learner.best_iteration_ == learner.best_epoch_
    # The weights kept are the best epoch's: their validation loss is the best one recorded.
    p = learner.predict(X[300:])[np.arange(200), y[300:]]
    assert learner.best_valid_loss_ is not None
    assert -np.mean(np.log(p)) == pytest.approx(learner.best_valid_loss_, rel=1e-5)


def test_a_passed_deadline_stops_after_one_epoch() -> None:
    X, y = data("regression")
    learner = MLP({"epochs": 50}, seed=0).fit(
        X, y, TASKS["regression"], deadline=time.monotonic() - 1.0
    )
    assert learner.epochs_run_ == 1
    assert learner.stopped_by_ == "deadline"
    assert np.isfinite(learner.predict(X)).all()


def test_a_deadline_ends_a_long_epoch_and_a_long_fit() -> None:
    X, y = data("binary", n=20_000)
    # 625 steps an epoch: a passed deadline stops it after the minimum number of steps.
    params = {"width": 16, "depth": 1, "batch_size": 32, "epochs": 5}
    start = time.monotonic()
    learner = MLP(params, seed=0).fit(X, y, TASKS["binary"], deadline=start - 1.0)
    assert learner.epochs_run_ == 1
    assert learner.steps_run_ == MIN_STEPS_BEFORE_DEADLINE < 625
    # What it cost, for the refit's plan: the part of the epoch that ran.
    assert learner.rounds_run_ == pytest.approx(MIN_STEPS_BEFORE_DEADLINE / 625)
    assert np.isfinite(learner.predict(X)).all()
    # Many epochs, a deadline 0.5 s away: training ends soon after it.
    X, y = data("binary")
    start = time.monotonic()
    learner = MLP({**SMALL, "epochs": 100_000}, seed=0).fit(
        X, y, TASKS["binary"], deadline=start + 0.5
    )
    assert learner.stopped_by_ == "deadline"
    assert 0.5 <= time.monotonic() - start < 3.0


def test_the_search_space_gives_configurations_that_fit() -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0))
    X, y = data("multiclass", n=200)
    for _ in range(3):
        trial = study.ask()
        params = MLP.search_space(trial, TASKS["multiclass"], len(y))
        assert json.loads(json.dumps(params)) == params
        learner = MLP({**params, "epochs": 2}, seed=0).fit(X, y, TASKS["multiclass"])
        assert np.isfinite(learner.predict(X)).all()
        study.tell(trial, float(np.mean(learner.predict(X).argmax(axis=1) != y)))
    for params in MLP.default_configs(TASKS["binary"], 1000):
        assert _Settings.from_params(params).width >= 1


def test_fitting_leaves_torch_global_state_alone() -> None:
    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    rng_state = torch.random.get_rng_state()
    X, y = data("binary")
    MLP(SMALL, seed=5, threads=1).fit(X, y, TASKS["binary"])
    assert torch.get_num_threads() == threads
    assert torch.are_deterministic_algorithms_enabled() == deterministic
    assert torch.equal(torch.random.get_rng_state(), rng_state)


def test_warming_up_leaves_torch_global_state_alone_and_needs_no_torch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The run warms PyTorch up in a thread beside the search: the state the fits rely on
    is as before, and without PyTorch the warm-up does nothing (the fit says what to do)."""
    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    rng_state = torch.random.get_rng_state()
    MLP.warm_up()
    TabM.warm_up()
    assert torch.get_num_threads() == threads
    assert torch.are_deterministic_algorithms_enabled() == deterministic
    assert torch.equal(torch.random.get_rng_state(), rng_state)
    monkeypatch.setitem(sys.modules, "torch", None)
    MLP.warm_up()  # no error: nothing to warm


def test_the_seed_changes_the_model() -> None:
    X, y = data("regression")
    a = MLP(SMALL, seed=1).fit(X, y, TASKS["regression"]).predict(X)
    b = MLP(SMALL, seed=2).fit(X, y, TASKS["regression"]).predict(X)
    assert not np.array_equal(a, b)


def test_regression_targets_are_standardised_for_training() -> None:
    X, y = data("regression")
    y = 1e6 + 1e5 * (y - 50.0)  # large offset and scale
    learner = MLP({"width": 64, "depth": 2}, seed=0).fit(X, y, TASKS["regression"])
    assert learner.arch_.y_mean == pytest.approx(float(np.mean(y)))
    assert np.mean((learner.predict(X) - y) ** 2) < 0.2 * np.var(y)
    # A constant target fits (to that constant) rather than dividing by zero.
    flat = MLP(SMALL, seed=0).fit(X, np.full(len(y), 7.0), TASKS["regression"])
    assert np.allclose(flat.predict(X), 7.0, atol=0.5)


def test_bad_parameters_and_inputs_are_named() -> None:
    X, y = data("binary")
    with pytest.raises(SpecError, match="did you mean 'dropout'"):
        MLP({"drop_out": 0.1}).fit(X, y, TASKS["binary"])
    with pytest.raises(SpecError, match="activation"):
        MLP({"activation": "tanh"}).fit(X, y, TASKS["binary"])
    with pytest.raises(SpecError, match="dropout"):
        MLP({"dropout": 1.0}).fit(X, y, TASKS["binary"])
    X_nan = X.copy()
    X_nan[0, 0] = np.nan
    with pytest.raises(DataError, match="missing or infinite"):
        MLP(SMALL).fit(X_nan, y, TASKS["binary"])
    with pytest.raises(DataError, match="class codes"):
        MLP(SMALL).fit(X, y + 5, TASKS["binary"])


def test_a_tampered_model_is_refused(tmp_path: Path) -> None:
    X, y = data("binary")
    info = MLP(SMALL, seed=0).fit(X, y, TASKS["binary"]).to_files(tmp_path)
    arch_file = tmp_path / "mlp.json"
    payload = json.loads(arch_file.read_text())
    payload["architecture"]["hidden"] = [64, 32]
    arch_file.write_text(json.dumps(payload))
    with pytest.raises(ArtifactError, match="does not match"):
        MLP.from_files(tmp_path, info)


def test_refit_uses_the_folds_best_epochs_and_cost_grows_with_rows() -> None:
    assert MLP.refit_params({"width": 128}, [10, 20]) == {"width": 128, "epochs": 16}
    assert MLP.refit_params({"width": 128}, []) == {"width": 128}
    task = TASKS["binary"]
    assert 0 < MLP.cost_hint(1_000, 20, task) < MLP.cost_hint(100_000, 20, task)
    assert LEARNERS["mlp"] is MLP
    assert MLP.feature_style == "linear"


def test_a_diverging_fit_fails_loudly() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 3)) * 1e6
    params = {"learning_rate": 1e8, "norm": "none", "epochs": 3}
    with pytest.raises(TrainingError, match="diverged"):
        MLP(params, seed=0).fit(X, X[:, 0] * 1e30, TASKS["regression"])


# -- TabM-mini: members sharing the hidden layers -----------------------------------------------


def members_predict(learner: MLP, X: np.ndarray) -> np.ndarray:
    """Each member's output through PyTorch in float64: (rows, members, outputs)."""
    module = torch_module(learner).to(torch.float64)
    with torch.no_grad():
        return np.asarray(module(torch.from_numpy(learner.network_inputs(X))).numpy())


@pytest.mark.parametrize("problem", list(TASKS))
@pytest.mark.parametrize("bins", [0, 8])
def test_tabm_serves_the_mean_of_its_members(problem: str, bins: int) -> None:
    X, y = data(problem)
    learner = TabM({**SMALL, "members": 4, "ple_bins": bins}, seed=1).fit(X, y, TASKS[problem])
    assert learner.arch_.members == 4
    out = members_predict(learner, X)
    assert out.shape[:2] == (len(X), 4)
    if problem == "regression":
        arch = learner.arch_
        expected = out[:, :, 0].mean(axis=1) * arch.y_scale + arch.y_mean
        spread = out[:, :, 0].std(axis=1)
    else:
        e = np.exp(out - out.max(axis=2, keepdims=True))
        members = e / e.sum(axis=2, keepdims=True)
        expected = members.mean(axis=1)
        spread = members[:, :, 0].std(axis=1)
    pred = learner.predict(X)
    assert np.allclose(pred, expected, rtol=0, atol=1e-9)
    assert float(spread.mean()) > 0.0  # the members differ: their own adapters and outputs
    for i in range(10):
        one = learner.predict_one(list(X[i]))
        assert np.allclose(one, np.atleast_1d(pred[i]), rtol=1e-12, atol=1e-12)


def test_tabm_saves_and_loads_and_an_mlp_file_without_members_is_one_network(
    tmp_path: Path,
) -> None:
    X, y = data("multiclass")
    learner = TabM({**SMALL, "members": 3}, seed=0).fit(X, y, TASKS["multiclass"])
    info = learner.to_files(tmp_path / "tabm")
    loaded = TabM.from_files(tmp_path / "tabm", info)
    assert np.array_equal(loaded.predict(X), learner.predict(X))
    assert loaded.predict_one(list(X[0])) == learner.predict_one(list(X[0]))
    # Files written before members existed name none: one network, as before.
    plain = MLP(SMALL, seed=0).fit(X, y, TASKS["multiclass"])
    info = plain.to_files(tmp_path / "mlp")
    arch_file = tmp_path / "mlp" / "mlp.json"
    payload = json.loads(arch_file.read_text())
    del payload["architecture"]["members"]
    arch_file.write_text(json.dumps(payload))
    old = MLP.from_files(tmp_path / "mlp", info)
    assert old.arch_.members == 1
    assert np.array_equal(old.predict(X), plain.predict(X))


def test_tabm_is_asked_for_never_in_the_default_search() -> None:
    from mlwright.pipeline._prepare import _families
    from mlwright.spec import spec_from_kwargs

    assert LEARNERS["tabm"] is TabM
    assert "tabm" not in _families(spec_from_kwargs({"target": "y"}))
    assert "mlp" in _families(spec_from_kwargs({"target": "y"}))
    assert _families(spec_from_kwargs({"target": "y", "learners": ["tabm"]})) == ["tabm"]
    # A parameter left out takes TabM's own default: its members and encodings.
    X, y = data("binary")
    plain = TabM({"epochs": 2}, seed=0).fit(X, y, TASKS["binary"])
    assert plain.arch_.members == 8
    assert plain.arch_.bins == 8
    assert MLP({"epochs": 2}, seed=0).fit(X, y, TASKS["binary"]).arch_.members == 1
    with pytest.raises(SpecError, match="members"):
        TabM({"members": 0}).fit(*data("binary"), TASKS["binary"])


def test_piecewise_linear_encodings_of_the_columns_with_more_than_two_values() -> None:
    from mlwright.learners._mlp import _Encoding

    rng = np.random.default_rng(0)
    X = np.column_stack([rng.uniform(0, 10, 500), rng.integers(0, 2, 500), np.full(500, 3.0)])
    X[:250, 0] = 5.0  # half the rows tie: their quantile bins have no width
    encoding = _Encoding.fit(X, bins=4, seed=0)
    assert encoding is not None
    assert encoding.columns.tolist() == [0]  # a binary and a constant column are left alone
    edges = encoding.edges[0].astype(np.float64)
    assert edges[0] == np.float32(X[:, 0].min())  # kept as float32, the saved tensor's type
    assert edges[-1] == np.float32(X[:, 0].max())
    inside = edges[-2] + 0.25 * (edges[-1] - edges[-2])  # a quarter into the last bin
    rows = np.array([[-1.0, 0, 3], [100.0, 1, 3], [inside, 0, 3]])
    encoded = encoding.batch(rows)
    assert encoded.shape == (3, 3 + 4)
    assert np.array_equal(encoded[:, :3], rows)  # the row itself comes first
    bins = encoded[:, 3:]
    empty = encoding.empty[0]
    assert empty.any()  # the tie at 5.0
    assert (bins[:, empty] == 0.0).all()
    assert (bins[0] == 0.0).all()  # below every bin
    assert (bins[1][~empty] == 1.0).all()  # above every bin
    assert bins[2, -1] == pytest.approx(0.25)
    assert (bins[2][:-1][~empty[:-1]] == 1.0).all()
    for i, row in enumerate(rows):
        assert np.array_equal(encoding.one(row), encoded[i])  # to the last bit
    assert _Encoding.fit(X[:, 1:], bins=4, seed=0) is None
    # A mostly-zero column (a hashed TF-IDF bucket) gets no bins; at most 64 columns do.
    sparse = np.where(rng.random(500) < 0.8, 0.0, rng.uniform(0, 1, 500))
    assert _Encoding.fit(np.column_stack([sparse, X[:, 1]]), bins=4, seed=0) is None
    wide = _Encoding.fit(rng.normal(size=(200, 80)), bins=4, seed=0)
    assert wide is not None
    assert wide.columns.tolist() == list(range(64))


def test_a_tampered_encoding_is_refused(tmp_path: Path) -> None:
    X, y = data("binary")
    learner = TabM({**SMALL, "members": 2, "ple_bins": 4}, seed=0).fit(X, y, TASKS["binary"])
    info = learner.to_files(tmp_path / "m")
    arch_file = tmp_path / "m" / "mlp.json"
    payload = json.loads(arch_file.read_text())
    payload["architecture"]["encoded"] = [0, 99]
    arch_file.write_text(json.dumps(payload))
    with pytest.raises(ArtifactError, match="encoded columns"):
        TabM.from_files(tmp_path / "m", info)


def test_a_run_that_asks_for_tabm_ships_it_and_serves_one_record_as_a_batch(
    tmp_path: Path,
) -> None:
    import mlwright
    from synth import make_frame

    frame = make_frame("binary", n=400, seed=3)
    model = mlwright.fit(
        frame,
        target="y",
        progress=False,
        learners=["tabm"],
        time_budget=120,
        folds=3,
        max_trials=2,
        tune=False,
    )
    assert {m.learner.family for m in model.members} == {"tabm"}
    assert any(m.learner.arch_.encoded for m in model.members)  # a configuration with bins
    loaded = mlwright.load(model.save(tmp_path / "tabm"))
    rows = frame.drop("y").head(5)
    batch = loaded.predict_proba(rows).to_numpy()
    for i, record in enumerate(rows.iter_rows(named=True)):
        one = list(loaded.predict_proba_one(record).values())
        assert np.allclose(one, batch[i], rtol=1e-9, atol=1e-12)
