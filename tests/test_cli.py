"""The ``mlwright`` command on bad input: the documented exit code, a message on stderr that
names the problem and says how to fix it, and never a traceback.

Every test runs the installed console script in a subprocess on real files.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from clirun import MLWRIGHT, assert_clean_failure, cli_env, mlwright
from mlwright import __version__
from mlwright.errors import (
    ArtifactError,
    DataCheckError,
    DataError,
    RegistryError,
    SchemaMismatchError,
    SpecError,
)
from synth import make_frame

ROOT = Path(__file__).resolve().parents[1]


def write_spec(path: Path, *, data: str = "data.csv", target: str = "y", extra: str = "") -> Path:
    path.write_text(
        f'[data]\npath = "{data}"\n\n[task]\ntarget = "{target}"\n{extra}', encoding="utf-8"
    )
    return path


@pytest.fixture
def data_csv(tmp_path: Path) -> Path:
    path = tmp_path / "data.csv"
    make_frame("binary", n=300, seed=3).write_csv(path)
    return path


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small artifact trained once by `mlwright run` for the predict tests (not registered)."""
    root = tmp_path_factory.mktemp("model")
    make_frame("binary", n=400, seed=1).write_csv(root / "data.csv")
    spec = write_spec(
        root / "spec.toml",
        extra='\n[validation]\nfolds = 3\n\n[search]\nlearners = ["linear"]\n',
    )
    result = mlwright("run", spec, "--max-trials", "1", "--no-register", "-q", cwd=root)
    assert result.code == 0, str(result)
    assert (root / "models" / "y" / "manifest.json").is_file(), str(result)
    return root / "models" / "y"


@pytest.fixture
def scoring_frame() -> pl.DataFrame:
    return make_frame("binary", n=50, seed=7).drop("y")


# -- version ------------------------------------------------------------------------------------


def test_version_is_printed(tmp_path: Path) -> None:
    result = mlwright("--version", cwd=tmp_path)
    assert result.code == 0, str(result)
    assert result.stdout.strip() == f"mlwright {__version__}"


def test_python_dash_m_runs_the_same_command(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "mlwright", "--version"],
        cwd=tmp_path,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"mlwright {__version__}"


# -- data files ---------------------------------------------------------------------------------


def test_init_on_a_missing_data_file(tmp_path: Path) -> None:
    result = mlwright("init", "nowhere.csv", "--target", "y", cwd=tmp_path)
    assert_clean_failure(result, DataError.exit_code, "data file not found", "nowhere.csv")
    assert not (tmp_path / "mlwright.toml").exists()


def test_run_on_a_spec_whose_data_file_is_missing(tmp_path: Path) -> None:
    spec = write_spec(tmp_path / "spec.toml", data="gone.csv")
    result = mlwright("run", spec, "-q", cwd=tmp_path)
    assert_clean_failure(result, DataError.exit_code, "data file not found", "gone.csv")
    assert not (tmp_path / "models").exists()
    assert not (tmp_path / "mlflow.db").exists()


def test_unparseable_csv(tmp_path: Path) -> None:
    (tmp_path / "data.csv").write_text('a,y\n1,x\n"2,y\n3,x,extra,fields\n', encoding="utf-8")
    write_spec(tmp_path / "spec.toml")
    result = mlwright("check", "spec.toml", cwd=tmp_path)
    assert_clean_failure(result, DataError.exit_code, "could not read", "data.csv", "CSV")


@pytest.mark.parametrize(
    ("content", "needle"),
    [("", "is empty"), ("num,y\n", "has no rows")],
    ids=["zero-bytes", "header-only"],
)
def test_empty_table(tmp_path: Path, content: str, needle: str) -> None:
    (tmp_path / "data.csv").write_text(content, encoding="utf-8")
    result = mlwright("init", "data.csv", "--target", "y", cwd=tmp_path)
    assert_clean_failure(result, DataError.exit_code, "data.csv", needle)


# -- the target ---------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["init", "check"])
def test_target_that_does_not_exist_suggests_the_closest_column(
    tmp_path: Path, command: str
) -> None:
    make_frame("binary", n=100).rename({"y": "churn"}).write_csv(tmp_path / "data.csv")
    if command == "init":
        result = mlwright("init", "data.csv", "--target", "Churn", cwd=tmp_path)
    else:
        write_spec(tmp_path / "spec.toml", target="Churn")
        result = mlwright("check", "spec.toml", cwd=tmp_path)
    assert_clean_failure(
        result,
        SpecError.exit_code,
        "target column 'Churn' not found",
        "did you mean 'churn'?",
        "columns are: num, count, plan",
        "task.target",
    )


