"""Where one row's prediction time goes: features, each learner family, the combination.

For each table, fits the feature plans ("tree" and "linear") on the 80% training split
(benchmarks/tabular.py's split) and one learner per family with its first default
configuration (``default_configs(...)[0]``, early stopping on the last 20% of the training
rows, as a search fold does), builds a ``Model`` of all of them with equal weights, and
times, on the first test rows, median of ``--rounds`` rounds of each part's per-row p50:

- ``features/tree``, ``features/linear``: ``FeaturePlan.transform_one``;
- each family's ``Learner.predict_one`` on its plan's vector; for XGBoost also its library's
  C entry point (``xgboost (C)``: what ``predict_one`` called before the NumPy tree walk);
- ``model (all members)``: ``Model.predict_one`` of the whole ensemble, features included,
  and ``combination``: that minus the parts above (weights, calibration: the Python glue).

Each part is timed twice: ``alone`` (200 rows through that part only: its data stays in
the CPU caches) and ``in turn`` (every part on each row one after another, as the model
runs them: each finds the caches holding the others' data, and costs up to several times
more). p99 is of all calls of all rounds. The machine is shared: compare rows of one run.

``--compiled`` also times the LightGBM and XGBoost members compiled to native code, alone,
beside the path mlwright ships: ``lleaves`` (LightGBM through LLVM, compiled when the model
loads) and ``tl2cgen`` (Treelite's C code compiled by gcc into a shared library; one
``tl2cgen.DMatrix`` a row), with each one's compile seconds and its largest difference from
``predict_one``. They are not dependencies of mlwright:
``pip install -r benchmarks/requirements-compiled.txt``.

    .venv/bin/python benchmarks/latency_members.py            # the three tables, ~4 min
    .venv/bin/python benchmarks/latency_members.py --tables concrete --rounds 3
    .venv/bin/python benchmarks/latency_members.py --compiled
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mlwright.artifact._model import InputField, Member, Model
from mlwright.data._schema import infer_schema
from mlwright.features import FeaturePlan
from mlwright.learners import LEARNERS, Learner, LearnerTask
from mlwright.spec._load import spec_from_kwargs
from tabular import load_task

TABLES = {
    "hotel_rates": "modeldata/hotel_rates:avg_price_per_room",
    "email": "openintro/email:spam",
    "concrete": "modeldata/concrete:compressive_strength",
}
FAMILIES = (
    "linear",
    "lightgbm",
    "xgboost",
    "catboost",
    "random_forest",
    "extra_trees",
    "knn",
    "mlp",
)
ROWS = 200


def timed(call: Callable[[Any], Any], inputs: Sequence[Any], rounds: int) -> tuple[float, float]:
    """(p50, p99) in µs: the median over rounds of each round's median; p99 of all calls."""
    for item in inputs[:10]:
        call(item)
    medians, every = [], []
    for _ in range(rounds):
        times = []
        for item in inputs:
            started = time.perf_counter_ns()
            call(item)
            times.append((time.perf_counter_ns() - started) / 1000.0)
        medians.append(statistics.median(times))
        every.extend(times)
    every.sort()
    return statistics.median(medians), every[math.ceil(0.99 * len(every)) - 1]


