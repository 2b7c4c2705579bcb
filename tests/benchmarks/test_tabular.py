"""The benchmark harness's bookkeeping (no model is fitted here)."""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import numpy as np
import pytest

from benchmark_module import load_benchmark


@pytest.fixture(scope="module")
def tabular() -> ModuleType:
    return load_benchmark("tabular")


def row(tabular: ModuleType, dataset: str, system: str, score: float):  # type: ignore[no-untyped-def]
    return tabular.Result(dataset, system, "roc_auc", score, 60.0, 1000.0, 100.0, 200.0)


def write_run(tabular: ModuleType, path: Path, budget: float, rows: list) -> Path:  # type: ignore[type-arg]
    meta = {"date": "2026-11-20", "machine": "m", "budget": budget, "command": "earlier"}
    path.write_text(json.dumps({"meta": meta, "results": [asdict(r) for r in rows]}))
    return path


def test_a_long_budget_suite_merges_runs_of_other_sessions(
    tabular: ModuleType, tmp_path: Path
) -> None:
    credit, churn, email = (tabular.DEV_SUITE[i] for i in (0, 1, 3))
    earlier = write_run(
        tabular,
        tmp_path / "earlier.json",
        300.0,
        [
            row(tabular, email, "mlwright", 0.95),
            row(tabular, email, "flaml", 0.94),
            row(tabular, credit, "mlwright", 0.10),  # re-run now: the new rows win
        ],
    )
    now = [row(tabular, churn, "mlwright", 0.85), row(tabular, credit, "mlwright", 0.86)]
    meta = {"date": "2026-11-26", "machine": "m", "budget": 300.0, "command": "now"}
    merged, merged_meta = tabular.merge_runs(now, meta, [earlier])
    assert [(r.dataset, r.system, r.score) for r in merged] == [
        (credit, "mlwright", 0.86),
        (churn, "mlwright", 0.85),
        (email, "mlwright", 0.95),
        (email, "flaml", 0.94),
    ]
    assert merged_meta["command"] == "now`; `earlier (2026-11-20)"
    table = tabular.markdown(merged, merged_meta)
    assert "`now`; `earlier (2026-11-20)`" in table
    assert "at least flaml: 1/1 tasks" in table


