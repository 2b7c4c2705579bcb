"""The learned portfolio: the meta-suite, the greedy selection, the script end to end on tiny
tasks, and the learners reading its file."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from types import ModuleType

import pytest

from benchmark_module import load_benchmark
from mlwright.errors import ArtifactError
from mlwright.learners import LearnerTask, LightGBM, Linear, RandomForest
from mlwright.learners._portfolio import PORTFOLIO_FILE, use_portfolio

BINARY = LearnerTask("binary", 2)
REGRESSION = LearnerTask("regression", 0)


# Four tasks' regrets: "broad" is best on three, "niche" on the fourth, "middling" never.
REGRETS = {
    "t1": {"broad": 0.0, "niche": 0.9, "middling": 0.3},
    "t2": {"broad": 0.0, "niche": 0.8, "middling": 0.3},
    "t3": {"broad": 0.1, "niche": 1.0, "middling": 0.3},
    "t4": {"broad": 1.0, "niche": 0.0, "middling": 0.3},
}


@pytest.fixture(scope="module")
def portfolio() -> ModuleType:
    return load_benchmark("portfolio")


@pytest.fixture(scope="module")
def dev_suite() -> list[str]:
    return list(load_benchmark("tabular").DEV_SUITE)


def test_meta_suite_is_disjoint_from_the_dev_suite_and_covers_every_problem_type(
    portfolio: ModuleType, dev_suite: list[str]
) -> None:
    items = portfolio.parse_suite()
    assert 30 <= len(items) <= 40
    assert len(set(items)) == len(items)
    assert portfolio.dev_overlap(items, dev_suite) == {}
    datasets = {item.split(":")[0] for item in items}
    assert not datasets & {d.split(":")[0] for d in dev_suite}
    assert not datasets & set(portfolio.ALIASES)
    kinds: Counter[str] = Counter()
    for item in items:
        frame, target = portfolio.read_frame(item)  # bundled files: nothing is downloaded
        kinds[portfolio.problem_type_of(frame[target].dropna())] += 1
    assert set(kinds) == {"binary", "multiclass", "regression"}
    assert min(kinds.values()) >= 8  # enough tasks for a list per problem type


def test_dev_suite_data_under_another_name_is_refused(
    portfolio: ModuleType, dev_suite: list[str]
) -> None:
    found = portfolio.dev_overlap(
        [
            "modeldata/ames:Sale_Price",
            "openintro/ames:price",
            "Ecdat/Hdma:deny",
            "AER/CreditCard:card",
            "Stat2Data/Diamonds:TotalPrice",
            "AER/ResumeNames:call",  # "names" is not ames
            "carData/Wells:switch",
        ],
        dev_suite,
    )
    assert set(found) == {
        "modeldata/ames:Sale_Price",
        "openintro/ames:price",
        "Ecdat/Hdma:deny",
        "AER/CreditCard:card",
        "Stat2Data/Diamonds:TotalPrice",
    }
    assert "dev-suite task modeldata/ames:Sale_Price" in found["modeldata/ames:Sale_Price"]


def test_a_malformed_suite_line_names_the_line(portfolio: ModuleType, tmp_path: Path) -> None:
    suite = tmp_path / "suite.txt"
    suite.write_text("# tasks\nMASS/Boston:medv  # fine\nBoston medv\n")
    with pytest.raises(ValueError, match=r"suite\.txt:3"):
        portfolio.parse_suite(suite)


def test_greedy_takes_the_config_best_on_most_tasks_then_its_complement(
    portfolio: ModuleType,
) -> None:
    table = REGRETS
    chosen = portfolio.greedy(table, ["middling", "niche", "broad"], 3)
    # "middling" has the second-best mean alone (0.3 vs 0.275) but adds little after
    # "broad"; "niche" covers the task "broad" misses; then nothing lowers the mean.
    assert chosen[:2] == ["broad", "niche"]
    assert portfolio.mean_best_regret(table, chosen[:2]) == pytest.approx(0.025)
    assert portfolio.greedy(table, ["middling", "niche", "broad"], 1) == ["broad"]
    assert portfolio.greedy({}, ["broad"], 3) == []


def test_greedy_from_a_start_keeps_it_and_adds_what_lowers_the_regret_most(
    portfolio: ModuleType,
) -> None:
    configs = ["middling", "niche", "broad"]
    # After "middling" (0.3 on every task), "broad" lowers the mean to 0.1, "niche" to 0.225.
    assert portfolio.greedy(REGRETS, configs, 3, start=["middling"]) == [
        "middling",
        "broad",
        "niche",
    ]
    assert portfolio.greedy(REGRETS, configs, 1, start=["middling"]) == ["middling"]
    # Judged on the whole list, held out: below the start's own mean regret of 0.3.
    held_out = portfolio.held_out_regret(REGRETS, configs, 3, first=3, folds=4, start=["middling"])
    assert held_out < 0.3


def test_held_out_regret_scores_each_task_under_a_list_chosen_without_it(
    portfolio: ModuleType,
) -> None:
    table = REGRETS
    configs = ["middling", "niche", "broad"]
    # Leave one task out: without t1, t2 or t3, "middling" leads the other three (0.3 against
    # 0.33 to 0.37 for "broad"); without t4, "broad". So 0.3, 0.3, 0.3 and then t4's 1.0.
    assert portfolio.held_out_regret(table, configs, 1, first=1, folds=4) == pytest.approx(0.475)
    # Lists of two judged by their first only: the same; by both: lower.
    assert portfolio.held_out_regret(table, configs, 2, first=1, folds=4) == pytest.approx(0.475)
    assert portfolio.held_out_regret(table, configs, 2, first=2, folds=4) < 0.475
    assert portfolio.mean_best_regret(table, portfolio.greedy(table, configs, 1)) == 0.275
    assert portfolio.held_out_regret({"t1": table["t1"]}, configs, 1, first=1) is None


def test_a_list_that_does_not_beat_the_hand_written_on_held_out_tasks_is_not_written(
    portfolio: ModuleType,
) -> None:
    pool = [portfolio.Config("lightgbm", {"num_leaves": n}, "sampled") for n in (7, 31)]

    def choice(held_out: float | None) -> object:
        return portfolio.Choice(
            key="binary",
            configs=pool,
            tasks=10,
            defaults_regret=0.02,
            defaults_first_regret=0.05,
            learned_regret=0.001,  # in sample: always flattering
            learned_first_regret=0.01,
            learned_held_out_regret=held_out,
        )

    assert choice(0.01).configs_written() == [{"num_leaves": 7}, {"num_leaves": 31}]
    assert choice(None).kept  # too few tasks to hold any out
    beaten = choice(0.02)
    assert not beaten.kept
    assert beaten.configs_written() == []  # the hand-written configurations stay
    assert beaten.summary()["kept"] is False


def test_a_configuration_much_slower_than_the_hand_written_first_is_not_chosen(
    portfolio: ModuleType,
) -> None:
    first = portfolio.Config("lightgbm", {}, "default")
    slow = portfolio.Config("lightgbm", {"learning_rate": 0.01}, "sampled")
    quick = portfolio.Config("lightgbm", {"num_leaves": 7}, "sampled")
    baseline = portfolio.baseline_config()
    records = {}
    for task, scores in {"t1": (0.80, 0.90, 0.85), "t2": (0.70, 0.80, 0.75)}.items():
        for config, score, seconds in zip(
            (first, slow, quick), scores, (1.0, 5.0, 1.5), strict=True
        ):
            records[(task, config.id)] = {
                "score": score,
                "seconds": seconds,
                "problem_type": "binary",
            }
        records[(task, baseline.id)] = {"score": 0.5, "seconds": 0.0, "problem_type": "binary"}
    pool = [first, slow, quick]
    assert portfolio.affordable(records, ["t1", "t2"], pool, 2.0) == [first.id, quick.id]
    assert portfolio.affordable(records, ["t1", "t2"], pool, None) == [c.id for c in pool]
    timed, _ = portfolio.choose(records, ["t1", "t2"], pool, key="binary", size=1, max_slowdown=2.0)
    untimed, _ = portfolio.choose(records, ["t1", "t2"], pool, key="binary", size=1)
    assert [c.id for c in untimed.configs] == [slow.id]  # the best score, 5x the time
    assert [c.id for c in timed.configs] == [quick.id]


def test_regret_runs_from_the_task_best_to_the_constant_baseline(portfolio: ModuleType) -> None:
    base = portfolio.baseline_config().id

    def trial(task: str, config: str, problem_type: str, score: float | None) -> dict:  # type: ignore[type-arg]
        return {"problem_type": problem_type, "score": score, "task": task, "config": config}

    records = {
        ("auc", base): trial("auc", base, "binary", 0.5),
        ("auc", "a"): trial("auc", "a", "binary", 0.9),
        ("auc", "b"): trial("auc", "b", "binary", 0.7),
        ("rmse", base): trial("rmse", base, "regression", 10.0),
        ("rmse", "a"): trial("rmse", "a", "regression", 12.0),  # worse than the constant
        ("rmse", "b"): trial("rmse", "b", "regression", None),  # failed
        ("short", base): trial("short", base, "binary", 0.5),
        ("short", "a"): trial("short", "a", "binary", 0.8),
    }
    table, left_out = portfolio.regrets(records, ["auc", "rmse", "short"], ["a", "b"])
    assert table["auc"] == pytest.approx({"a": 0.0, "b": 0.5})
    assert left_out == ["rmse: nothing beats the constant baseline", "short: incomplete"]


def run_script(portfolio: ModuleType, tmp_path: Path, *extra: str) -> dict:  # type: ignore[type-arg]
    suite = tmp_path / "suite.txt"
    suite.write_text("MASS/Pima.te:type\nsklearn/diabetes:target\nsklearn/no_such_set:target\n")
    code = portfolio.main(
        [
            "--suite",
            str(suite),
            "--families",
            "linear",
            "--samples",
            "1",
            "--folds",
            "2",
            "--min-tasks",
            "1",
            "--cache",
            str(tmp_path / "trials.jsonl"),
            "--out",
            str(tmp_path / "portfolio.json"),
            *extra,
        ]
    )
    assert code == 0
    return json.loads((tmp_path / "portfolio.json").read_text())  # type: ignore[no-any-return]


def test_the_script_learns_a_portfolio_caches_its_trials_and_resumes(
    portfolio: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Lists that replace the hand-written configurations: written whatever they add.
    learned = run_script(portfolio, tmp_path, "--replace-hand-written")
    err = capsys.readouterr().err
    assert "skip sklearn/no_such_set:target: scikit-learn bundles no data set" in err
    assert learned["meta"]["skipped"] == {
        "sklearn/no_such_set:target": "scikit-learn bundles no data set named 'no_such_set'"
    }
    assert learned["meta"]["tasks"]["binary"] == ["MASS/Pima.te:type"]
    assert learned["meta"]["folds"] == 2
    # A list per problem type with tasks; linear's binary and regression candidates differ
    # (C, alpha), so no shared list serves the multiclass type that had none.
    assert set(learned["families"]["linear"]) == {"binary", "regression"}
    assert "C" in learned["families"]["linear"]["binary"][0]
    assert "alpha" in learned["families"]["linear"]["regression"][0]
    report = learned["meta"]["report"]["linear"]["binary"]["mean_regret"]
    assert report["learned"] <= report["hand_written"]
    assert report["learned_held_out"] is None  # one binary task: nothing to hold out
    trials = [json.loads(line) for line in (tmp_path / "trials.jsonl").read_text().splitlines()]
    assert len(trials) == 2 * 3  # two tasks x (the baseline and two configurations)
    assert {t["status"] for t in trials} == {"ok"}
    assert all(len(t["fold_scores"]) == 2 for t in trials)

    # every trial comes from the cache
    again = run_script(portfolio, tmp_path, "--replace-hand-written")
    assert len((tmp_path / "trials.jsonl").read_text().splitlines()) == len(trials)
    assert again["families"] == learned["families"]
    run_script(portfolio, tmp_path, "--seed", "1")  # another setup: its own trials
    assert len((tmp_path / "trials.jsonl").read_text().splitlines()) == 2 * len(trials)


def test_the_script_refuses_a_dev_suite_task(
    portfolio: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = tmp_path / "suite.txt"
    suite.write_text("modeldata/concrete:compressive_strength\n")
    assert portfolio.main(["--suite", str(suite), "--out", str(tmp_path / "p.json")]) == 2
    assert "dev-suite task" in capsys.readouterr().err
    assert not (tmp_path / "p.json").exists()


def write_portfolio(path: Path) -> Path:
    families = {
        "lightgbm": {"binary": [{"num_leaves": 7}, {"num_leaves": 31}]},
        "random_forest": {"any": [{"max_features": 0.3, "min_samples_leaf": 4}]},
    }
    path.write_text(json.dumps({"meta": {}, "families": families}))
    return path


def test_a_learned_portfolio_leads_the_family_default_configs(tmp_path: Path) -> None:
    with use_portfolio(None):
        hand_written = {
            "lightgbm": LightGBM.default_configs(REGRESSION, 1000),
            "linear": Linear.default_configs(BINARY, 1000),
        }
    with use_portfolio(write_portfolio(tmp_path / "portfolio.json")):
        assert LightGBM.default_configs(BINARY, 1000) == [{"num_leaves": 7}, {"num_leaves": 31}]
        # No list for the problem type or the family: the hand-written configurations.
        assert LightGBM.default_configs(REGRESSION, 1000) == hand_written["lightgbm"]
        assert Linear.default_configs(BINARY, 1000) == hand_written["linear"]
        # The shared list, with the forest's row sample added for this task's rows.
        big = RandomForest.default_configs(REGRESSION, 10_000_000)
        assert big[0]["max_features"] == 0.3
        assert 0 < big[0]["max_samples"] < 1
        assert RandomForest.default_configs(BINARY, 500) == [
            {"max_features": 0.3, "min_samples_leaf": 4}
        ]


def test_an_empty_list_keeps_the_hand_written_configurations_over_a_shared_one(
    tmp_path: Path,
) -> None:
    with use_portfolio(None):
        hand_written = LightGBM.default_configs(BINARY, 1000)
    families = {"lightgbm": {"binary": [], "any": [{"num_leaves": 7}]}}
    with use_portfolio(families):
        assert LightGBM.default_configs(BINARY, 1000) == hand_written
        assert LightGBM.default_configs(REGRESSION, 1000) == [{"num_leaves": 7}]


def test_without_a_portfolio_file_default_configs_are_the_hand_written_ones(
    tmp_path: Path,
) -> None:
    with use_portfolio(None):
        expected = LightGBM.default_configs(BINARY, 1000)
        forest = RandomForest.default_configs(BINARY, 10_000_000)
    assert expected[0] == {}
    assert forest[0]["max_features"] == "sqrt"
    with use_portfolio(tmp_path / "absent.json"):
        assert LightGBM.default_configs(BINARY, 1000) == expected
        assert RandomForest.default_configs(BINARY, 10_000_000) == forest
    if not PORTFOLIO_FILE.exists():  # the repository ships none until one is measured
        assert LightGBM.default_configs(BINARY, 1000) == expected


def test_a_damaged_portfolio_file_is_an_artifact_error(tmp_path: Path) -> None:
    damaged = tmp_path / "portfolio.json"
    damaged.write_text(json.dumps({"families": {"lightgbm": {"binary": [3]}}}))
    with use_portfolio(damaged), pytest.raises(ArtifactError, match="cannot be read"):
        LightGBM.default_configs(BINARY, 1000)


def test_a_run_inside_use_portfolio_starts_from_the_learned_configurations(
    tmp_path: Path,
) -> None:
    """What the benchmark's mlwright-learned relies on: the search, wherever it asks for
    default configurations, sees the portfolio of the block the run started in."""
    import mlwright
    from synth import make_frame

    with use_portfolio(write_portfolio(tmp_path / "portfolio.json")):
        model = mlwright.fit(
            make_frame("binary", n=300, seed=0),
            target="y",
            learners=["lightgbm"],
            max_trials=2,
            folds=2,
            time_budget=60,
            progress=False,
        )
    rows = {r["model"]: r for r in model.metadata["leaderboard"]}
    assert rows["lightgbm_1"]["params"]["num_leaves"] == 7
    assert rows["lightgbm_2"]["params"]["num_leaves"] == 31


def synthetic_records(
    portfolio: ModuleType, scores: dict[str, list[tuple[object, float]]]
) -> dict[tuple[str, str], dict[str, object]]:
    """Trial records of binary tasks (AUC per configuration, 1 s each) beside the baseline."""
    records: dict[tuple[str, str], dict[str, object]] = {}
    for task, by_config in scores.items():
        records[(task, portfolio.baseline_config().id)] = {
            "score": 0.5,
            "seconds": 0.0,
            "problem_type": "binary",
        }
        for config, score in by_config:
            records[(task, config.id)] = {  # type: ignore[attr-defined]
                "score": score,
                "seconds": 1.0,
                "problem_type": "binary",
            }
    return records


def test_a_list_after_the_hand_written_starts_with_them_and_is_judged_whole(
    portfolio: ModuleType,
) -> None:
    hand = [portfolio.Config("lightgbm", {}, "default")]
    strong = portfolio.Config("lightgbm", {"num_leaves": 7}, "sampled")
    useless = portfolio.Config("lightgbm", {"num_leaves": 255}, "sampled")
    pool = [*hand, strong, useless]
    # "strong" beats the hand-written configuration on every task, "useless" on none.
    records = synthetic_records(
        portfolio,
        {f"t{i}": [(hand[0], 0.80), (strong, 0.85 + 0.01 * i), (useless, 0.70)] for i in range(5)},
    )
    tasks = [f"t{i}" for i in range(5)]
    after, _ = portfolio.choose(records, tasks, pool, key="binary", size=3, after_hand_written=True)
    replacing, _ = portfolio.choose(records, tasks, pool, key="binary", size=3)
    assert [c.id for c in after.configs] == [hand[0].id, strong.id]
    assert [c.id for c in replacing.configs] == [strong.id]
    assert after.judged == 3
    assert replacing.judged == 1
    assert after.kept
    assert after.configs_written() == [{}, {"num_leaves": 7}]
    assert after.summary()["held_out_judges_first"] == 3
    # Nothing beyond the hand-written configuration lowers the regret: no list at all.
    none, _ = portfolio.choose(
        records, tasks, [*hand, useless], key="binary", size=3, after_hand_written=True
    )
    assert none is None


def test_no_shared_list_follows_hand_written_configurations_that_differ_by_type(
    portfolio: ModuleType,
) -> None:
    sampled = portfolio.Config("random_forest", {"max_depth": 6}, "sampled")
    pools = {
        p: [portfolio.Config("random_forest", {"max_features": mf}, "default"), sampled]
        for p, mf in (("binary", "sqrt"), ("multiclass", "sqrt"), ("regression", 1.0))
    }
    records = synthetic_records(
        portfolio, {f"t{i}": [(pools["binary"][0], 0.8), (sampled, 0.9)] for i in range(3)}
    )
    by_type = {"binary": ["t0", "t1", "t2"], "multiclass": [], "regression": []}
    selection = portfolio.Selection(size=4, min_tasks=3)
    choices, _ = portfolio.select_family(records, by_type, pools, selection)
    assert [c.key for c in choices] == ["binary"]  # regression's hand-written one differs
    replacing = portfolio.Selection(size=4, min_tasks=3, after_hand_written=False)
    choices, _ = portfolio.select_family(records, by_type, pools, replacing)
    assert [c.key for c in choices] == ["binary", portfolio.SHARED]