def test_target_with_one_class(tmp_path: Path) -> None:
    make_frame("binary", n=100).with_columns(y=pl.lit("no")).write_csv(tmp_path / "data.csv")
    write_spec(tmp_path / "spec.toml")
    result = mlwright("run", "spec.toml", "-q", cwd=tmp_path)
    assert_clean_failure(result, DataError.exit_code, "target 'y'", "1 distinct value", "'no'")
    assert not (tmp_path / "models").exists()


# -- the spec -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "needles"),
    [
        (
            "seeed = 1\n",
            ["'task.seeed' is not a spec field", "fields allowed in [task]:", "target"],
        ),
        (
            "\n[validation]\nfold = 3\n",
            [
                "'validation.fold' is not a spec field",
                "did you mean 'folds'?",
                "fields allowed in [validation]: strategy, folds, holdout",
            ],
        ),
        (
            "\n[serach]\nlearners = []\n",
            ["'serach' is not a spec field", "did you mean 'search'?", "the top level"],
        ),
        (
            "\n[constraints]\ntime_budgte = 60\n",
            ["'constraints.time_budgte'", "did you mean 'time_budget'?", "[constraints]"],
        ),
    ],
    ids=["task-field", "validation-field", "section", "constraints-field"],
)
def test_spec_with_an_unknown_field(
    tmp_path: Path, data_csv: Path, extra: str, needles: list[str]
) -> None:
    spec = write_spec(tmp_path / "spec.toml", extra=extra)
    for command in ("spec", "run"):
        result = mlwright(command, spec, cwd=tmp_path)
        assert_clean_failure(result, SpecError.exit_code, "invalid spec (", "spec.toml", *needles)
    assert not (tmp_path / "models").exists()


def test_spec_with_a_mistyped_required_field(tmp_path: Path, data_csv: Path) -> None:
    (tmp_path / "spec.toml").write_text(
        '[data]\npath = "data.csv"\n\n[task]\ntargt = "y"\n', encoding="utf-8"
    )
    result = mlwright("spec", "spec.toml", cwd=tmp_path)
    assert_clean_failure(
        result,
        SpecError.exit_code,
        "'task.target' is required",
        "'task.targt' is not a spec field (did you mean 'target'?)",
        "add `target = ...` under [task]",
    )


def test_spec_that_is_not_toml(tmp_path: Path, data_csv: Path) -> None:
    (tmp_path / "spec.toml").write_text(
        '[data]\npath = "data.csv"\n[task\ntarget = "y"\n', encoding="utf-8"
    )
    result = mlwright("check", "spec.toml", cwd=tmp_path)
    assert_clean_failure(
        result, SpecError.exit_code, "spec file spec.toml is not valid TOML", "line 3"
    )


def test_spec_file_that_does_not_exist(tmp_path: Path) -> None:
    result = mlwright("spec", "absent.toml", "--show", cwd=tmp_path)
    assert_clean_failure(result, SpecError.exit_code, "spec file not found: absent.toml", "init")


def test_bad_time_budget_override(tmp_path: Path, data_csv: Path) -> None:
    spec = write_spec(tmp_path / "spec.toml")
    result = mlwright("run", spec, "--time-budget", "soon", cwd=tmp_path)
    assert_clean_failure(
        result, SpecError.exit_code, "constraints.time_budget", "'soon'", "'90s'", fix=False
    )


def test_init_refuses_to_overwrite_without_force(tmp_path: Path, data_csv: Path) -> None:
    existing = tmp_path / "spec.toml"
    existing.write_text("# my hand-edited spec\n", encoding="utf-8")
    result = mlwright("init", data_csv, "--target", "y", "-o", existing, cwd=tmp_path)
    assert_clean_failure(result, SpecError.exit_code, "spec.toml exists already", "--force")
    assert existing.read_text(encoding="utf-8") == "# my hand-edited spec\n"

    forced = mlwright("init", data_csv, "--target", "y", "-o", existing, "--force", cwd=tmp_path)
    assert forced.code == 0, str(forced)
    assert existing.read_text(encoding="utf-8").startswith("# mlwright task spec for data.csv")