def test_a_table_is_rendered_from_results_files_without_a_run(
    tabular: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    credit, churn = tabular.DEV_SUITE[0], tabular.DEV_SUITE[1]
    first = write_run(
        tabular,
        tmp_path / "a.json",
        300.0,
        [row(tabular, churn, "mlwright", 0.85), row(tabular, churn, "autogluon-best", 0.86)],
    )
    second = write_run(
        tabular,
        tmp_path / "b.json",
        300.0,
        [row(tabular, credit, "mlwright", 0.86), row(tabular, credit, "autogluon-best", 0.85)],
    )
    before = set(tabular.RESULTS.glob("*.json"))
    assert tabular.main(["--tables-from", f"{first},{second}"]) == 0
    assert set(tabular.RESULTS.glob("*.json")) == before  # nothing was run or saved
    table = capsys.readouterr().out
    assert table.index(credit) < table.index(churn)  # the dev suite's order
    assert "at least autogluon-best: 1/2 tasks" in table
    assert "single-row p50 vs autogluon-best: 1x to 1x lower, median 1x (target >= 100x)" in table
    assert "mlwright's slowest single-row p50: 100 µs (target <= 1,000 µs)" in table


def test_runs_of_another_budget_are_refused(tabular: ModuleType, tmp_path: Path) -> None:
    earlier = write_run(
        tabular, tmp_path / "e.json", 60.0, [row(tabular, tabular.DEV_SUITE[0], "mlwright", 0.9)]
    )
    meta = {"date": "2026-11-26", "machine": "m", "budget": 300.0, "command": "now"}
    with pytest.raises(SystemExit, match=re.escape("budget is 60.0 s, this run's 300.0 s")):
        tabular.merge_runs([], meta, [earlier])


def test_a_run_of_one_system_claims_no_comparison(tabular: ModuleType) -> None:
    alone = [row(tabular, tabular.DEV_SUITE[0], "mlwright", 0.9)]
    meta = {"date": "2026-12-05", "machine": "m", "budget": 60.0, "command": "now"}
    table = tabular.markdown(alone, meta)
    assert "at least the best of" not in table
    assert "no other system ran, so no comparison target applies" in table


def test_a_table_names_its_results_file(tabular: ModuleType) -> None:
    saved = tabular.RESULTS / "tabular-20261205-042201.json"
    meta = {"date": "2026-12-05", "machine": "m", "budget": 60.0, "command": "now"}
    header = tabular.markdown([], tabular.with_results(meta, saved)).splitlines()[0]
    assert header.endswith("; results: `benchmarks/results/tabular-20261205-042201.json`.")
    assert tabular.markdown([], meta).splitlines()[0].endswith("; results file not kept.")


def test_a_merged_table_names_every_file_it_reads(tabular: ModuleType, tmp_path: Path) -> None:
    email, credit = tabular.DEV_SUITE[3], tabular.DEV_SUITE[0]
    used = write_run(tabular, tmp_path / "used.json", 300.0, [row(tabular, email, "flaml", 0.9)])
    unused = write_run(
        tabular, tmp_path / "unused.json", 300.0, [row(tabular, credit, "flaml", 0.8)]
    )
    meta = {"date": "2026-11-26", "machine": "m", "budget": 300.0, "command": "now"}
    meta = tabular.with_results(meta, tabular.RESULTS / "tabular-300-20261126.json")
    now = [row(tabular, credit, "mlwright", 0.86)]  # covers credit: unused.json adds nothing
    merged, merged_meta = tabular.merge_runs(now, meta, [used, unused])
    header = tabular.markdown(merged, merged_meta).splitlines()[0]
    assert header.endswith(f"; results: `benchmarks/results/tabular-300-20261126.json`, `{used}`.")


def test_the_bundled_table_names_its_results_file(tabular: ModuleType) -> None:
    run = {
        "chosen": "lightgbm_3",
        "holdout": {"value": 0.8492, "low": 0.827, "high": 0.8705},
        "baseline": 0.5,
        "seconds": 5.6,
        "latency": {"batch_rows_per_second": 107576.0, "p50_us": 12.0, "p99_us": 14.7},
    }
    meta = {"date": "2026-12-06", "machine": "x86_64, 2 cores, Python 3.11.7", "command": "c"}
    meta = tabular.with_results(meta, tabular.RESULTS / "tabular-bundled-20261206-010203.json")
    lines = tabular.bundled_markdown([run], meta).splitlines()
    assert lines[0] == (
        "Run 2026-12-06 on x86_64, 2 cores, Python 3.11.7; command: `c`; "
        "results: `benchmarks/results/tabular-bundled-20261206-010203.json`."
    )
    assert lines[-1] == (
        "| 1 | lightgbm_3 | 0.8492 [0.8270, 0.8705] | 0.5000 | 5.6 | 107,576 | 12.0 | 14.7 |"
    )


def test_results_keep_numpy_scalars_as_numbers(
    tabular: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import numpy as np

    monkeypatch.setattr(tabular, "RESULTS", tmp_path)
    saved = tabular.save_results("t", {"score": np.float32(0.5), "rows": np.int64(3)})
    assert saved.parent == tmp_path
    assert json.loads(saved.read_text()) == {"score": 0.5, "rows": 3}
    assert tabular.run_meta("scale.py", [])["command"] == "python benchmarks/scale.py"


def test_results_files_are_not_ignored_by_git() -> None:
    # They are committed: a table in docs/benchmarks.md names the file its numbers come from.
    ignore = Path(__file__).resolve().parents[2] / ".gitignore"
    patterns = [line.strip().strip("/") for line in ignore.read_text().splitlines()]
    assert not {"benchmarks", "benchmarks/results", "results", "*.json"} & set(patterns)


def test_a_run_saves_its_results_after_every_dataset(
    tabular: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run of hours that stops keeps the datasets it finished, in one file."""
    credit, churn = tabular.DEV_SUITE[0], tabular.DEV_SUITE[1]
    monkeypatch.setattr(tabular, "RESULTS", tmp_path)

    def load(item: str, split_seed: int = 0) -> Any:
        if item == churn:
            raise KeyboardInterrupt  # the run stops during the second dataset
        return SimpleNamespace(
            item=item, problem_type="binary", train=[0], test=[0], metric="roc_auc"
        )

    monkeypatch.setattr(tabular, "load_task", load)
    monkeypatch.setitem(
        tabular.SYSTEMS, "mlwright", lambda task, budget: row(tabular, task.item, "mlwright", 0.9)
    )
    with pytest.raises(KeyboardInterrupt):
        tabular.main(["--budget", "60", "--systems", "mlwright", "--datasets", f"{credit},{churn}"])
    [saved] = tmp_path.glob("tabular-*.json")
    kept = json.loads(saved.read_text())
    assert [(r["dataset"], r["score"]) for r in kept["results"]] == [(credit, 0.9)]
    assert kept["meta"]["budget"] == 60.0


def test_split_seeds_run_each_dataset_on_each_split(
    tabular: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    concrete = "modeldata/concrete:compressive_strength"
    first, other = tabular.load_task(concrete), tabular.load_task(concrete, 3)
    assert (first.item, other.item) == (concrete, f"{concrete}@3")
    assert len(first.test) == len(other.test)
    assert not first.test.equals(other.test)  # other test rows
    monkeypatch.setattr(tabular, "RESULTS", tmp_path)
    monkeypatch.setattr(tabular, "load_task", lambda item, seed=0: other if seed else first)
    monkeypatch.setitem(
        tabular.SYSTEMS, "mlwright", lambda task, budget: row(tabular, task.item, "mlwright", 4.0)
    )
    tabular.main(["--systems", "mlwright", "--datasets", concrete, "--split-seeds", "0,3"])
    [saved] = tmp_path.glob("tabular-*.json")
    results = json.loads(saved.read_text())["results"]
    assert [r["dataset"] for r in results] == [concrete, f"{concrete}@3"]


def test_anytime_says_where_the_longer_budget_scores_worse(
    tabular: ModuleType, tmp_path: Path
) -> None:
    credit, churn, hpc = tabular.DEV_SUITE[0], tabular.DEV_SUITE[1], tabular.DEV_SUITE[5]
    loss = tabular.Result(hpc, "mlwright", "log_loss", 0.40, 60.0, 1.0, 1.0, 1.0)
    short = write_run(
        tabular,
        tmp_path / "60.json",
        60.0,
        [row(tabular, credit, "mlwright", 0.85), row(tabular, churn, "mlwright", 0.85), loss],
    )
    longer_loss = tabular.Result(hpc, "mlwright", "log_loss", 0.41, 300.0, 1.0, 1.0, 1.0)
    long = write_run(
        tabular,
        tmp_path / "300.json",
        300.0,
        [
            row(tabular, credit, "mlwright", 0.86),
            row(tabular, churn, "mlwright", 0.8495),  # within the 0.1% tie
            row(tabular, churn, "flaml", 0.10),  # another system: not read
            longer_loss,  # a larger loss: worse
        ],
    )
    table = tabular.anytime([str(short)], [str(long)], system="mlwright")
    assert f"| {credit} | roc_auc | 0.85 | 0.86 | +1.18% | no |" in table
    assert f"| {churn} | roc_auc | 0.85 | 0.8495 | -0.06% | no |" in table
    assert f"| {hpc} | log_loss | 0.4 | 0.41 | -2.50% | yes |" in table
    assert "worse than the 60 s one (beyond a 0.1% tie) on 1 of 3 datasets" in table
    with pytest.raises(SystemExit, match="budgets"):
        tabular.anytime([str(short), str(long)], [str(long)], system="mlwright")


def test_anytime_reads_the_system_it_is_given(
    tabular: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    credit = tabular.DEV_SUITE[0]
    rows = [row(tabular, credit, "mlwright", 0.85), row(tabular, credit, "flaml", 0.80)]
    short = write_run(tabular, tmp_path / "60.json", 60.0, rows)
    long = write_run(
        tabular,
        tmp_path / "300.json",
        300.0,
        [row(tabular, credit, "mlwright", 0.86), row(tabular, credit, "flaml", 0.79)],
    )
    assert tabular.main(["--anytime", str(short), str(long), "--anytime-system", "flaml"]) == 0
    table = capsys.readouterr().out
    assert f"| {credit} | roc_auc | 0.8 | 0.79 | -1.25% | yes |" in table
    assert "on 1 of 1 datasets" in table


def test_the_mlp_encodings_system_changes_the_mlp_only_while_it_runs(tabular: ModuleType) -> None:
    from mlwright.learners import MLP, LearnerTask, TabM

    task = LearnerTask("binary", 2)
    seen: dict[str, list[dict[str, Any]]] = {}

    def run() -> None:
        seen["mlp"] = MLP.default_configs(task, 100)
        seen["tabm"] = TabM.default_configs(task, 100)

    tabular._with_mlp_encodings(run, 8)
    assert [c["ple_bins"] for c in seen["mlp"]] == [8] * len(seen["mlp"])
    assert seen["tabm"] == TabM.default_configs(task, 100)  # its own configurations
    assert all("ple_bins" not in c for c in MLP.default_configs(task, 100))  # restored


def test_the_foldstop_system_carves_no_stopping_rows_only_while_it_runs(
    tabular: ModuleType,
) -> None:
    from mlwright.pipeline import _stacking
    from mlwright.search import SearchSplit

    split = SearchSplit([(np.arange(300, 600), np.arange(300))])
    y = np.arange(600) % 2
    seen: dict[str, Any] = {}

    def run() -> None:
        seen["split"] = _stacking.carve_stopping(split, y, classification=True, seed=0)

    tabular._stopping_on_validated_rows(run)
    assert seen["split"].stopping is None
    carved = _stacking.carve_stopping(split, y, classification=True, seed=0)  # restored
    assert carved.stopping is not None
    assert len(carved.stopping[0]) == 60


def test_the_unscaled_system_leaves_the_refit_rounds_as_reached_only_while_it_runs(
    tabular: ModuleType,
) -> None:
    from mlwright.search import _search

    seen: dict[str, int] = {}

    def run() -> None:
        seen["rounds"] = _search.fold_rounds(100, 400, 500)

    tabular._refit_rounds_unscaled(run)
    assert seen["rounds"] == 100
    assert _search.fold_rounds(100, 400, 500) == 125  # restored


def test_the_tuned_ablation_keeps_tuning_only_while_it_runs(
    tabular: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlwright.search import _select

    def check(search: Any, **kw: Any) -> tuple[dict[str, float], dict[str, Any]]:
        return {"lightgbm_1": 1.0}, {"kept": False, "noise": 0.01}

    monkeypatch.setattr(_select, "judge_tuning", check)
    seen: dict[str, Any] = {}

    def run(task: Any, budget: float, learners: Any, label: str = "", **more: Any) -> Any:
        seen["label"] = label
        seen["verdict"] = _select.judge_tuning(None, with_tuned={"lightgbm_tpe1": 1.0})
        return row(tabular, task.item, label, 0.9)

    monkeypatch.setattr(tabular, "run_mlwright", run)
    tabular.SYSTEMS["mlwright-tuned"](SimpleNamespace(item="x"), 60.0)
    assert seen["label"] == "mlwright-tuned"
    assert seen["verdict"] == ({"lightgbm_tpe1": 1.0}, {"kept": True, "noise": 0.01})
    assert _select.judge_tuning is check  # the check is back as it was


def test_the_notes_give_the_tuning_verdict_the_runs_own_latency_and_what_it_skipped(
    tabular: ModuleType,
) -> None:
    tuning = {
        "holdout_rows": 169,
        "defaults": {"choice": "lightgbm_1", "score": 0.9012},
        "with_tuned": {"choice": "lightgbm_tpe3", "score": 0.8931},
        "kept": False,
        "noise": 0.0081,
    }
    assert tabular._tuning_note(tuning) == (
        "; tuned configurations not kept on the stacking holdout: 0.8931 vs 0.9012 (noise 0.0081)"
    )
    assert tabular._tuning_note(None) == ""
    assert tabular._own_latency_note({"p50_us": 1117.4}) == "; the run measured p50 1,117 µs"
    assert tabular._own_latency_note(None) == ""
    skipped = {"refit on every labelled row": "it would take about 40 s", "x": "y"}
    assert tabular._skipped_note({"skipped": skipped}) == (
        "; not done: refit on every labelled row, x"
    )
    assert tabular._skipped_note({"skipped": {}}) == ""
    assert tabular._skipped_note(None) == ""


def test_the_notes_say_when_the_run_chose_again_after_the_refit(tabular: ModuleType) -> None:
    """A refit ensemble over the latency aim is chosen again: the note names the first
    choice, which the holdout checks in the same note describe."""
    rejected = [
        "xgboost_tpe3: p99 2.1 ms > max_latency_p99_ms 2",
        "stack(l2_linear, catboost_3): measured after the refit at 0.93 ms a row > 0.8 ms, "
        "the 80% of target_latency_p50_ms 1 that a refit ensemble aims for (measured again, "
        "it may read slower; its members alone: catboost_3 0.09 ms; in turn 2.1x that); "
        "chosen again with the in-turn times over the first layer: catboost_3",
    ]
    assert tabular._rechosen_note(rejected) == (
        "; chosen again after the refit: stack(l2_linear, catboost_3) read 0.93 ms a row, "
        "over the 0.8 ms aim"
    )
    assert tabular._rechosen_note(rejected[:1]) == ""
    assert tabular._rechosen_note(None) == ""


def test_the_learned_portfolio_and_the_hand_written_run_side_by_side(
    tabular: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlwright.learners._portfolio import learned_configs

    seen: dict[str, Any] = {}

    def run(task: Any, budget: float, learners: Any, label: str = "", **more: Any) -> Any:
        seen[label] = learned_configs("lightgbm", "binary")
        return row(tabular, task.item, label, 0.9)

    monkeypatch.setattr(tabular, "run_mlwright", run)
    monkeypatch.setattr(tabular, "LEARNED_PORTFOLIO", [tmp_path / "absent.json"])
    task = SimpleNamespace(item="x")
    with pytest.raises(FileNotFoundError, match="--portfolio"):
        tabular.SYSTEMS["mlwright-learned"](task, 60.0)
    learned = tmp_path / "portfolio.json"
    families = {"lightgbm": {"binary": [{"num_leaves": 7}]}}
    learned.write_text(json.dumps({"meta": {}, "families": families}))
    monkeypatch.setattr(tabular, "LEARNED_PORTFOLIO", [learned])
    tabular.SYSTEMS["mlwright-learned"](task, 60.0)
    tabular.SYSTEMS["mlwright-handwritten"](task, 60.0)
    assert seen == {"mlwright-learned": [{"num_leaves": 7}], "mlwright-handwritten": None}


def test_the_notune_system_runs_mlwright_without_tuning(
    tabular: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, Any] = {}

    def run(task: Any, budget: float, learners: Any, label: str = "", **more: Any) -> Any:
        seen.update(label=label, learners=learners, **more)
        return row(tabular, task.item, label, 0.9)

    monkeypatch.setattr(tabular, "run_mlwright", run)
    tabular.SYSTEMS["mlwright-notune"](SimpleNamespace(item="x"), 60.0)
    assert seen == {"label": "mlwright-notune", "learners": None, "tune": False}


def _regression_task(tabular: ModuleType, n: int = 400):  # type: ignore[no-untyped-def]
    import pandas as pd

    rng = np.random.default_rng(0)
    test = pd.DataFrame({"x": rng.normal(size=n), "y": rng.normal(size=n)})
    return tabular.Task("pkg/item:y", "y", "regression", test.iloc[:0], test)


def test_a_run_keeps_its_test_predictions_beside_its_results(
    tabular: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    credit = tabular.DEV_SUITE[0]
    monkeypatch.setattr(tabular, "RESULTS", tmp_path)
    monkeypatch.setattr(
        tabular,
        "load_task",
        lambda item, seed=0: SimpleNamespace(
            item=item, problem_type="binary", train=[0], test=[0], metric="roc_auc"
        ),
    )
    proba = np.array([[0.2, 0.8], [0.7, 0.3], [0.5, 0.5]])

    def system(task: Any, budget: float) -> Any:
        return tabular.Result(
            task.item, "mlwright", "roc_auc", 0.9, 1.0, 1.0, 1.0, 1.0, predictions=proba
        )

    monkeypatch.setitem(tabular.SYSTEMS, "mlwright", system)
    monkeypatch.setitem(
        tabular.SYSTEMS, "lightgbm", lambda task, budget: row(tabular, task.item, "lightgbm", 0.8)
    )
    tabular.main(["--systems", "mlwright,lightgbm", "--datasets", credit])
    [saved] = tmp_path.glob("tabular-*.json")
    assert "predictions" not in saved.read_text()  # the JSON keeps scores, not rows
    kept = tabular.load_predictions(saved)
    assert set(kept) == {(credit, "mlwright")}  # lightgbm's stand-in kept none
    np.testing.assert_allclose(kept[credit, "mlwright"], proba, rtol=1e-6)
    np.testing.assert_array_equal(kept[credit, "mlwright"].sum(axis=1), 1.0)  # scorers check
    assert tabular.predictions_path(saved).name == saved.stem + ".predictions.npz"
    assert tabular.load_predictions(tmp_path / "older.json") == {}


def test_the_paired_change_scores_both_models_on_the_same_resampled_rows(
    tabular: ModuleType,
) -> None:
    task = _regression_task(tabular)
    truth = task.test["y"].to_numpy()
    rng = np.random.default_rng(1)
    rough = truth + rng.normal(scale=1.0, size=len(truth))
    close = truth + rng.normal(scale=0.5, size=len(truth))
    change, se = tabular.paired_change(task, rough, rough, resamples=200)
    assert (change, se) == (0.0, 0.0)  # the same model: no change, and no noise in it
    change, se = tabular.paired_change(task, rough, close, resamples=200)
    rmse = lambda p: float(np.sqrt(np.mean((truth - p) ** 2)))  # noqa: E731
    assert change == pytest.approx((rmse(rough) - rmse(close)) / rmse(rough))  # +: better
    assert 0 < se < change / 4  # halving the error is far beyond this split's noise
    worse, _ = tabular.paired_change(task, close, rough, resamples=200)
    assert worse < 0


def test_anytime_gives_the_paired_noise_where_both_runs_kept_predictions(
    tabular: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    task = _regression_task(tabular)
    truth = task.test["y"].to_numpy()
    monkeypatch.setattr(tabular, "load_task", lambda item, seed=0: task)
    rng = np.random.default_rng(2)
    first = truth + rng.normal(scale=1.0, size=len(truth))
    second = first + rng.normal(scale=0.05, size=len(truth))  # a hair's difference
    rmse = lambda p: float(np.sqrt(np.mean((truth - p) ** 2)))  # noqa: E731

    def result(p: np.ndarray) -> Any:
        return tabular.Result(
            "pkg/item:y@1", "mlwright", "rmse", rmse(p), 1.0, 1.0, 1.0, 1.0, predictions=p
        )

    short = write_run(tabular, tmp_path / "60.json", 60.0, [])
    long = write_run(tabular, tmp_path / "300.json", 300.0, [])
    for path, p in ((short, first), (long, second)):
        payload = json.loads(path.read_text())
        payload["results"] = [tabular.as_row(result(p))]
        path.write_text(json.dumps(payload))
        tabular.save_predictions(path, [result(p)])
    table = tabular.anytime([str(short)], [str(long)], system="mlwright")
    line = next(line for line in table.splitlines() if line.startswith("| pkg/item:y@1"))
    cells = [c.strip() for c in line.strip("|").split("|")]
    change, se = float(cells[4].rstrip("%")), float(cells[6].rstrip("%"))
    assert se > 0
    assert cells[7] == ("yes" if change < -2 * se else "no")
    assert "Where both runs kept their test predictions (1 of the 1)" in table
    # Without predictions (older runs) the columns say so and the verdict stands alone.
    tabular.predictions_path(long).unlink()
    table = tabular.anytime([str(short)], [str(long)], system="mlwright")
    assert table.splitlines()[2].endswith("| – | – |")
    assert "kept their test predictions" not in table