def fitted(table: str) -> tuple[Model, list[dict[str, Any]], dict[str, float]]:
    """A model of one learner per family on ``table``, the test records, and fit seconds."""
    task = load_task(TABLES[table])
    train = pl.from_pandas(task.train)
    spec = spec_from_kwargs({"target": task.target, "problem_type": task.problem_type})
    schema = infer_schema(train, spec)
    columns = [(c.name, c.kind) for c in schema.features]
    frame = train.select([name for name, _ in columns])
    n_classes = len(task.classes)
    if task.problem_type == "regression":
        y = task.train[task.target].to_numpy(dtype=float)
    else:
        y = task.train[task.target].map({c: i for i, c in enumerate(task.classes)}).to_numpy()
    plans, matrices = {}, {}
    for style in ("tree", "linear"):
        plan = FeaturePlan(columns, style, n_classes=n_classes if n_classes > 2 else 0)
        matrices[style] = plan.fit_transform(frame, y)
        plans[f"{style}/full"] = plan
    cut = int(0.8 * len(y))
    members, fit_s = [], {}
    for family in FAMILIES:
        cls: type[Learner] = LEARNERS[family]
        if not cls.available:
            continue
        style = cls.feature_style
        X = matrices[style]
        lt = LearnerTask(
            task.problem_type,  # type: ignore[arg-type]
            n_classes,
            tuple(plans[f"{style}/full"].categorical_indices),
        )
        config = cls.default_configs(lt, len(y))[0]
        started = time.perf_counter()
        learner = cls(config, seed=0).fit(X[:cut], y[:cut], lt, X_valid=X[cut:], y_valid=y[cut:])
        fit_s[family] = time.perf_counter() - started
        members.append(Member(family, learner, 1.0, f"{style}/full"))
    model = Model(
        spec=spec,
        classes=task.classes,
        threshold=None,
        inputs=[InputField(c.name, c.kind, c.dtype) for c in schema.features],  # type: ignore[arg-type]
        plans=plans,
        members=members,
        metadata={},
    )
    records = task.test.drop(columns=[task.target]).head(ROWS).to_dict("records")
    return model, records, fit_s


def measure(
    table: str, rounds: int, compiled: bool = False
) -> list[tuple[str, str, float, float, float]]:
    """(table, part, p50 alone, p50 in turn, p99 in turn) per part, in µs; with
    ``compiled``, also the compiled LightGBM and XGBoost members alone."""
    model, records, _ = fitted(table)
    vectors = {key: [plan.transform_one(r) for r in records] for key, plan in model.plans.items()}
    calls: dict[str, tuple[Callable[[Any], Any], list[Any]]] = {}
    for key, plan in model.plans.items():
        calls[f"features/{key.split('/')[0]}"] = (plan.transform_one, records)
    for member in model.members:
        name = f"{member.name} {_size(member.learner)}".strip()
        calls[name] = (member.learner.predict_one, vectors[member.plan])
    turn = in_turn(calls, len(records), rounds)
    rows = []
    for name, (call, inputs) in calls.items():
        alone, _ = timed(call, inputs, rounds)
        rows.append((table, name, alone, *turn[name]))
        if name.startswith("xgboost"):
            c_path = model.members[[m.name for m in model.members].index("xgboost")].learner
            alone, _ = timed(c_path._fast_row(), vectors["tree/full"], rounds)  # type: ignore[attr-defined]
            rows.append((table, "xgboost (C)", alone, math.nan, math.nan))
        family = name.split(" ")[0]
        if compiled and family in ("lightgbm", "xgboost"):
            rows.extend(_compiled_rows(table, model, family, vectors["tree/full"], rounds))
    p50, p99 = timed(model.predict_one, records, rounds)
    rows.append((table, "model (all members)", math.nan, p50, p99))
    parts = sum(row[3] for row in rows if not math.isnan(row[3]) and row[1] in calls)
    rows.append((table, "combination", math.nan, p50 - parts, math.nan))
    return rows


def _compiled_rows(
    table: str, model: Model, family: str, vectors: list[Any], rounds: int
) -> list[tuple[str, str, float, float, float]]:
    """The ``family`` member compiled each way, timed alone on its plan's vectors."""
    learner = next(m.learner for m in model.members if m.name == family)
    rows = []
    for part, predict in compiled_predictors(learner, family):
        alone, _ = timed(predict, vectors, rounds)
        named = part + _agreement(predict, learner, vectors)
        rows.append((table, named, alone, math.nan, math.nan))
    return rows