# -- blocking data-check findings ---------------------------------------------------------------


@pytest.fixture
def leaky_spec(tmp_path: Path) -> Path:
    frame = make_frame("binary", n=300, seed=2)
    frame.with_columns(y_copy=pl.col("y")).write_csv(tmp_path / "data.csv")
    return write_spec(tmp_path / "spec.toml")


FINDING = "leakage.single_feature:y_copy"


def test_check_stops_on_a_column_equal_to_the_target(leaky_spec: Path) -> None:
    result = mlwright("check", leaky_spec, cwd=leaky_spec.parent)
    assert_clean_failure(
        result, DataCheckError.exit_code, f"[{FINDING}]", "'y_copy'", "checks.allow"
    )
    assert DataCheckError.exit_code == 4
    # The report itself is still printed, the finding marked blocking.
    assert "blocking" in result.stdout
    assert FINDING in result.stdout


def test_check_json_keeps_stdout_pure_json_on_a_blocking_finding(leaky_spec: Path) -> None:
    import json

    result = mlwright("check", leaky_spec, "--json", cwd=leaky_spec.parent)
    assert result.code == DataCheckError.exit_code, str(result)
    report = json.loads(result.stdout)
    assert report["blocking"] == [FINDING]
    assert FINDING in result.stderr


def test_run_stops_on_a_column_equal_to_the_target(leaky_spec: Path) -> None:
    result = mlwright("run", leaky_spec, "-q", cwd=leaky_spec.parent)
    assert_clean_failure(
        result,
        DataCheckError.exit_code,
        "blocking data-check finding",
        f"[{FINDING}]",
        "'y_copy'",
        f"checks.allow = ['{FINDING}']",
    )
    assert not (leaky_spec.parent / "models").exists()
    assert not (leaky_spec.parent / "mlflow.db").exists()


def test_checks_allow_accepts_the_finding(leaky_spec: Path) -> None:
    write_spec(leaky_spec, extra=f'\n[checks]\nallow = ["{FINDING}"]\n')
    result = mlwright("check", leaky_spec, cwd=leaky_spec.parent)
    assert result.code == 0, str(result)
    assert "blocking (allowed)" in result.stdout
    assert "Traceback" not in result.output


# -- predict: input that does not match the model -----------------------------------------------


def test_predict_file_lacking_columns(
    tmp_path: Path, model_dir: Path, scoring_frame: pl.DataFrame
) -> None:
    scoring_frame.drop("count", "plan").write_csv(tmp_path / "score.csv")
    result = mlwright("predict", model_dir, "score.csv", "-o", "out.csv", cwd=tmp_path)
    assert_clean_failure(
        result, SchemaMismatchError.exit_code, "missing", "count", "plan", "same columns"
    )
    assert not (tmp_path / "out.csv").exists()


def test_predict_file_whose_column_type_changed(
    tmp_path: Path, model_dir: Path, scoring_frame: pl.DataFrame
) -> None:
    text = pl.when(pl.col("count") > 10).then(pl.lit("many")).otherwise(pl.col("count").cast(str))
    scoring_frame.with_columns(count=text).write_csv(tmp_path / "score.csv")
    result = mlwright("predict", model_dir, "score.csv", "-o", "out.csv", cwd=tmp_path)
    assert_clean_failure(result, SchemaMismatchError.exit_code, "column 'count'", "numeric")
    assert not (tmp_path / "out.csv").exists()


def test_predict_on_a_missing_data_file(tmp_path: Path, model_dir: Path) -> None:
    result = mlwright("predict", model_dir, "absent.csv", "-o", "out.csv", cwd=tmp_path)
    assert_clean_failure(result, DataError.exit_code, "data file not found", "absent.csv")


def test_predict_to_an_unknown_output_format(
    tmp_path: Path, model_dir: Path, scoring_frame: pl.DataFrame
) -> None:
    scoring_frame.write_csv(tmp_path / "score.csv")
    result = mlwright("predict", model_dir, "score.csv", "-o", "out.xlsx", cwd=tmp_path)
    assert_clean_failure(result, DataError.exit_code, "'.xlsx'", ".parquet")


