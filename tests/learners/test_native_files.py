"""The checks of native model files that run before their libraries read them: LightGBM's
text and XGBoost's UBJSON (mlwright.learners._lightgbm_text, _xgboost_model). The rule
they must keep for every input: a file either is refused with a ValueError, or the library
loads it and predicts with it without crashing the process. Mutated files are scored in a
child process, so that a crash fails the test instead of killing pytest."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hostile import edit_tree_line, lightgbm_blocks, ubjson, with_tree_sizes
from mlwright.errors import ArtifactError
from mlwright.learners import LEARNERS, LearnerTask
from mlwright.learners._lightgbm_text import check_model_text
from mlwright.learners._xgboost_model import checked_model_json, decode_ubjson

N_FEATURES = 5
TASK = LearnerTask("binary", 2, (4,))

# Scores every file of a folder after the check; prints each name first (after "@@ ": the
# libraries print too), so that the file that crashed it is the last one named.
CHILD = """
import sys, json
from pathlib import Path
import numpy as np
kind, folder = sys.argv[1], Path(sys.argv[2])
rng = np.random.default_rng(0)
rows = np.vstack([np.full((1, 5), np.nan), np.zeros((1, 5)), rng.normal(size=(6, 5)) * 3])
rows[:, 4] = np.arange(len(rows)) % 6
for path in sorted(folder.iterdir()):
    print("@@", path.name, flush=True)
    try:
        if kind == "lightgbm":
            import lightgbm as lgb
            from mlwright.learners._lightgbm_text import check_model_text
            text = path.read_text()
            check_model_text(text, n_features=5, n_outputs=1)
            booster = lgb.Booster(model_str=text)
            booster.predict(rows)
            booster.predict(rows, pred_contrib=True)
        else:
            import xgboost as xgb
            from mlwright.learners._xgboost_model import checked_model_json
            source = checked_model_json(path.read_bytes(), n_features=5, n_groups=1)
            booster = xgb.Booster()
            booster.load_model(bytearray(source))
            booster.inplace_predict(rows)
            booster.predict(xgb.DMatrix(rows), pred_contribs=True)
    except Exception:
        continue  # refused, or a library error mlwright turns into an ArtifactError