def compiled_predictors(
    learner: Learner, family: str
) -> list[tuple[str, Callable[[Sequence[float]], list[float]]]]:
    """The member compiled by lleaves (LightGBM only) and by tl2cgen, each a single-row
    predictor giving ``predict_one``'s outputs, named with its compile seconds."""
    import tl2cgen
    import treelite

    booster: Any = learner.booster_  # type: ignore[attr-defined]
    task = learner.task_  # type: ignore[attr-defined]
    folder = Path(tempfile.mkdtemp(prefix="mlwright-compiled-"))
    out: list[tuple[str, Callable[[Sequence[float]], list[float]]]] = []
    if family == "lightgbm":
        import lleaves

        (folder / "model.txt").write_text(learner.model_text_)  # type: ignore[attr-defined]
        started = time.perf_counter()
        jit = lleaves.Model(model_file=str(folder / "model.txt"))
        jit.compile(cache=str(folder / "lleaves.o"))
        seconds = time.perf_counter() - started
        out.append(
            (
                f"{family} via lleaves (compiled in {seconds:.1f} s)",
                _as_outputs(lambda x: jit.predict(np.asarray([x]), n_jobs=1)[0], task),
            )
        )
    started = time.perf_counter()
    tree_model = (
        treelite.frontend.from_lightgbm(booster)
        if family == "lightgbm"
        else treelite.frontend.from_xgboost_json(booster.save_raw("json").decode())
    )
    tl2cgen.export_lib(
        tree_model,
        toolchain="gcc",
        libpath=folder / "model.so",
        params={"parallel_comp": 8},
        nthread=1,
    )
    predictor = tl2cgen.Predictor(folder / "model.so", nthread=1)
    seconds = time.perf_counter() - started
    out.append(
        (
            f"{family} via tl2cgen (compiled in {seconds:.1f} s)",
            _as_outputs(
                lambda x: predictor.predict(tl2cgen.DMatrix(np.asarray([x]))).reshape(-1), task
            ),
        )
    )
    return out


def _as_outputs(
    raw: Callable[[Sequence[float]], Any], task: LearnerTask
) -> Callable[..., list[float]]:
    """A compiled predictor's row output as ``predict_one`` gives it (binary: [1 - p, p])."""

    def call(x: Sequence[float]) -> list[float]:
        values = np.asarray(raw(x), dtype=float).reshape(-1)
        if task.problem_type == "binary":
            return [1.0 - float(values[0]), float(values[0])]
        return values.tolist()

    return call


def _agreement(
    call: Callable[[Sequence[float]], list[float]], learner: Learner, vectors: Sequence[Any]
) -> str:
    """The largest difference from ``predict_one`` over the rows, as a suffix."""
    worst = max(
        float(np.max(np.abs(np.asarray(call(v)) - np.asarray(learner.predict_one(v)))))
        for v in vectors
    )
    return f", differs by at most {worst:.1g}"


def in_turn(
    calls: dict[str, tuple[Callable[[Any], Any], list[Any]]], n: int, rounds: int
) -> dict[str, tuple[float, float]]:
    """Each part's (p50, p99) when all parts run one after another on each row, as in the
    model: every part then finds the CPU caches holding the others' data."""
    medians: dict[str, list[float]] = {name: [] for name in calls}
    every: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(rounds):
        times: dict[str, list[float]] = {name: [] for name in calls}
        for i in range(n):
            for name, (call, inputs) in calls.items():
                started = time.perf_counter_ns()
                call(inputs[i])
                times[name].append((time.perf_counter_ns() - started) / 1000.0)
        for name, values in times.items():
            medians[name].append(statistics.median(values))
            every[name].extend(values)
    out = {}
    for name in calls:
        ordered = sorted(every[name])
        out[name] = (statistics.median(medians[name]), ordered[math.ceil(0.99 * len(ordered)) - 1])
    return out


def _size(learner: Learner) -> str:
    if learner.feature_style != "tree":
        return ""
    trees = getattr(learner, "best_iteration_", None) or getattr(learner, "n_trees_", None)
    return f"({trees} trees)" if trees else ""


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tables", default=",".join(TABLES), help="of: " + ", ".join(TABLES))
    parser.add_argument("--rounds", type=int, default=5, help="timing rounds of 200 rows")
    parser.add_argument(
        "--compiled", action="store_true", help="also time lleaves and tl2cgen (see above)"
    )
    args = parser.parse_args(argv)
    print("| table | part | p50 µs alone | p50 µs in turn | p99 µs in turn |")
    print("|---|---|---:|---:|---:|")
    for table in args.tables.split(","):
        for row in measure(table, args.rounds, args.compiled):
            cells = ["" if math.isnan(v) else f"{v:,.1f}" for v in row[2:]]
            print(f"| {row[0]} | {row[1]} | {' | '.join(cells)} |", flush=True)


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