def test_predict_refuses_k_for_a_table_model(
    tmp_path: Path, model_dir: Path, scoring_frame: pl.DataFrame
) -> None:
    scoring_frame.write_csv(tmp_path / "score.csv")
    result = mlwright("predict", model_dir, "score.csv", "-o", "out.csv", "--k", "5", cwd=tmp_path)
    assert_clean_failure(result, SpecError.exit_code, "--k applies to recommenders")
    assert not (tmp_path / "out.csv").exists()


def test_predict_scores_a_matching_file(
    tmp_path: Path, model_dir: Path, scoring_frame: pl.DataFrame
) -> None:
    """The control for the failures above: the same model and frame, untouched, score fine."""
    scoring_frame.write_csv(tmp_path / "score.csv")
    result = mlwright("predict", model_dir, "score.csv", "-o", "out.csv", cwd=tmp_path)
    assert result.code == 0, str(result)
    scored = pl.read_csv(tmp_path / "out.csv")
    assert scored.columns == ["prediction", "proba_no", "proba_yes"]
    assert scored.height == scoring_frame.height


# -- predict: artifacts and registry URIs that must be refused ----------------------------------


def _flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def test_tampered_learner_file_is_refused(
    tmp_path: Path, model_dir: Path, scoring_frame: pl.DataFrame
) -> None:
    artifact = tmp_path / "artifact"
    shutil.copytree(model_dir, artifact)
    learner_file = next(p for p in sorted((artifact / "learners").rglob("*")) if p.is_file())
    _flip_a_byte(learner_file)
    scoring_frame.write_csv(tmp_path / "score.csv")
    result = mlwright("predict", artifact, "score.csv", "-o", "out.csv", cwd=tmp_path)
    relative = learner_file.relative_to(artifact).as_posix()
    assert_clean_failure(
        result, ArtifactError.exit_code, f"file {relative}", "SHA-256", "tampered", "do not load"
    )
    assert not (tmp_path / "out.csv").exists()


@pytest.mark.parametrize("where", ["extra.json", "learners/extra.npz"])
def test_artifact_with_an_unknown_file_is_refused(
    tmp_path: Path, model_dir: Path, scoring_frame: pl.DataFrame, where: str
) -> None:
    artifact = tmp_path / "artifact"
    shutil.copytree(model_dir, artifact)
    (artifact / where).write_bytes(b"not part of the model")
    scoring_frame.write_csv(tmp_path / "score.csv")
    result = mlwright("predict", artifact, "score.csv", "-o", "out.csv", cwd=tmp_path)
    assert_clean_failure(
        result, ArtifactError.exit_code, "a file the manifest does not list", where
    )
    assert not (tmp_path / "out.csv").exists()


def test_predict_with_a_directory_that_is_not_an_artifact(tmp_path: Path, data_csv: Path) -> None:
    result = mlwright("predict", "nowhere", data_csv, "-o", "out.csv", cwd=tmp_path)
    assert_clean_failure(result, ArtifactError.exit_code, "no model at nowhere", "models:/")


@pytest.mark.parametrize(
    ("uri", "needle"),
    [
        ("models:/nosuch@champion", "no alias 'champion' of model 'nosuch'"),
        ("models:/nosuch/3", "no version 3 of model 'nosuch'"),
        ("models:/", "is not a model URI"),
    ],
)
def test_registry_uri_for_a_model_that_does_not_exist(
    tmp_path: Path, data_csv: Path, uri: str, needle: str
) -> None:
    from mlflow import MlflowClient

    store = f"sqlite:///{tmp_path / 'registry.db'}"
    MlflowClient(tracking_uri=store, registry_uri=store).search_registered_models()  # empty store
    result = mlwright(
        "predict", uri, data_csv, "-o", "out.csv", "--tracking-uri", store, cwd=tmp_path
    )
    assert_clean_failure(result, RegistryError.exit_code, needle)
    assert not (tmp_path / "out.csv").exists()


def test_registry_uri_without_a_store_creates_nothing(tmp_path: Path, data_csv: Path) -> None:
    result = mlwright("predict", "models:/churn@champion", data_csv, "-o", "out.csv", cwd=tmp_path)
    assert_clean_failure(result, RegistryError.exit_code, "no model registry at", "mlflow.db")
    assert not (tmp_path / "mlflow.db").exists()
    assert not (tmp_path / "out.csv").exists()
    assert not (tmp_path / "out.csv").exists()


# -- output for files and pipes -----------------------------------------------------------------