print("@@ done", flush=True)
"""


def _fitted(family: str) -> Any:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, N_FEATURES))
    X[:, 4] = rng.integers(0, 6, 300)
    y = ((X[:, 0] + (X[:, 4] == 2)) > 0.5).astype(np.int64)
    params = {"n_estimators": 4, "num_leaves": 8} if family == "lightgbm" else {"n_estimators": 4}
    return LEARNERS[family](params, seed=0).fit(X, y, TASK)


@pytest.fixture(scope="module")
def lightgbm_text() -> str:
    text: str = _fitted("lightgbm").model_text_
    return text


@pytest.fixture(scope="module")
def xgboost_raw() -> bytes:
    raw: bytes = _fitted("xgboost").model_raw_
    return raw


def score_in_child(kind: str, files: dict[str, bytes]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for name, data in files.items():
            (Path(tmp) / name).write_bytes(data)
        done = subprocess.run(
            [sys.executable, "-c", CHILD, kind, tmp],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        named = [line[3:] for line in done.stdout.splitlines() if line.startswith("@@ ")]
        if done.returncode != 0 or named[-1:] != ["done"]:
            last = named[-1] if named else None
            crashed = (Path(tmp) / last).read_bytes()[:3000] if last else b""
            pytest.fail(
                f"{kind} crashed (return code {done.returncode}) on a file the check let "
                f"through: {last}\n{crashed!r}\n{done.stderr[-2000:]}"
            )


def test_the_checks_accept_what_the_libraries_write(lightgbm_text: str, xgboost_raw: bytes) -> None:
    check_model_text(lightgbm_text, n_features=N_FEATURES, n_outputs=1)
    checked_model_json(xgboost_raw, n_features=N_FEATURES, n_groups=1)
    with pytest.raises(ValueError, match="features"):
        check_model_text(lightgbm_text, n_features=N_FEATURES + 1, n_outputs=1)
    with pytest.raises(ValueError, match="outputs"):
        checked_model_json(xgboost_raw, n_features=N_FEATURES, n_groups=3)


TOKENS = ["-1", "0", "1", "2", "3", "7", "-100000", "100000", "x", "", "1e308", "nan", "inf"]
TREE_KEYS = [
    "num_leaves",
    "num_cat",
    "split_feature",
    "threshold",
    "decision_type",
    "left_child",
    "right_child",
    "leaf_value",
    "cat_boundaries",
    "cat_threshold",
    "internal_count",
    "leaf_count",
]
lightgbm_edits = st.tuples(
    st.integers(0, 3),
    st.sampled_from(TREE_KEYS),
    st.integers(0, 8),
    st.sampled_from(TOKENS),
    st.sampled_from(["replace", "drop", "insert"]),
)


def _edit(items: list[str], at: int, token: str, how: str) -> list[str]:
    at = min(at, len(items))
    if how == "drop":
        return items[:at] + items[at + 1 :]
    if how == "insert":
        return [*items[:at], token, *items[at:]]
    return [*items[:at], token, *items[at + 1 :]]


@settings(
    max_examples=4,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(edits=st.lists(st.lists(lightgbm_edits, min_size=1, max_size=3), min_size=40, max_size=40))
def test_a_lightgbm_text_that_passes_the_check_never_crashes_lightgbm(
    lightgbm_text: str, edits: list[list[tuple[int, str, int, str, str]]]
) -> None:
    header, blocks, rest = lightgbm_blocks(lightgbm_text)
    files = {}
    for number, changes in enumerate(edits):
        changed = list(blocks)
        for tree, key, at, token, how in changes:
            index = tree % len(changed)
            changed[index] = edit_tree_line(
                changed[index], key, lambda v, a=at, t=token, h=how: _edit(v, a, t, h)
            )
        # tree_sizes recomputed: the check must find the damage in the trees themselves.
        files[f"{number:03}.txt"] = with_tree_sizes(header, changed, rest).encode()
    score_in_child("lightgbm", files)


@settings(max_examples=3, deadline=None, derandomize=True)
@given(
    flips=st.lists(st.tuples(st.integers(0, 10**9), st.integers(0, 255)), min_size=30, max_size=30)
)
def test_a_lightgbm_text_with_random_bytes_never_crashes_lightgbm(
    lightgbm_text: str, flips: list[tuple[int, int]]
) -> None:
    data = lightgbm_text.encode()
    files = {}
    for number, (at, value) in enumerate(flips):
        damaged = bytearray(data)
        damaged[at % len(damaged)] = value
        files[f"{number:03}.txt"] = bytes(damaged)
    score_in_child("lightgbm", files)


XGB_ARRAYS = ["left_children", "right_children", "parents", "split_indices", "split_type"]
xgboost_edits = st.tuples(
    st.sampled_from(XGB_ARRAYS),
    st.integers(0, 10),
    st.sampled_from([-2, -1, 0, 1, 2, 3, 5, 7, 1000, 2**31 - 1]),
)


@settings(max_examples=3, deadline=None, derandomize=True)
@given(
    edits=st.lists(st.lists(xgboost_edits, min_size=1, max_size=3), min_size=30, max_size=30),
    flips=st.lists(st.tuples(st.integers(0, 10**9), st.integers(0, 255)), min_size=30, max_size=30),
)
def test_an_xgboost_file_that_passes_the_check_never_crashes_xgboost(
    xgboost_raw: bytes,
    edits: list[list[tuple[str, int, int]]],
    flips: list[tuple[int, int]],
) -> None:
    files = {}
    for number, changes in enumerate(edits):
        changed = decode_ubjson(xgboost_raw)
        tree = changed["learner"]["gradient_booster"]["model"]["trees"][0]
        for key, at, value in changes:
            array = tree[key]  # keeps its dtype: XGBoost reads typed arrays by their type
            array[at % len(array)] = np.array(value).astype(array.dtype)
        files[f"e{number:03}.ubj"] = ubjson(changed)
    for number, (at, value) in enumerate(flips):
        damaged = bytearray(xgboost_raw)
        damaged[at % len(damaged)] = value
        files[f"f{number:03}.ubj"] = bytes(damaged)
    score_in_child("xgboost", files)


def test_ubjson_lengths_past_the_end_are_refused(xgboost_raw: bytes) -> None:
    decoded = decode_ubjson(ubjson({"a": np.array([1, 2], np.int32), "b": ["x", 3]}))
    assert decoded["a"].tolist() == [1, 2]
    assert decoded["b"] == ["x", 3]
    for damaged in (xgboost_raw[:-1], xgboost_raw + b"\x00", b"[" * 100 + b"]" * 100):
        with pytest.raises(ValueError, match=r"cut short|follow the model|nests deeper"):
            decode_ubjson(damaged)


@pytest.mark.parametrize(
    ("family", "file", "data"),
    [
        ("lightgbm", "model.txt", b"\xff\xfe not text"),
        ("lightgbm", "model.txt", b"tree\nversion=v4\n"),
        ("xgboost", "model.ubj", b"{not ubjson"),
        ("catboost", "model.cbm", b"CBM1\x00\x00\x00\x00junk"),
    ],
)
def test_from_files_names_the_file_it_refuses(
    tmp_path: Path, family: str, file: str, data: bytes
) -> None:
    learner = _fitted(family)
    info = learner.to_files(tmp_path / family)
    (tmp_path / family / file).write_bytes(data)
    with pytest.raises(ArtifactError) as caught:
        LEARNERS[family].from_files(tmp_path / family, info)
    assert caught.value.field is not None
    assert caught.value.field.endswith(file) or caught.value.field == str(tmp_path / family)
    assert file in caught.value.message or family in caught.value.message


# What LightGBM and XGBoost write in the settings a search can reach: one-leaf trees (a
# large min_data_in_leaf: LightGBM writes their leaf_weight and leaf_count empty), missing
# values, categorical splits, several classes, regression. A check that refuses any of
# them would fail the search's own models (a refused stump once did).
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from(["binary", "multiclass", "regression"]),
    rows=st.integers(20, 200),
    min_leaf=st.sampled_from([1, 5, 40, 1000]),
    missing=st.floats(0.0, 0.5),
    seed=st.integers(0, 2**16),
)
def test_the_checks_accept_every_model_the_libraries_write(
    kind: str, rows: int, min_leaf: int, missing: float, seed: int
) -> None:
    import lightgbm as lgb
    import xgboost as xgb

    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, N_FEATURES))
    X[:, 4] = rng.integers(0, 6, rows)
    X[rng.random(X.shape) < missing] = np.nan
    signal = np.nan_to_num(X[:, 0]) + (X[:, 4] == 2)
    classes = {"binary": 2, "multiclass": 3, "regression": 1}[kind]
    y = signal if kind == "regression" else np.digitize(signal, [0.0, 0.8][: classes - 1])
    objective = {"binary": "binary", "multiclass": "multiclass", "regression": "regression"}
    params: dict[str, Any] = {
        "objective": objective[kind],
        "min_data_in_leaf": min_leaf,
        "num_leaves": 8,
        "verbose": -1,
        **({"num_class": 3} if kind == "multiclass" else {}),
    }
    data = lgb.Dataset(X, y, categorical_feature=[4], params={"min_data_per_group": 1})
    text = lgb.train(params, data, num_boost_round=3).model_to_string()
    outputs = 3 if kind == "multiclass" else 1
    check_model_text(text, n_features=N_FEATURES, n_outputs=outputs)

    xgb_objective = {
        "binary": "binary:logistic",
        "multiclass": "multi:softprob",
        "regression": "reg:squarederror",
    }
    booster = xgb.train(
        {
            "objective": xgb_objective[kind],
            "min_child_weight": min_leaf,
            "max_depth": 3,
            **({"num_class": 3} if kind == "multiclass" else {}),
        },
        xgb.DMatrix(X, y),
        num_boost_round=3,
    )
    raw = bytes(booster.save_raw("ubj"))
    checked_model_json(raw, n_features=N_FEATURES, n_groups=outputs)


@pytest.mark.parametrize(
    ("family", "checker"),
    [
        ("lightgbm", "mlwright.learners._lightgbm.check_model_text"),
        ("xgboost", "mlwright.learners._xgboost.checked_model_json"),
    ],
)
def test_the_searchs_own_files_skip_the_checks_and_artifacts_never_do(
    family: str, checker: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The search loads every fold of every trial several times (measuring, choosing, the
    # holdout); checking them in Python each time made those steps 4-5x slower on
    # hotel_rates and cost the refit its time. Its own files are trusted; nothing else is.
    learner = _fitted(family)
    info = learner.to_files(tmp_path / "m")
    calls: list[str] = []

    def refuse(*_: Any, **__: Any) -> Any:
        calls.append(family)
        raise ValueError("checked")

    monkeypatch.setattr(checker, refuse)
    cls = LEARNERS[family]
    rows = np.random.default_rng(1).normal(size=(5, N_FEATURES))
    trusted = cls.from_files(tmp_path / "m", info, trusted=True)
    np.testing.assert_array_equal(trusted.predict(rows), learner.predict(rows))
    assert calls == []
    with pytest.raises(ArtifactError, match="checked"):
        cls.from_files(tmp_path / "m", info)
    assert calls == [family]