def redirected(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``mlwright ARGS`` with stdout and stderr going to pipes, as in ``mlwright ... > file``:
    no COLUMNS, so Rich would fall back to 80 columns (and wrap or cut) if it laid the
    output out for a terminal."""
    env = cli_env()
    env.pop("COLUMNS", None)
    return subprocess.run(
        [str(MLWRIGHT), *(str(a) for a in args)],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_spec_show_into_a_file_is_the_resolved_spec_as_toml(tmp_path: Path) -> None:
    import tomllib

    from mlwright.data import load_training_data
    from mlwright.spec import load_spec, resolve, spec_from_dict

    spec = ROOT / "examples" / "churn" / "spec.toml"
    shown = redirected("spec", spec, "--show", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    parsed = tomllib.loads(shown.stdout)  # long comments once wrapped into invalid TOML
    task = load_spec(spec)
    expected = resolve(task, load_training_data(task)).spec
    assert spec_from_dict(parsed).to_dict() == expected.to_dict()


def test_tables_written_to_a_pipe_are_whole(tmp_path: Path) -> None:
    reason = "a long column name that a narrow table would cut short"
    frame = make_frame("binary", n=300, seed=3).with_columns(
        pl.lit(1.0).alias(reason.replace(" ", "_"))
    )
    frame.write_csv(tmp_path / "data.csv")
    write_spec(tmp_path / "spec.toml")
    checked = redirected("check", "spec.toml", cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr
    assert "…" not in checked.stdout, checked.stdout
    assert reason.replace(" ", "_") in checked.stdout
    assert max(len(line) for line in checked.stdout.splitlines()) > 80


# -- names from the spec never leave the working directory --------------------------------------


@pytest.mark.parametrize(
    ("name", "folder"),
    [("../../evil", "evil"), ("/tmp/evil", "tmp_evil")],
    ids=["dot-dot", "absolute"],
)
def test_default_paths_from_a_hostile_name_stay_in_the_working_directory(
    tmp_path: Path, name: str, folder: str
) -> None:
    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    make_frame("binary", n=300, seed=3).write_csv(work / "data.csv")
    spec = write_spec(
        work / "spec.toml",
        extra='\n[validation]\nfolds = 3\n\n[search]\nlearners = ["linear", "lightgbm"]\n',
    )
    spec.write_text(f"name = {name!r}\n" + spec.read_text())
    before = {p for p in tmp_path.rglob("*")}
    ran = redirected("run", "spec.toml", "--max-trials", "2", "--no-register", cwd=work)
    assert ran.returncode == 0, ran.stderr
    reported = redirected("report", work / "models" / folder, cwd=work)
    assert reported.returncode == 0, reported.stderr
    written = {p for p in tmp_path.rglob("*")} - before
    assert written, "nothing was written"
    outside = [p for p in written if work not in p.parents]
    assert not outside, f"written outside the working directory: {outside}"
    assert (work / "models" / folder / "manifest.json").is_file()
    assert (work / f"{folder}_card.html").is_file()
    # The leaderboard in a pipe is whole: every model name, no cell cut short.
    assert "…" not in ran.stdout, ran.stdout
    assert "lightgbm" in ran.stdout
    assert "linear" in ran.stdout


# -- a user's mistake is never an internal error (exit 70) --------------------------------------

README = ROOT / "README.md"


def documented_exit_codes() -> dict[int, str]:
    """The README's exit-code table: code -> meaning."""
    rows = re.findall(r"^\| (\d+) \| (.+) \|$", README.read_text(), flags=re.MULTILINE)
    return {int(code): meaning for code, meaning in rows}


@pytest.fixture(scope="module")
def recommender_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from mlwright.recommend import save_recommender
    from recsynth import quick_recommender

    root = tmp_path_factory.mktemp("recommender")
    return save_recommender(quick_recommender(), root / "rec")


MISTAKES: list[tuple[str, list[str], int, str]] = [
    ("predict -o a directory", ["predict", "MODEL", "data.csv", "-o", "outdir"], 3, "directory"),
    (
        "predict -o below a file",
        ["predict", "MODEL", "data.csv", "-o", "data.csv/p.csv"],
        3,
        "cannot write",
    ),
    ("report --out a directory", ["report", "MODEL", "--out", "outdir"], 2, "directory"),
    ("report --out a directory.html", ["report", "MODEL", "--out", "x.html"], 2, "directory"),
    (
        "report --out below a file",
        ["report", "MODEL", "--out", "data.csv/card.html"],
        2,
        "cannot write",
    ),
    (
        "init --output a directory",
        ["init", "data.csv", "-t", "y", "-o", "outdir", "--force"],
        2,
        "directory",
    ),
    ("spec on a directory", ["spec", "outdir"], 2, "is a directory"),
    ("check on a directory", ["check", "outdir"], 2, "is a directory"),
    ("monitor --out a file", ["monitor", "MODEL", "--out", "data.csv"], 2, "is a file"),
    ("monitor --window 0s", ["monitor", "MODEL", "--window", "0s"], 2, "--window"),
    ("monitor a recommender", ["monitor", "REC"], 2, "mlwright monitor"),
    ("feedback to a recommender", ["feedback", "REC", "data.csv"], 2, "mlwright feedback"),
]


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [m[1:] for m in MISTAKES],
    ids=[m[0] for m in MISTAKES],
)
def test_user_mistakes_exit_with_their_documented_code(
    *,
    tmp_path: Path,
    model_dir: Path,
    recommender_dir: Path,
    data_csv: Path,
    args: list[str],
    code: int,
    needle: str,
) -> None:
    (tmp_path / "outdir").mkdir()
    (tmp_path / "x.html").mkdir()
    refs = {"MODEL": str(model_dir), "REC": str(recommender_dir)}
    result = mlwright(*(refs.get(a, a) for a in args), cwd=tmp_path)
    assert result.code != 70, str(result)
    assert code in documented_exit_codes(), f"exit code {code} is not in the README's table"
    assert_clean_failure(result, code, needle)


def test_one_writer_names_the_option_or_the_path_it_cannot_write(tmp_path: Path) -> None:
    """The commands' files (`--out`, `--output`) and predict's table go through one writer:
    a path below a file is the caller's error, naming the option when one gave the path."""
    from mlwright.pipeline import write_output

    blocker = tmp_path / "data.csv"
    blocker.write_text("x\n")
    target = blocker / "card.html"
    with pytest.raises(SpecError) as by_option:
        write_output(target, lambda: target.write_text("y"), option="--out", error=SpecError)
    assert by_option.value.message.startswith(f"cannot write --out {target}: ")
    assert by_option.value.field == "--out"
    with pytest.raises(DataError) as by_path:
        write_output(target, lambda: target.write_text("y"))
    assert by_path.value.message.startswith(f"cannot write {target}: ")
    assert by_path.value.field == str(target)
    assert (
        by_path.value.hint == by_option.value.hint == "choose a path in a folder you can write to"
    )


def test_the_readme_documents_every_exit_code_of_the_error_classes() -> None:
    from mlwright import errors

    documented = documented_exit_codes()
    classes = [
        c
        for c in vars(errors).values()
        if isinstance(c, type) and issubclass(c, errors.MlwrightError)
    ]
    for cls in classes:
        assert cls.exit_code in documented, cls.__name__
    for code in (0, 1, 2, 70, 130, 143):  # success, not promoted/alert, usage, bug, signals
        assert code in documented, code


# -- recommendation specs -------------------------------------------------------------------------


def test_spec_shows_a_recommendation_spec(tmp_path: Path) -> None:
    import tomllib

    from recsynth import interaction_log

    interaction_log().write_csv(tmp_path / "log.csv")
    (tmp_path / "spec.toml").write_text(
        '[data]\npath = "log.csv"\n\n[task]\nproblem_type = "recommendation"\n'
        'user = "user"\nitem = "item"\ntime = "time"\n'
    )
    checked = mlwright("spec", "spec.toml", cwd=tmp_path)
    assert checked.code == 0, str(checked)
    assert "is a valid spec" in checked.stdout
    shown = redirected("spec", "spec.toml", "--show", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    task = tomllib.loads(shown.stdout)["task"]
    assert task["problem_type"] == "recommendation"
    assert (task["user"], task["metric"]) == ("user", "ndcg")
    (tmp_path / "spec.toml").write_text(
        (tmp_path / "spec.toml").read_text().replace('user = "user"', 'user = "User"')
    )
    wrong = mlwright("spec", "spec.toml", cwd=tmp_path)
    assert_clean_failure(wrong, SpecError.exit_code, "user column 'User'", "did you mean 'user'?")
